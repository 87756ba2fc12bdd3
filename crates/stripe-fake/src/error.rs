//! Errors in Stripe's shape, and the crate's own error for starting and driving the fake.
//!
//! Every failed API call answers `{"error": {type, code, message, param, ...}}` with the HTTP
//! status Stripe uses, because typed clients decode that body into their error type
//! (`async-stripe`'s `StripeError::Stripe(ApiErrors, status)`); an error in any other shape
//! would surface as a deserialisation failure instead of, say, `card_declined`.

use axum::http::StatusCode;
use serde_json::{Map, Value, json};

/// A Stripe API error: the HTTP status and the object under `"error"`.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub error: Map<String, Value>,
}

impl ApiError {
    fn new(status: StatusCode, type_: &str, message: impl Into<String>) -> Self {
        let mut error = Map::new();
        error.insert("type".into(), Value::from(type_));
        error.insert("message".into(), Value::from(message.into()));
        Self { status, error }
    }

    /// Adds `code` and the `doc_url` Stripe derives from it.
    pub fn code(mut self, code: &str) -> Self {
        self.error.insert("code".into(), Value::from(code));
        self.error
            .insert("doc_url".into(), Value::from(doc_url(code)));
        self
    }

    pub fn param(mut self, param: &str) -> Self {
        self.error.insert("param".into(), Value::from(param));
        self
    }

    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.error.insert(field.into(), value);
        self
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    pub fn missing_param(param: &str) -> Self {
        Self::invalid_request(format!("Missing required param: {param}."))
            .code("parameter_missing")
            .param(param)
    }

    pub fn unknown_param(param: &str) -> Self {
        Self::invalid_request(format!("Received unknown parameter: {param}"))
            .code("parameter_unknown")
            .param(param)
    }

    pub fn invalid_integer(param: &str, value: &str) -> Self {
        Self::invalid_request(format!("Invalid integer: {value}"))
            .code("parameter_invalid_integer")
            .param(param)
    }

    /// A value outside what the parameter allows (Stripe names no `code` for these).
    pub fn invalid_value(param: &str, message: impl Into<String>) -> Self {
        Self::invalid_request(message).param(param)
    }

    /// `No such payment_intent: 'pi_x'`: 404 when the object is the URL, 400 when a parameter.
    pub fn no_such(kind: &str, id: &str, param: &str, status: StatusCode) -> Self {
        let mut error = Self::invalid_request(format!("No such {kind}: '{id}'"))
            .code("resource_missing")
            .param(param);
        error.status = status;
        error
    }

    pub fn unexpected_state(message: impl Into<String>) -> Self {
        Self::invalid_request(message).code("payment_intent_unexpected_state")
    }

    pub fn idempotency(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "idempotency_error", message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
    }

    /// A card error (HTTP 402), e.g. `card_declined`.
    pub fn card(code: &str, decline_code: Option<&str>, message: &str) -> Self {
        let mut error = Self::new(StatusCode::PAYMENT_REQUIRED, "card_error", message).code(code);
        if let Some(decline_code) = decline_code {
            error = error.with("decline_code", Value::from(decline_code));
        }
        error
    }

    pub fn not_found_route(method: &str, path: &str) -> Self {
        let mut error = Self::invalid_request(format!(
            "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
        ));
        error.status = StatusCode::NOT_FOUND;
        error
    }

    pub fn message(&self) -> &str {
        self.error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The response body, `{"error": {...}}`.
    pub fn body(&self) -> Value {
        json!({ "error": Value::Object(self.error.clone()) })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.status)
    }
}

fn doc_url(code: &str) -> String {
    format!(
        "https://stripe.com/docs/error-codes/{}",
        code.replace('_', "-")
    )
}

/// Why the fake could not start, or why a test-side action on it failed.
#[derive(Debug, thiserror::Error)]
pub enum FakeStripeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the bundled Stripe fixtures are invalid: {0}")]
    Fixtures(String),
    #[error("cannot build the webhook HTTP client: {0}")]
    WebhookClient(#[source] reqwest::Error),
    /// An action refused as Stripe would refuse it (unknown id, wrong status, ...).
    #[error("{message} (HTTP {status})")]
    Rejected { status: u16, message: String },
    #[error("the fake's task panicked: {0}")]
    Panicked(String),
}

impl From<ApiError> for FakeStripeError {
    fn from(error: ApiError) -> Self {
        Self::Rejected {
            status: error.status.as_u16(),
            message: error.message().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_stripes_shape() {
        let body = ApiError::missing_param("amount").body();
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(body["error"]["code"], "parameter_missing");
        assert_eq!(body["error"]["param"], "amount");
        assert_eq!(body["error"]["message"], "Missing required param: amount.");
        assert_eq!(
            body["error"]["doc_url"],
            "https://stripe.com/docs/error-codes/parameter-missing"
        );
        let card = ApiError::card(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        );
        assert_eq!(card.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(card.body()["error"]["decline_code"], "generic_decline");
    }
}
