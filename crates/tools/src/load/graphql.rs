//! A GraphQL-over-HTTP client for load: one keep-alive connection pool per target, every
//! reply checked (HTTP status, `errors`, the data the scenario needs), so a server that
//! answers fast with errors never counts as fast.

use std::time::Duration;

use anyhow::Context as _;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct GraphQl {
    http: reqwest::Client,
    url: String,
}

impl GraphQl {
    /// A client for `url` (loopback unless `allow_remote`).
    pub fn new(url: &str, allow_remote: bool) -> anyhow::Result<Self> {
        super::ensure_loopback(url, allow_remote)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            http,
            url: url.to_owned(),
        })
    }

    /// Sends one operation and returns its `data`; a non-2xx status or any entry in
    /// `errors` is an error naming the server's code (e.g. `RATE_LIMITED` on a 429).
    pub async fn call(
        &self,
        query: &str,
        variables: Value,
        bearer: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(&self.url)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await?;
        let status = response.status();
        let body = response.bytes().await?;
        let reply: Value = match serde_json::from_slice(&body) {
            Ok(reply) => reply,
            Err(_) => anyhow::bail!(
                "HTTP {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        };
        if let Some(error) = reply
            .get("errors")
            .and_then(Value::as_array)
            .and_then(|errors| errors.first())
        {
            let code = error
                .pointer("/extensions/code")
                .and_then(Value::as_str)
                .unwrap_or("NO_CODE");
            let message = error.get("message").and_then(Value::as_str).unwrap_or("");
            anyhow::bail!("HTTP {status}: {code}: {message}");
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            anyhow::bail!("HTTP 429: rate limited (raise SHOP_RATE_LIMIT_PER_MINUTE/_BURST)");
        }
        anyhow::ensure!(status.is_success(), "HTTP {status}");
        reply
            .get("data")
            .cloned()
            .filter(|data| !data.is_null())
            .with_context(|| format!("HTTP {status}: reply without data"))
    }
}

/// The field at `pointer` in `data`, or an error naming what was missing.
pub fn field<'a>(data: &'a Value, pointer: &str) -> anyhow::Result<&'a Value> {
    data.pointer(pointer)
        .filter(|value| !value.is_null())
        .with_context(|| format!("reply has no {pointer}"))
}

/// `field` as a string.
pub fn string_field(data: &Value, pointer: &str) -> anyhow::Result<String> {
    field(data, pointer)?
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("{pointer} is not a string"))
}
