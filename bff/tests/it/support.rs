//! The whole shop for BFF end-to-end tests: `shop_system_tests::System` (Product, Inventory,
//! Cart, Order on real backends), plus the User service on its own database and the BFF on
//! port 0, all in this process; tests talk to the BFF over real HTTP and WebSockets only.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use shop_bff::{App, BffConfig};
use shop_system_tests::System;
use shop_testkit::{RunningService, TestMysql, keys};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

pub const ADMIN_EMAIL: &str = "admin@test.shopmesh.dev";
pub const ADMIN_PASSWORD: &str = "admin-password-42";

pub struct Stack {
    pub system: System,
    /// Kept running as long as the stack (dropping it stops the service).
    _user: RunningService,
    pub bff: RunningService,
    pub addr: SocketAddr,
    _user_db: TestMysql,
}

fn any_port() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

fn url(service: &RunningService) -> String {
    format!("http://{}", service.addr)
}

impl Stack {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// Starts everything; `tune` may change the BFF's config (limits) first.
    pub async fn start_with(tune: impl FnOnce(&mut BffConfig)) -> anyhow::Result<Self> {
        let system = System::start().await?;
        let user_db = TestMysql::create().await?;
        let user = RunningService::start::<shop_user::App>(shop_user::UserConfig {
            grpc_addr: any_port(),
            admin_addr: any_port(),
            database: shop_kit::mysql::DatabaseConfig::new(user_db.url.clone(), 10),
            jwt_private_key_pem: Some(keys().private_pem.clone()),
            bootstrap_admin_email: Some(ADMIN_EMAIL.into()),
            bootstrap_admin_password: Some(ADMIN_PASSWORD.into()),
            ..Default::default()
        })
        .await
        .context("user")?;
        user.channel().await?;

        let mut config = BffConfig {
            http_addr: any_port(),
            user_url: url(&user),
            product_url: url(&system.product),
            inventory_url: url(&system.inventory),
            cart_url: url(&system.cart),
            order_url: url(&system.order),
            jwt_public_key_pem: Some(keys().public_pem.clone()),
            amqp: system.backends.bus_config(),
            web_dist: "/nonexistent".into(),
            auth_rate_limit_per_minute: 600,
            auth_rate_limit_burst: 100,
            subscription_poll_secs: 30,
            ..Default::default()
        };
        tune(&mut config);
        let bff = RunningService::start::<App>(config).await.context("bff")?;
        let addr = bff.addr;
        // Make sure every service is serving before a test starts its clock.
        for service in [
            &system.product,
            &system.inventory,
            &system.cart,
            &system.order,
        ] {
            service.channel().await?;
        }
        Ok(Self {
            system,
            _user: user,
            bff,
            addr,
            _user_db: user_db,
        })
    }

    pub fn client(&self) -> Client {
        Client::new(self.addr)
    }

    /// A signed-in client for a freshly registered customer.
    pub async fn customer(&self, name: &str) -> anyhow::Result<Client> {
        let mut client = self.client();
        client.register(name).await?;
        Ok(client)
    }

    pub async fn admin(&self) -> anyhow::Result<Client> {
        let mut client = self.client();
        let body = client
            .gql(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { accessToken } }",
                json!({"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD}),
            )
            .await?;
        client.token = Some(data_str(&body, "/data/login/accessToken")?);
        Ok(client)
    }

    /// `shop_grpc_server_handled_total` of Inventory's `method`, summed over status codes.
    pub async fn inventory_calls(&self, method: &str) -> anyhow::Result<u64> {
        let scrape = shop_testkit::Scrape::of(self.system.inventory.admin_addr).await?;
        Ok(scrape.sum("shop_grpc_server_handled_total", &[("grpc_method", method)]))
    }
}

/// A storefront client: keeps the access token and the guest cart cookie like a browser.
pub struct Client {
    addr: SocketAddr,
    http: reqwest::Client,
    pub token: Option<String>,
    pub refresh: Option<String>,
    pub cart_cookie: Option<String>,
    /// The HttpOnly refresh cookie, as a browser keeps it.
    pub refresh_cookie: Option<String>,
    /// Sent as `X-Forwarded-For` (what a client may write; a proxy appends to it).
    pub forwarded_for: Option<String>,
    pub user_id: Option<String>,
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            http: reqwest::Client::new(),
            token: None,
            refresh: None,
            cart_cookie: None,
            refresh_cookie: None,
            forwarded_for: None,
            user_id: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs an operation; returns the whole JSON body (data and errors).
    pub async fn gql(&mut self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let (status, body) = self
            .post(json!({"query": query, "variables": variables}))
            .await?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    /// POSTs a raw body; returns the status and JSON body, keeping cookies.
    pub async fn post(&mut self, body: Value) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut request = self.http.post(self.url("/graphql")).json(&body);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(cart) = &self.cart_cookie {
            request = request.header("cookie", format!("cart_id={cart}"));
        }
        if let Some(forwarded) = &self.forwarded_for {
            request = request.header("x-forwarded-for", forwarded);
        }
        let response = request.send().await?;
        self.keep_refresh_cookie(response.headers());
        if let Some(cart) = set_cookie(response.headers(), "cart_id") {
            self.cart_cookie = cart;
        }
        let status = response.status();
        let body: Value = response.json().await?;
        Ok((status, body))
    }

