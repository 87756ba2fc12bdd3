//! Shared plumbing of the operator tools: where the services are, and an admin session.
//!
//! Addresses default to `just up`'s and are overridden with the same `SHOP_*_URL` variables
//! the services use; the admin credentials are the bootstrap admin's.

pub mod bulk;
pub mod catalog;
pub mod illustration;

use std::time::Duration;

use anyhow::Context as _;
use shop_proto::shop::user::v1::{LoginRequest, user_service_client::UserServiceClient};
use tonic::transport::Channel;

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

pub fn user_url() -> String {
    env_or("SHOP_USER_URL", "http://127.0.0.1:50051")
}

pub fn product_url() -> String {
    env_or("SHOP_PRODUCT_URL", "http://127.0.0.1:50052")
}

pub fn inventory_url() -> String {
    env_or("SHOP_INVENTORY_URL", "http://127.0.0.1:50053")
}

/// A channel whose calls give up after 10 s, so a tool never hangs on a dead service.
pub async fn connect(url: &str) -> anyhow::Result<Channel> {
    shop_kit::client::channel(url, Duration::from_secs(10))
        .with_context(|| format!("service URL {url}"))
}

/// Signs in as the bootstrap admin and returns the access token.
pub async fn admin_token() -> anyhow::Result<String> {
    let email = env_or("SHOP_BOOTSTRAP_ADMIN_EMAIL", "admin@shopmesh.dev");
    let password = env_or("SHOP_BOOTSTRAP_ADMIN_PASSWORD", "shopmesh-admin");
    let url = user_url();
    let reply = UserServiceClient::new(connect(&url).await?)
        .login(LoginRequest {
            email: email.clone(),
            password,
        })
        .await
        .with_context(|| format!("admin login as {email} at {url} (is `just up` running?)"))?
        .into_inner();
    reply
        .tokens
        .map(|tokens| tokens.access_token)
        .context("login reply without tokens")
}

/// Wraps `message` with `authorization: Bearer <token>`.
pub fn authorized<T>(message: T, token: &str) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse()?);
    Ok(request)
}
