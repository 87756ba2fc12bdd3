//! The HTTP surface: Stripe's routes under `/v1`, test helpers under `/_fake`.
//!
//! Every `/v1` request goes through the same steps Stripe's API does: authenticate the secret
//! key (`Authorization: Bearer sk_test_...`, or HTTP Basic with the key as user name), decode
//! the form parameters, apply `Idempotency-Key` (POST only), run the operation, deliver the
//! events it caused, and answer pretty-printed JSON with `Request-Id` and `Stripe-Version`.
//!
//! ```text
//! POST /v1/payment_intents                    create (confirm=true charges at once)
//! GET  /v1/payment_intents                    list (limit, starting_after, ending_before, created)
//! GET  /v1/payment_intents/{id}               retrieve
//! POST /v1/payment_intents/{id}/confirm       confirm (payment_method optional)
//! POST /v1/payment_intents/{id}/cancel        cancel (cancellation_reason)
//! POST /v1/refunds                            refund a payment_intent or charge (amount optional)
//! GET  /v1/refunds, /v1/refunds/{id}          list, retrieve
//! GET  /v1/charges/{id}, /v1/events/{id}      retrieve
//!
//! GET  /_fake/payment_intents                 every intent, oldest first (?status=, ?metadata[k]=v)
//! POST /_fake/payment_intents/{id}/authenticate?outcome=succeed|fail   finish 3-D Secure
//! GET  /_fake/3ds/{id}, POST with outcome=   the customer's 3-D Secure page (a
//!                                             `redirect_to_url` next action points here)
//! GET  /_fake/refunds, /_fake/events (?type=), /_fake/webhook_deliveries
//! POST /_fake/webhook_endpoint                url=&secret= (no parameters: stop sending)
//! GET  /healthz
//! ```
//!
//! `/_fake` needs no API key: it is for tests and scripts on the same machine.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::fake::Fake;
use crate::form::Params;
use crate::idempotency::{Decision, Saved};
use crate::ids;
use crate::records::RequestInfo;
use crate::store::{Outcome, Store};
use crate::webhook::WebhookEndpoint;

type App = State<Arc<Fake>>;

pub(crate) fn router(fake: Arc<Fake>) -> Router {
    Router::new()
        .route(
            "/v1/payment_intents",
            list(Store::list_payment_intents)
                .merge(create("/v1/payment_intents", Store::create_payment_intent)),
        )
        .route(
            "/v1/payment_intents/{id}",
            retrieve(Store::retrieve_payment_intent),
        )
        .route(
            "/v1/payment_intents/{id}/confirm",
            act_on_intent("confirm", Store::confirm_payment_intent),
        )
        .route(
            "/v1/payment_intents/{id}/cancel",
            act_on_intent("cancel", Store::cancel_payment_intent),
        )
        .route(
            "/v1/refunds",
            list(Store::list_refunds).merge(create("/v1/refunds", Store::create_refund)),
        )
        .route("/v1/refunds/{id}", retrieve(Store::retrieve_refund))
        .route("/v1/charges/{id}", retrieve(Store::retrieve_charge))
        .route(
            "/v1/events/{id}",
            retrieve(|store, id, params| {
                params.only(&["expand"])?;
                store.retrieve_event(id)
            }),
        )
        .route("/_fake/payment_intents", get(fake_payment_intents))
        .route(
            "/_fake/payment_intents/{id}/authenticate",
            post(fake_authenticate),
        )
        .route(
            "/_fake/3ds/{id}",
            get(crate::authentication_page::show).post(crate::authentication_page::submit),
        )
        .route("/_fake/refunds", get(fake_refunds))
        .route("/_fake/events", get(fake_events))
        .route("/_fake/webhook_deliveries", get(fake_webhook_deliveries))
        .route("/_fake/webhook_endpoint", post(fake_webhook_endpoint))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(unrecognised)
        .method_not_allowed_fallback(unrecognised)
        .with_state(fake)
}

// --- /v1 ------------------------------------------------------------------------------------