    /// Keeps (or drops) the refresh cookie a response sets, like a browser.
    pub fn keep_refresh_cookie(&mut self, headers: &reqwest::header::HeaderMap) {
        if let Some(token) = set_cookie(headers, "shop_refresh") {
            self.refresh_cookie = token;
        }
    }

    /// POSTs to a `/auth` endpoint with the refresh cookie, as the web app does.
    pub async fn auth_post(
        &mut self,
        path: &str,
        content_type: &str,
    ) -> anyhow::Result<(reqwest::StatusCode, Value)> {
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", content_type)
            .body("{}");
        if let Some(token) = &self.refresh_cookie {
            request = request.header("cookie", format!("shop_refresh={token}"));
        }
        let response = request.send().await?;
        self.keep_refresh_cookie(response.headers());
        let status = response.status();
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok((status, body))
    }

    pub async fn register(&mut self, name: &str) -> anyhow::Result<Value> {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        let body = self
            .gql(
                "mutation($input: RegisterInput!) { register(input: $input) { accessToken refreshToken user { id email role } } }",
                json!({"input": {"email": email, "password": "a-long-password-1", "name": name}}),
            )
            .await?;
        self.token = Some(data_str(&body, "/data/register/accessToken")?);
        self.refresh = Some(data_str(&body, "/data/register/refreshToken")?);
        self.user_id = Some(data_str(&body, "/data/register/user/id")?);
        Ok(body)
    }

    pub async fn add_to_cart(&mut self, sku: &str, quantity: i64) -> anyhow::Result<Value> {
        self.gql(
            "mutation($sku: String!, $q: Int!) { addToCart(sku: $sku, quantity: $q) { id itemCount items { sku quantity } } }",
            json!({"sku": sku, "q": quantity}),
        )
        .await
    }

    pub async fn checkout(&mut self, payment_method: &str) -> anyhow::Result<Value> {
        self.gql(
            "mutation($input: CheckoutInput!) { checkout(input: $input) { id status total { formatted } } }",
            json!({"input": checkout_input(payment_method)}),
        )
        .await
    }
}

pub fn checkout_input(payment_method: &str) -> Value {
    json!({
        "paymentMethod": payment_method,
        "idempotencyKey": uuid::Uuid::new_v4().to_string(),
        "shippingAddress": {
            "name": "Ann Lee", "line1": "1 Main Street", "city": "Berlin",
            "postalCode": "10115", "country": "DE"
        }
    })
}

pub fn data_str(body: &Value, pointer: &str) -> anyhow::Result<String> {
    body.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no {pointer} in {body}"))
}

/// The `extensions.code` of the first error, if any.
pub fn error_code(body: &Value) -> Option<String> {
    body.pointer("/errors/0/extensions/code")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The WebSocket subprotocols the BFF speaks.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// `graphql-transport-ws` (the graphql-ws library).
    TransportWs,
    /// The legacy `graphql-ws` (subscriptions-transport-ws).
    LegacyWs,
}

pub const ORDER_UPDATED: &str = "subscription($id: ID!) { orderUpdated(orderId: $id) { id status cancelReason version paymentClientSecret total { formatted } } }";

pub struct Subscription {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    protocol: Protocol,
}

#[derive(Debug)]
pub enum Event {
    /// A `next`/`data` payload: `{data, errors?}`.
    Next(Value),
    /// A subscription-level error payload.
    Error(Value),
    Complete,
}

impl Event {
    /// The `extensions.code` of the first error this event carries, if any.
    pub fn error_code(&self) -> Option<String> {
        let code = match self {
            Event::Next(payload) => &payload["errors"][0]["extensions"]["code"],
            Event::Error(payload) => &payload[0]["extensions"]["code"],
            Event::Complete => return None,
        };
        code.as_str().map(str::to_owned)
    }
}

impl Subscription {
    /// Connects, initialises with `token` and starts `orderUpdated(orderId)`.
    pub async fn order_updated(
        addr: SocketAddr,
        protocol: Protocol,
        token: Option<&str>,
        order_id: &str,
    ) -> anyhow::Result<Self> {
        let mut this = Self::connect(addr, protocol, token).await?;
        this.start("1", ORDER_UPDATED, json!({"id": order_id}))
            .await?;
        Ok(this)
    }

