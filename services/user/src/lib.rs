//! shop-user: accounts, passwords and sessions.
//!
//! Registration and login issue a short-lived EdDSA access token (verified by every service
//! with the public key) and a rotating refresh token (stored hashed; a reused one revokes its
//! whole family). Passwords are argon2id. The first admin comes from configuration.

pub mod api;
pub mod domain;
pub mod hashing;
pub mod store;
pub mod throttle;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_kit::auth::{TokenSigner, TokenVerifier};
use shop_kit::mysql::DatabaseConfig;
use shop_kit::server::GrpcHost;
use shop_kit::{Assembled, Service};
use shop_proto::shop::user::v1::user_service_server::UserServiceServer;

/// shop-user as a process: `shop_kit::main::<App>()` runs it, `RunningService::start::<App>` tests it.
pub struct App;

impl Service for App {
    const NAME: &'static str = "shop-user";
    type Config = UserConfig;

    async fn build(config: UserConfig) -> anyhow::Result<Assembled> {
        config.env.refuse_dev_defaults(&[(
            "SHOP_BOOTSTRAP_ADMIN_PASSWORD",
            config.bootstrap_admin_password.as_deref() == Some(DEV_BOOTSTRAP_ADMIN_PASSWORD),
        )])?;
        let hash_concurrency = NonZeroUsize::new(config.password_hash_concurrency)
            .context("password_hash_concurrency must be at least 1")?;
        let private_pem = shop_kit::config::pem_from(
            config.jwt_private_key_pem.as_deref(),
            config.jwt_private_key_file.as_deref(),
            "jwt_private_key",
        )?;
        let signer = TokenSigner::from_pem(
            &private_pem,
            Duration::from_secs(config.access_token_ttl_secs),
        )?;
        let verifier = TokenVerifier::from_pem(&config.verifier_pem(&private_pem)?)
            .context("jwt_previous_public_key")?;

        let pool = config.database.connect("user", &store::MIGRATOR).await?;
        let api = api::UserApi::new(api::Settings {
            pool: pool.clone(),
            signer,
            refresh_ttl: Duration::from_secs(config.refresh_token_ttl_secs),
            hashing: hashing::PasswordHashing::new(
                hash_concurrency,
                Duration::from_millis(config.password_hash_wait_ms),
            ),
            throttle: throttle::LoginThrottle::new(
                config.throttle_policy(),
                private_pem.trim().as_bytes(),
            ),
        })
        .await?;
        if let (Some(email), Some(password)) = (
            &config.bootstrap_admin_email,
            &config.bootstrap_admin_password,
        ) {
            api.bootstrap_admin(email, password)
                .await
                .context("bootstrap admin")?;
        }

        let host = GrpcHost::bind("user", config.grpc_addr, config.admin_addr)
            .await?
            .with_token_verifier(verifier)
            .add_service(UserServiceServer::new(api));
        Ok(Assembled::serving(host).then_close(async move { pool.close().await }))
    }
}

/// The bootstrap admin password of the development setups (README, compose, `scripts/up.sh`):
/// public, so production refuses to start with it.
pub const DEV_BOOTSTRAP_ADMIN_PASSWORD: &str = "shopmesh-admin";

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct UserConfig {
    /// `SHOP_ENV`; production refuses the development bootstrap admin password.
    pub env: shop_kit::config::Environment,
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    #[serde(flatten)]
    pub database: DatabaseConfig,
    /// PKCS#8 PEM of the Ed25519 signing key, inline or as a file path (e.g. a mounted
    /// Kubernetes secret). The public key is derived from it.
    pub jwt_private_key_pem: Option<String>,
    pub jwt_private_key_file: Option<String>,
    /// During a signing-key rotation: the previous public key(s) (PEM, one or a bundle),
    /// whose unexpired access tokens the service's own verifier (GetMe, GetUser,
    /// ChangePassword) still accepts. Other services get the same bundle as their
    /// `jwt_public_key`.
    pub jwt_previous_public_key_pem: Option<String>,
    pub jwt_previous_public_key_file: Option<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// When both are set and no account has this email, it is created as an admin at
    /// start-up. An existing account is never promoted (nor its password changed).
    /// Production refuses [`DEV_BOOTSTRAP_ADMIN_PASSWORD`].
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
    /// Argon2 hashes run at once (each holds 19 MiB, preallocated): the pod's memory is sized
    /// from it. Defaults to the available parallelism (cgroup CPU quota included).
    pub password_hash_concurrency: usize,
    /// How long a sign-in or registration waits for a hashing slot before being told to
    /// retry (RESOURCE_EXHAUSTED `PASSWORD_HASHING_BUSY`).
    pub password_hash_wait_ms: u64,
    /// Failed sign-ins in a row for one email before the back-off starts.
    pub login_throttle_free_failures: u32,
    /// The back-off after the first failure beyond the free ones; doubles per failure.
    pub login_throttle_base_delay_ms: u64,
    pub login_throttle_max_delay_secs: u64,
    /// A failure count untouched for this long starts over.
    pub login_throttle_forget_after_secs: u64,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            env: shop_kit::config::Environment::default(),
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 50051)),
            admin_addr: SocketAddr::from(([0, 0, 0, 0], 9101)),
            database: DatabaseConfig::new("mysql://root@127.0.0.1:3306/shop_user", 10),
            jwt_private_key_pem: None,
            jwt_private_key_file: None,
            jwt_previous_public_key_pem: None,
            jwt_previous_public_key_file: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
            password_hash_concurrency: std::thread::available_parallelism()
                .map_or(1, NonZeroUsize::get),
            password_hash_wait_ms: 200,
            login_throttle_free_failures: 5,
            login_throttle_base_delay_ms: 1000,
            login_throttle_max_delay_secs: 15 * 60,
            login_throttle_forget_after_secs: 24 * 3600,
        }
    }
}

impl UserConfig {
    fn throttle_policy(&self) -> throttle::ThrottlePolicy {
        throttle::ThrottlePolicy {
            free_failures: self.login_throttle_free_failures,
            base_delay: Duration::from_millis(self.login_throttle_base_delay_ms),
            max_delay: Duration::from_secs(self.login_throttle_max_delay_secs),
            forget_after: Duration::from_secs(self.login_throttle_forget_after_secs),
        }
    }

    /// The public key(s) the service's own verifier accepts: its current key first, then any
    /// previous ones configured for a rotation.
    fn verifier_pem(&self, private_pem: &str) -> anyhow::Result<String> {
        let mut bundle = shop_kit::auth::public_pem_from_private(private_pem)?;
        let previous = shop_kit::config::given(self.jwt_previous_public_key_pem.as_deref());
        let previous_file = shop_kit::config::given(self.jwt_previous_public_key_file.as_deref());
        if previous.is_some() || previous_file.is_some() {
            let previous =
                shop_kit::config::pem_from(previous, previous_file, "jwt_previous_public_key")?;
            bundle.push('\n');
            bundle.push_str(&previous);
        }
        Ok(bundle)
    }
}