/// `POST /v1/<objects>`: `create`, through every step of [`post_request`].
fn create(
    path: &'static str,
    create: fn(&Store, &Params, &RequestInfo) -> Outcome,
) -> MethodRouter<Arc<Fake>> {
    post(
        move |State(fake): App, headers: HeaderMap, body: Bytes| async move {
            post_request(&fake, &headers, path.into(), &body, create).await
        },
    )
}

/// `POST /v1/payment_intents/{id}/<action>`: `act` on the intent the path names.
fn act_on_intent(
    action: &'static str,
    act: fn(&Store, &str, &Params, &RequestInfo) -> Outcome,
) -> MethodRouter<Arc<Fake>> {
    post(
        move |State(fake): App, Path(id): Path<String>, headers: HeaderMap, body: Bytes| async move {
            let path = format!("/v1/payment_intents/{id}/{action}");
            post_request(&fake, &headers, path, &body, |store, params, request| {
                act(store, &id, params, request)
            })
            .await
        },
    )
}

/// `GET /v1/<objects>/{id}`: `retrieve` the object the path names.
fn retrieve(
    retrieve: fn(&Store, &str, &Params) -> Result<Value, ApiError>,
) -> MethodRouter<Arc<Fake>> {
    get(
        move |State(fake): App,
              Path(id): Path<String>,
              headers: HeaderMap,
              RawQuery(query): RawQuery| async move {
            get_request(&fake, &headers, query, |store, params| {
                retrieve(store, &id, params)
            })
        },
    )
}

/// `GET /v1/<objects>`: `list` them.
fn list(list: fn(&Store, &Params) -> Result<Value, ApiError>) -> MethodRouter<Arc<Fake>> {
    get(
        move |State(fake): App, headers: HeaderMap, RawQuery(query): RawQuery| async move {
            get_request(&fake, &headers, query, list)
        },
    )
}

async fn unrecognised(method: Method, uri: Uri) -> Response {
    let error = ApiError::not_found_route(method.as_str(), uri.path());
    json_response(error.status, &error.body(), &ResponseHeaders::default())
}

/// The steps every POST shares; `operation` runs once per non-replayed request.
async fn post_request(
    fake: &Fake,
    headers: &HeaderMap,
    path: String,
    body: &[u8],
    operation: impl FnOnce(&Store, &Params, &RequestInfo) -> Outcome,
) -> Response {
    let mut response_headers = ResponseHeaders::new(headers);
    let api_key = match api_key(headers) {
        Ok(api_key) => api_key,
        Err(error) => return json_response(error.status, &error.body(), &response_headers),
    };
    let params = Params::parse(body);
    let canonical = params.canonical();
    let endpoint = format!("POST {path}");
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|key| !key.is_empty())
        .map(str::to_owned);
    response_headers.idempotency_key = idempotency_key.clone();

    let guard = match &idempotency_key {
        None => None,
        Some(key) => match fake
            .idempotency
            .begin(&api_key, key, &endpoint, &canonical)
            .await
        {
            Ok(Decision::Replay(saved)) => return replay(saved, response_headers),
            Ok(Decision::Run(guard)) => Some(guard),
            Err(error) => return json_response(error.status, &error.body(), &response_headers),
        },
    };

    let request = RequestInfo {
        id: Some(response_headers.request_id.clone()),
        idempotency_key: guard.as_ref().map(|guard| guard.key().to_owned()),
        pending_webhooks: u32::from(fake.webhooks.enabled()),
    };
    let Outcome { result, events } = operation(&fake.store, &params, &request);
    fake.webhooks.enqueue(events);
    let (status, value) = match result {
        Ok(value) => (StatusCode::OK, value),
        Err(error) => (error.status, error.body()),
    };
    let bytes = Bytes::from(pretty(&value));
    if let Some(guard) = guard {
        guard.save(
            endpoint,
            canonical,
            status,
            bytes.clone(),
            response_headers.request_id.clone(),
        );
    }
    bytes_response(status, bytes, &response_headers)
}