    /// Connects and initialises with `token`, waiting for the acknowledgement.
    pub async fn connect(
        addr: SocketAddr,
        protocol: Protocol,
        token: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut request = format!("ws://{addr}/graphql/ws").into_client_request()?;
        let name = match protocol {
            Protocol::TransportWs => "graphql-transport-ws",
            Protocol::LegacyWs => "graphql-ws",
        };
        request
            .headers_mut()
            .insert("sec-websocket-protocol", name.parse()?);
        let (mut socket, response) = tokio_tungstenite::connect_async(request).await?;
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(name)
        );
        let payload = match token {
            Some(token) => json!({"Authorization": format!("Bearer {token}")}),
            None => json!({}),
        };
        socket
            .send(Message::text(
                json!({"type": "connection_init", "payload": payload}).to_string(),
            ))
            .await?;
        let mut this = Self { socket, protocol };
        loop {
            let message = this.recv().await?;
            match message["type"].as_str() {
                Some("connection_ack") => break,
                Some("ka") => continue,
                _ => bail!("expected connection_ack, got {message}"),
            }
        }
        Ok(this)
    }

    /// Starts operation `id` (any operation: the BFF decides what it accepts).
    pub async fn start(&mut self, id: &str, query: &str, variables: Value) -> anyhow::Result<()> {
        self.start_named(id, query, variables, None).await
    }

    /// Starts operation `id`, selecting `operation_name` of a many-operation document.
    pub async fn start_named(
        &mut self,
        id: &str,
        query: &str,
        variables: Value,
        operation_name: Option<&str>,
    ) -> anyhow::Result<()> {
        let start = match self.protocol {
            Protocol::TransportWs => "subscribe",
            Protocol::LegacyWs => "start",
        };
        self.socket
            .send(Message::text(
                json!({"id": id, "type": start, "payload": {
                    "query": query, "variables": variables, "operationName": operation_name
                }})
                .to_string(),
            ))
            .await?;
        Ok(())
    }

    /// The next event with its operation id.
    pub async fn next_with_id(&mut self) -> anyhow::Result<(String, Event)> {
        loop {
            let message = self.recv().await?;
            let id = message["id"].as_str().unwrap_or_default().to_owned();
            let event = match (self.protocol, message["type"].as_str()) {
                (_, Some("ka" | "ping" | "pong")) => continue,
                (Protocol::TransportWs, Some("next")) | (Protocol::LegacyWs, Some("data")) => {
                    Event::Next(message["payload"].clone())
                }
                (_, Some("error")) => Event::Error(message["payload"].clone()),
                (_, Some("complete")) => Event::Complete,
                _ => bail!("unexpected message {message}"),
            };
            return Ok((id, event));
        }
    }

    async fn recv(&mut self) -> anyhow::Result<Value> {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .context("no message within 30 s")?
                .context("socket closed")??;
            match message {
                Message::Text(text) => return Ok(serde_json::from_str(text.as_str())?),
                Message::Close(frame) => bail!("socket closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    pub async fn next(&mut self) -> anyhow::Result<Event> {
        loop {
            let message = self.recv().await?;
            match (self.protocol, message["type"].as_str()) {
                (_, Some("ka" | "ping" | "pong")) => continue,
                (Protocol::TransportWs, Some("next")) | (Protocol::LegacyWs, Some("data")) => {
                    return Ok(Event::Next(message["payload"].clone()));
                }
                (_, Some("error")) => return Ok(Event::Error(message["payload"].clone())),
                (_, Some("complete")) => return Ok(Event::Complete),
                _ => bail!("unexpected message {message}"),
            }
        }
    }

    /// The statuses seen until the stream completes or `last` is reached.
    pub async fn statuses_until(&mut self, last: &str) -> anyhow::Result<Vec<Value>> {
        let mut seen = Vec::new();
        loop {
            match self.next().await? {
                Event::Next(payload) => {
                    if payload.get("errors").is_some_and(|e| !e.is_null()) {
                        bail!("subscription error: {payload}");
                    }
                    let order = payload["data"]["orderUpdated"].clone();
                    let done = order["status"] == last;
                    seen.push(order);
                    if done {
                        return Ok(seen);
                    }
                }
                Event::Error(payload) => bail!("subscription error: {payload}"),
                Event::Complete => return Ok(seen),
            }
        }
    }
}

/// What the `Set-Cookie` headers of a response do to cookie `name`, as a browser reads them
/// (the last one wins): set it (`Some(Some(value))`), clear it (empty or `Max-Age=0`:
/// `Some(None)`), or leave it alone (`None`).
fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<Option<String>> {
    let prefix = format!("{name}=");
    headers
        .get_all("set-cookie")
        .iter()
        .rev()
        .find_map(|value| {
            let text = value.to_str().unwrap_or_default();
            let rest = text.strip_prefix(prefix.as_str())?;
            let value = rest.split(';').next().unwrap_or_default();
            Some((!value.is_empty() && !text.contains("Max-Age=0")).then(|| value.to_owned()))
        })
}
