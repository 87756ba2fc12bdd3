//! shop-user: accounts, passwords and sessions.
//!
//! Registration and login issue a short-lived EdDSA access token (verified by every service
//! with the public key) and a rotating refresh token (stored hashed; a reused one revokes its
//! whole family). Passwords are argon2id. The first admin comes from configuration.

pub mod api;
pub mod domain;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use shop_kit::auth::{TokenSigner, TokenVerifier};
use shop_kit::server::GrpcHost;
use shop_proto::shop::user::v1::user_service_server::UserServiceServer;
use sqlx::MySqlPool;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Every field can be overridden as `SHOP_<FIELD>` (see `shop_kit::config`).
#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct UserConfig {
    pub grpc_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The service's own database; created at start-up when missing.
    pub database_url: String,
    pub database_max_connections: u32,
    /// PKCS#8 PEM of the Ed25519 signing key, inline or as a file path (e.g. a mounted
    /// Kubernetes secret). The public key is derived from it.
    pub jwt_private_key_pem: Option<String>,
    pub jwt_private_key_file: Option<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// When both are set, this account exists and is an admin after start-up.
    pub bootstrap_admin_email: Option<String>,
    pub bootstrap_admin_password: Option<String>,
}

impl Default for UserConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([0, 0, 0, 0], 50051)),
            admin_addr: SocketAddr::from(([0, 0, 0, 0], 9101)),
            database_url: "mysql://root@127.0.0.1:3306/shop_user".into(),
            database_max_connections: 10,
            jwt_private_key_pem: None,
            jwt_private_key_file: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            bootstrap_admin_email: None,
            bootstrap_admin_password: None,
        }
    }
}

/// A started but not yet serving User service: its ports are bound (so tests can read
/// them) and its database is migrated.
pub struct App {
    host: GrpcHost,
    pool: MySqlPool,
}

impl App {
    pub async fn build(config: UserConfig) -> anyhow::Result<Self> {
        let private_pem = shop_kit::config::pem_from(
            config.jwt_private_key_pem.as_deref(),
            config.jwt_private_key_file.as_deref(),
            "jwt_private_key",
        )?;
        let signer = TokenSigner::from_pem(
            &private_pem,
            Duration::from_secs(config.access_token_ttl_secs),
        )?;
        let verifier =
            TokenVerifier::from_pem(&shop_kit::auth::public_pem_from_private(&private_pem)?)?;

        let pool = shop_kit::mysql::connect_and_migrate(
            &config.database_url,
            config.database_max_connections,
            &MIGRATOR,
        )
        .await
        .context("user database")?;
        let api = api::UserApi::new(
            pool.clone(),
            signer,
            Duration::from_secs(config.refresh_token_ttl_secs),
        )
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
        Ok(Self { host, pool })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.host.grpc_addr()
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.host.admin_addr()
    }

    /// Serves until `shutdown` resolves, drains, then closes the database pool.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        self.host.serve(shutdown).await?;
        self.pool.close().await;
        Ok(())
    }
}