fn get_request(
    fake: &Fake,
    headers: &HeaderMap,
    query: Option<String>,
    operation: impl FnOnce(&Store, &Params) -> Result<Value, ApiError>,
) -> Response {
    let response_headers = ResponseHeaders::new(headers);
    if let Err(error) = api_key(headers) {
        return json_response(error.status, &error.body(), &response_headers);
    }
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    match operation(&fake.store, &params) {
        Ok(value) => json_response(StatusCode::OK, &value, &response_headers),
        Err(error) => json_response(error.status, &error.body(), &response_headers),
    }
}

fn replay(saved: Saved, mut headers: ResponseHeaders) -> Response {
    headers.replayed_from = Some(saved.request_id);
    bytes_response(saved.status, saved.body, &headers)
}

/// The secret key from `Authorization`, if it is one the fake accepts: a test-mode secret or
/// restricted key. Live keys are refused so that a misconfigured service cannot mistake the
/// fake for Stripe.
fn api_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::unauthenticated(
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
        ));
    };
    let value = value.to_str().unwrap_or_default().trim();
    let key = if let Some(token) = value.strip_prefix("Bearer ") {
        token.trim().to_owned()
    } else if let Some(basic) = value.strip_prefix("Basic ") {
        base64::engine::general_purpose::STANDARD
            .decode(basic.trim())
            .ok()
            .and_then(|decoded| String::from_utf8(decoded).ok())
            .map(|user_password| {
                user_password
                    .split(':')
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .unwrap_or_default()
    } else {
        String::new()
    };
    if key.is_empty() {
        return Err(ApiError::unauthenticated(
            "Invalid API Key provided: the Authorization header must be 'Bearer <secret key>'.",
        ));
    }
    let test_key = ["sk_test_", "rk_test_"]
        .iter()
        .any(|prefix| key.len() > prefix.len() && key.starts_with(prefix));
    if !test_key {
        return Err(ApiError::unauthenticated(format!(
            "Invalid API Key provided: {}",
            redact(&key)
        )));
    }
    Ok(key)
}

/// `sk_test_****...1234`, as Stripe echoes a rejected key.
fn redact(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    if chars.len() <= 12 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..8].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 12))
}

// --- /_fake ---------------------------------------------------------------------------------

async fn fake_payment_intents(State(fake): App, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let status = params.str("status");
    let metadata = params.map("metadata").unwrap_or_default();
    let data: Vec<Value> = fake
        .store
        .all_payment_intents()
        .into_iter()
        .filter(|pi| status.is_none_or(|status| pi["status"] == status))
        .filter(|pi| {
            metadata
                .iter()
                .all(|(key, value)| pi["metadata"][key] == value.as_str())
        })
        .collect();
    fake_list(data)
}

async fn fake_authenticate(
    State(fake): App,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let outcome = match params.str("outcome").unwrap_or("succeed").parse() {
        Ok(outcome) => outcome,
        Err(message) => {
            let error = ApiError::invalid_value("outcome", message);
            return json_response(error.status, &error.body(), &ResponseHeaders::default());
        }
    };
    match fake.authenticate(&id, outcome) {
        Ok(value) => json_response(StatusCode::OK, &value, &ResponseHeaders::default()),
        Err(error) => json_response(error.status, &error.body(), &ResponseHeaders::default()),
    }
}

async fn fake_refunds(State(fake): App) -> Response {
    fake_list(fake.store.all_refunds())
}

async fn fake_events(State(fake): App, RawQuery(query): RawQuery) -> Response {
    let params = Params::parse(query.unwrap_or_default().as_bytes());
    let type_ = params.str("type");
    let data = fake
        .store
        .all_events()
        .into_iter()
        .filter(|event| type_.is_none_or(|type_| event["type"] == type_))
        .collect();
    fake_list(data)
}

async fn fake_webhook_deliveries(State(fake): App) -> Response {
    let data = serde_json::to_value(fake.webhooks.deliveries()).unwrap_or(Value::Null);
    json_response(
        StatusCode::OK,
        &json!({ "object": "list", "data": data }),
        &ResponseHeaders::default(),
    )
}

