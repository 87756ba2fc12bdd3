//! Spawning services in-process on port 0 and talking to them as a client would.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use shop_kit::Service;
use shop_kit::auth::{GeneratedKeys, Role, TokenSigner};
use shop_kit::shutdown::Stop;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

/// A service running in this process; stopping it drains like a SIGTERM would.
pub struct RunningService {
    /// Where clients call it (gRPC, or HTTP for the BFF).
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl RunningService {
    /// Builds `S` from `config` (port 0 picks free ports) and runs it as its binary would,
    /// until [`RunningService::stop`] or drop.
    pub async fn start<S: Service>(config: S::Config) -> anyhow::Result<Self> {
        crate::init_tracing();
        let process = S::build(config)
            .await
            .with_context(|| format!("building {}", S::NAME))?;
        Ok(Self::spawn(process.addr(), process.admin_addr(), |stop| {
            process.run(Stop::on(stop))
        }))
    }

    /// Spawns `run(shutdown)`; `run` must serve on the given (already bound) addresses until
    /// `shutdown` resolves.
    pub fn spawn<F>(
        addr: SocketAddr,
        admin_addr: SocketAddr,
        run: impl FnOnce(futures::future::BoxFuture<'static, ()>) -> F,
    ) -> Self
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        crate::init_tracing();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(run(shutdown));
        Self {
            addr,
            admin_addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A channel to the service, once its health check says SERVING.
    pub async fn channel(&self) -> anyhow::Result<Channel> {
        connect(self.addr).await
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }

    /// Stops the service and waits until it has drained; returns how `run` ended.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.context("service task panicked")?,
            None => Ok(()),
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Connects to `addr` and waits (deadline 20 s) until grpc.health.v1 reports SERVING.
pub async fn connect(addr: SocketAddr) -> anyhow::Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    let channel = wait_until(Duration::from_secs(20), "service to report SERVING", || {
        let endpoint = endpoint.clone();
        async move {
            let channel = endpoint.connect().await.ok()?;
            let status = HealthClient::new(channel.clone())
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await
                .ok()?
                .into_inner()
                .status;
            (status == ServingStatus::Serving as i32).then_some(channel)
        }
    })
    .await?;
    Ok(channel)
}

/// Polls `probe` every 20 ms until it yields `Some`, or fails after `deadline` naming `what`.
pub async fn wait_until<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut probe: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if started.elapsed() > deadline {
            anyhow::bail!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where a service under test listens (free loopback ports) and the key it trusts (the
/// test process's, see [`keys`] and [`token_for`]).
pub fn test_host() -> shop_kit::server::HostConfig {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    shop_kit::server::HostConfig {
        grpc_addr: any_port,
        admin_addr: any_port,
        jwt_public_key_pem: Some(keys().public_pem.clone()),
        jwt_public_key_file: None,
    }
}

/// The test process's Ed25519 key pair: give its PEMs to the services under test.
pub fn keys() -> &'static GeneratedKeys {
    static KEYS: OnceLock<GeneratedKeys> = OnceLock::new();
    KEYS.get_or_init(|| shop_kit::auth::generate_keys().expect("generating a test key pair"))
}

/// An access token for `user_id` signed with [`keys`], as the User service would issue it.
pub fn token_for(user_id: &str, role: Role) -> String {
    let signer = TokenSigner::from_pem(&keys().private_pem, Duration::from_secs(600))
        .expect("the test key pair is valid");
    signer
        .sign(user_id, &format!("{user_id}@test.shopmesh.dev"), role)
        .expect("signing a test token")
}

/// Wraps `message` in a request carrying `authorization: Bearer <token>`.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = format!("Bearer {token}").parse() {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A plain HTTP/1.0 GET returning (status, body): enough for `/metrics` and `/readyz`
/// without pulling an HTTP client into every test binary.
pub async fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .context("malformed HTTP response")?;
    Ok((status, body.to_owned()))
}

/// The services a server lists over reflection v1alpha (what grpcurl 1.8 uses).
pub async fn reflected_services(channel: Channel) -> anyhow::Result<Vec<String>> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let mut names = Vec::new();
    while let Some(response) = responses.message().await? {
        if let Some(MessageResponse::ListServicesResponse(list)) = response.message_response {
            names.extend(list.service.into_iter().map(|service| service.name));
        }
    }
    names.sort();
    Ok(names)
}

/// Asserts that the server lists every one of `expected` over reflection v1alpha.
pub async fn assert_reflects(channel: Channel, expected: &[&str]) {
    let services = reflected_services(channel)
        .await
        .expect("reflection v1alpha");
    for name in expected {
        assert!(
            services.iter().any(|service| service == name),
            "{name} in {services:?}"
        );
    }
}

/// Whether the server's reflection (v1alpha, what grpcurl 1.8 speaks) can describe
/// `symbol`, e.g. `google.rpc.BadRequest`.
pub async fn reflection_knows(channel: Channel, symbol: &str) -> anyhow::Result<bool> {
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::FileContainingSymbol(symbol.to_owned())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(tokio_stream::once(request))
        .await?
        .into_inner();
    let mut found = false;
    while let Some(response) = responses.message().await? {
        if let Some(MessageResponse::FileDescriptorResponse(files)) = response.message_response {
            found |= !files.file_descriptor_proto.is_empty();
        }
    }
    Ok(found)
}