async fn fake_webhook_endpoint(State(fake): App, body: Bytes) -> Response {
    let params = Params::parse(&body);
    let endpoint = match (params.str("url"), params.str("secret")) {
        (None, None) => None,
        (Some(url), Some(secret)) => match WebhookEndpoint::new(url, secret) {
            Ok(endpoint) => Some(endpoint),
            Err(error) => {
                let error = ApiError::invalid_request(error.to_string());
                return json_response(error.status, &error.body(), &ResponseHeaders::default());
            }
        },
        _ => {
            let error = ApiError::invalid_request("Give both url and secret, or neither.");
            return json_response(error.status, &error.body(), &ResponseHeaders::default());
        }
    };
    let enabled = endpoint.is_some();
    fake.webhooks.set_endpoint(endpoint);
    json_response(
        StatusCode::OK,
        &json!({ "enabled": enabled }),
        &ResponseHeaders::default(),
    )
}

fn fake_list(data: Vec<Value>) -> Response {
    json_response(
        StatusCode::OK,
        &json!({ "object": "list", "data": data }),
        &ResponseHeaders::default(),
    )
}

// --- Responses ------------------------------------------------------------------------------

/// The headers Stripe puts on every API response.
#[derive(Debug, Clone)]
struct ResponseHeaders {
    request_id: String,
    stripe_version: String,
    idempotency_key: Option<String>,
    /// Set on a replay: the id of the request whose response this is.
    replayed_from: Option<String>,
}

impl Default for ResponseHeaders {
    fn default() -> Self {
        Self {
            request_id: ids::request_id(),
            stripe_version: crate::DEFAULT_API_VERSION.to_owned(),
            idempotency_key: None,
            replayed_from: None,
        }
    }
}

impl ResponseHeaders {
    fn new(request: &HeaderMap) -> Self {
        let stripe_version = request
            .get("stripe-version")
            .and_then(|value| value.to_str().ok())
            .filter(|value| !value.is_empty())
            .unwrap_or(crate::DEFAULT_API_VERSION)
            .to_owned();
        Self {
            stripe_version,
            ..Self::default()
        }
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail.
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

fn json_response(status: StatusCode, value: &Value, headers: &ResponseHeaders) -> Response {
    bytes_response(status, Bytes::from(pretty(value)), headers)
}

fn bytes_response(status: StatusCode, body: Bytes, headers: &ResponseHeaders) -> Response {
    let mut response = (status, body).into_response();
    let map = response.headers_mut();
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut put = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            map.insert(HeaderName::from_static(name), value);
        }
    };
    put("request-id", &headers.request_id);
    put("stripe-version", &headers.stripe_version);
    if let Some(key) = &headers.idempotency_key {
        put("idempotency-key", key);
    }
    if let Some(original) = &headers.replayed_from {
        put("idempotent-replayed", "true");
        put("original-request", original);
    }
    if status == StatusCode::UNAUTHORIZED {
        put("www-authenticate", "Bearer realm=\"Stripe\"");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        headers
    }

    #[test]
    fn accepts_test_secret_keys_only() {
        assert_eq!(
            api_key(&headers("Bearer sk_test_abc")).unwrap(),
            "sk_test_abc"
        );
        assert_eq!(
            api_key(&headers("Basic c2tfdGVzdF9hYmM6")).unwrap(),
            "sk_test_abc"
        );
        for rejected in [
            "Bearer sk_live_abcdefgh1234",
            "Bearer pk_test_x",
            "Bearer ",
            "Token x",
        ] {
            let error = api_key(&headers(rejected)).unwrap_err();
            assert_eq!(error.status, StatusCode::UNAUTHORIZED, "{rejected}");
        }
        let missing = api_key(&HeaderMap::new()).unwrap_err();
        assert!(
            missing
                .message()
                .starts_with("You did not provide an API key")
        );
        assert!(
            api_key(&headers("Bearer sk_live_abcdefgh1234"))
                .unwrap_err()
                .message()
                .ends_with("sk_live_********1234")
        );
    }
}
