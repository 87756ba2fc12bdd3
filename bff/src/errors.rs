//! The one mapping from gRPC failures to GraphQL errors, and the last line of defence that
//! no error reaches a client without an `extensions.code` or with internal details.
//!
//! Clients branch on `extensions.code` (`UNAUTHENTICATED`, `FORBIDDEN`, `BAD_USER_INPUT`,
//! `NOT_FOUND`, `OUT_OF_STOCK`, `UNAVAILABLE`, ...), never on messages. Messages of
//! user-facing failures come from the services, which phrase them for callers; messages of
//! INTERNAL and transport failures are replaced, since they can name hosts and databases.
//!
//! Services calling services follow `shop_kit::ServiceError::from_upstream`, with one
//! deliberate difference here: the BFF leaves authorisation to the services (each call
//! carries the end user's token), so their UNAUTHENTICATED and PERMISSION_DENIED are the
//! user's and pass on as such, where a service that already authorised its caller treats
//! them as its own fault.

use async_graphql::{Error, ErrorExtensionValues, Value};
use tonic::Code;
use tonic_types::StatusExt as _;

/// An error with `extensions.code`.
pub fn coded(code: &str, message: impl Into<String>) -> Error {
    let mut error = Error::new(message);
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("code", code);
    error
}

pub fn unauthenticated() -> Error {
    coded(
        "UNAUTHENTICATED",
        "sign in first: an access token is required",
    )
}

pub fn bad_input(field: &str, message: impl Into<String>) -> Error {
    let message = message.into();
    bad_user_input(
        format!("{field}: {message}"),
        field,
        vec![(field.to_owned(), message)],
    )
}

/// BAD_USER_INPUT saying `message`, with `extensions.field` (`first`, the one a form focuses)
/// and `extensions.fields` (every `(field, message)`).
fn bad_user_input(message: String, first: &str, violations: Vec<(String, String)>) -> Error {
    let mut error = coded("BAD_USER_INPUT", message);
    let extensions = error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    extensions.set("field", first);
    extensions.set(
        "fields",
        Value::List(
            violations
                .into_iter()
                .map(|(field, message)| violation(field, message))
                .collect(),
        ),
    );
    error
}

pub fn internal() -> Error {
    coded("INTERNAL", "internal error")
}

fn violation(field: String, message: String) -> Value {
    let mut object = async_graphql::indexmap::IndexMap::new();
    object.insert(async_graphql::Name::new("field"), Value::String(field));
    object.insert(async_graphql::Name::new("message"), Value::String(message));
    Value::Object(object)
}

/// How a service's request field names read in the GraphQL operation: the argument or
/// input object that carried them (`product.price` of CreateProduct is `input.price`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fields {
    /// Prefix every field with this (e.g. `input`).
    pub prefix: Option<&'static str>,
    /// Drop this leading message name first (e.g. `product`).
    pub strip: Option<&'static str>,
}

impl Fields {
    pub const AS_IS: Fields = Fields {
        prefix: None,
        strip: None,
    };

    pub const fn input() -> Self {
        Fields {
            prefix: Some("input"),
            strip: None,
        }
    }

    pub const fn input_from(message: &'static str) -> Self {
        Fields {
            prefix: Some("input"),
            strip: Some(message),
        }
    }

    /// `shipping_address.postal_code` → `input.shippingAddress.postalCode`.
    pub fn rename(&self, field: &str) -> String {
        let mut field = field;
        if let Some(strip) = self.strip {
            if field == strip {
                field = "";
            } else if let Some(rest) = field
                .strip_prefix(strip)
                .and_then(|rest| rest.strip_prefix('.'))
            {
                field = rest;
            }
        }
        let camel = field
            .split('.')
            .filter(|part| !part.is_empty())
            .map(camel_case)
            .collect::<Vec<_>>()
            .join(".");
        match (self.prefix, camel.is_empty()) {
            (Some(prefix), true) => prefix.to_owned(),
            (Some(prefix), false) => format!("{prefix}.{camel}"),
            (None, _) => camel,
        }
    }
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// ErrorInfo reasons that clients handle as their own codes.
fn reason_code(reason: &str) -> &str {
    match reason {
        "INSUFFICIENT_STOCK" => "OUT_OF_STOCK",
        other => other,
    }
}

/// How a resolver finishes its RPC, so every resolver fails the same way: a failed status
/// becomes the GraphQL error a client may see ([`from_status_in`], BAD_USER_INPUT fields
/// named per `fields`).
pub trait Reply<R> {
    /// The reply message.
    fn reply(self, fields: Fields) -> Result<R, Error>;

    /// What the resolver returns, taken from the reply by `pick`. A reply without it breaks
    /// the service's contract: INTERNAL, never a null where the schema promises a value.
    fn payload<T>(self, fields: Fields, pick: impl FnOnce(R) -> Option<T>) -> Result<T, Error>
    where
        Self: Sized,
    {
        pick(self.reply(fields)?).ok_or_else(internal)
    }

    /// For a lookup: what `pick` takes from the reply, or none when the service answers
    /// NOT_FOUND (no such object is a null in the schema, not an error).
    fn found<T>(self, pick: impl FnOnce(R) -> Option<T>) -> Result<Option<T>, Error>;
}

impl<R> Reply<R> for Result<tonic::Response<R>, tonic::Status> {
    fn reply(self, fields: Fields) -> Result<R, Error> {
        self.map(tonic::Response::into_inner)
            .map_err(|status| from_status_in(status, fields))
    }

    fn found<T>(self, pick: impl FnOnce(R) -> Option<T>) -> Result<Option<T>, Error> {
        match self {
            Ok(response) => Ok(pick(response.into_inner())),
            Err(status) if status.code() == tonic::Code::NotFound => Ok(None),
            Err(status) => Err(from_status(status)),
        }
    }
}

/// A gRPC failure as the GraphQL error a client may see, field names as in [`Fields::AS_IS`].
pub fn from_status(status: tonic::Status) -> Error {
    from_status_in(status, Fields::AS_IS)
}

/// A gRPC failure as a GraphQL error, with BAD_USER_INPUT fields renamed by `fields`.
pub fn from_status_in(status: tonic::Status, fields: Fields) -> Error {
    let reason = shop_kit::error::reason(&status);
    let message = status.message().to_owned();
    match status.code() {
        Code::InvalidArgument => {
            let violations: Vec<(String, String)> = shop_kit::error::field_violations(&status)
                .into_iter()
                .map(|v| (fields.rename(&v.field), v.description))
                .collect();
            let Some((first_field, _)) = violations.first().cloned() else {
                return coded("BAD_USER_INPUT", message);
            };
            let text = violations
                .iter()
                .map(|(field, description)| format!("{field}: {description}"))
                .collect::<Vec<_>>()
                .join("; ");
            bad_user_input(format!("invalid input: {text}"), &first_field, violations)
        }
        Code::NotFound => coded("NOT_FOUND", message),
        Code::AlreadyExists => with_reason(
            coded("ALREADY_EXISTS", message),
            reason.as_deref().unwrap_or("ALREADY_EXISTS"),
        ),
        Code::FailedPrecondition => {
            let reason = reason.unwrap_or_else(|| "FAILED_PRECONDITION".to_owned());
            with_reason(coded(reason_code(&reason), message), &reason)
        }
        Code::Aborted => with_reason(
            coded("CONFLICT", message),
            reason.as_deref().unwrap_or("ABORTED"),
        ),
        Code::Unauthenticated => coded("UNAUTHENTICATED", message),
        Code::PermissionDenied => coded("FORBIDDEN", message),
        Code::ResourceExhausted => resource_exhausted(reason.as_deref(), &status),
        // UNKNOWN is what a call sees when the replica answering it dies mid-response (the
        // connection is reset before a status arrives; `just chaos` saw it): the shopper's
        // retry reaches another replica, so it is UNAVAILABLE, as in
        // `ServiceError::from_upstream`, not an INTERNAL error of ours.
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown => {
            tracing::warn!(code = ?status.code(), %message, "upstream unavailable");
            coded(
                "UNAVAILABLE",
                "a service is temporarily unavailable; try again shortly",
            )
        }
        code => {
            tracing::error!(?code, %message, "upstream failure");
            internal()
        }
    }
}

/// RESOURCE_EXHAUSTED: a throttled login is RATE_LIMITED (the caller must slow down), a
/// saturated password hasher UNAVAILABLE (nothing wrong with the caller; retry shortly).
/// Either way the service's RetryInfo delay reaches the client as `extensions.retryAfter`
/// (whole seconds, rounded up), so it can wait exactly that long.
fn resource_exhausted(reason: Option<&str>, status: &tonic::Status) -> Error {
    let mut error = match reason {
        Some("PASSWORD_HASHING_BUSY") => coded(
            "UNAVAILABLE",
            "the shop is busy signing people in; try again in a moment",
        ),
        Some("LOGIN_THROTTLED") => coded(
            "RATE_LIMITED",
            "too many failed sign-in attempts; wait before trying again",
        ),
        _ => coded("RATE_LIMITED", "too many requests; try again later"),
    };
    if let Some(reason) = reason {
        error = with_reason(error, reason);
    }
    if let Some(delay) = status
        .get_error_details()
        .retry_info()
        .and_then(|info| info.retry_delay)
    {
        let seconds = delay.as_secs() + u64::from(delay.subsec_nanos() > 0);
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("retryAfter", seconds.max(1));
    }
    error
}

fn with_reason(mut error: Error, reason: &str) -> Error {
    error
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default)
        .set("reason", reason);
    error
}

/// Gives every error of a response a code and hides what must not leak: validation errors
/// of the operation become `GRAPHQL_VALIDATION_FAILED` (or the limit they hit), argument
/// coercion errors `BAD_USER_INPUT`, and any uncoded resolver error (a bug: something was
/// converted with `?` instead of through this module) becomes a generic `INTERNAL`.
pub fn sanitize(response: &mut async_graphql::Response) {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|extensions| extensions.get("code").is_some());
        if has_code {
            continue;
        }
        let message = error.message.as_str();
        let code = if message.contains("nested too deep") {
            "QUERY_TOO_DEEP"
        } else if message.contains("too complex") {
            "QUERY_TOO_COMPLEX"
        } else if message.starts_with("Failed to parse")
            || message.starts_with("Invalid value for argument")
            || message.contains("Invalid value for")
        {
            "BAD_USER_INPUT"
        } else if error.path.is_empty() {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            tracing::error!(message = %error.message, path = ?error.path, "uncoded resolver error hidden");
            error.message = "internal error".to_owned();
            "INTERNAL"
        };
        error
            .extensions
            .get_or_insert_with(ErrorExtensionValues::default)
            .set("code", code);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_kit::ServiceError;

    fn code(error: &Error) -> String {
        match error.extensions.as_ref().and_then(|e| e.get("code")) {
            Some(Value::String(code)) => code.clone(),
            other => panic!("no code: {other:?}"),
        }
    }

    fn ext(error: &Error, key: &str) -> Option<String> {
        match error.extensions.as_ref().and_then(|e| e.get(key)) {
            Some(Value::String(value)) => Some(value.clone()),
            _ => None,
        }
    }

    #[test]
    fn field_names_follow_the_graphql_operation() {
        assert_eq!(
            Fields::input().rename("shipping_address.postal_code"),
            "input.shippingAddress.postalCode"
        );
        assert_eq!(
            Fields::input_from("product").rename("product.price"),
            "input.price"
        );
        assert_eq!(Fields::input_from("product").rename("product"), "input");
        assert_eq!(Fields::AS_IS.rename("sku"), "sku");
    }

    /// A service's INVALID_ARGUMENT for one field.
    fn invalid(field: &str, description: &str) -> tonic::Status {
        let mut violations = shop_kit::FieldViolations::new();
        violations.add(field, description);
        violations.into_result().unwrap_err().into()
    }

    fn assert_bad_user_input(error: &Error, field: &str) {
        assert_eq!(code(error), "BAD_USER_INPUT");
        assert_eq!(ext(error, "field").as_deref(), Some(field));
    }

    #[test]
    fn invalid_argument_is_bad_user_input_with_the_field() {
        let status = invalid("shipping_address.country", "must be ISO 3166 alpha-2");
        let error = from_status_in(status, Fields::input());
        assert_bad_user_input(&error, "input.shippingAddress.country");
    }

    #[test]
    fn reasons_become_codes_and_internals_are_hidden() {
        let status: tonic::Status = ServiceError::FailedPrecondition {
            reason: "CART_EMPTY",
            message: "the cart is empty".into(),
        }
        .into();
        let error = from_status(status);
        assert_eq!(code(&error), "CART_EMPTY");
        let status: tonic::Status = ServiceError::FailedPrecondition {
            reason: "INSUFFICIENT_STOCK",
            message: "only 2 left".into(),
        }
        .into();
        assert_eq!(code(&from_status(status)), "OUT_OF_STOCK");

        let error = from_status(tonic::Status::internal("db at 10.0.0.3 exploded"));
        assert_eq!(code(&error), "INTERNAL");
        assert!(!error.message.contains("10.0.0.3"));
        // A replica that died mid-call: retrying reaches another.
        let error = from_status(tonic::Status::unknown("h2 protocol error: stream reset"));
        assert_eq!(code(&error), "UNAVAILABLE");
        assert!(!error.message.contains("h2"));
        let error = from_status(tonic::Status::unavailable("tcp connect to 10.0.0.3 failed"));
        assert_eq!(code(&error), "UNAVAILABLE");
        assert!(!error.message.contains("10.0.0.3"));
        assert_eq!(
            code(&from_status(tonic::Status::permission_denied("no"))),
            "FORBIDDEN"
        );
    }

    fn retry_after(error: &Error) -> Option<Value> {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("retryAfter"))
            .cloned()
    }

    #[test]
    fn exhausted_resources_say_what_to_do_and_when() {
        // (reason, the service's retry delay, the client's code, whole seconds to wait)
        for (reason, delay_ms, expected_code, seconds) in [
            ("LOGIN_THROTTLED", 2500, "RATE_LIMITED", 3u64),
            ("PASSWORD_HASHING_BUSY", 1000, "UNAVAILABLE", 1),
        ] {
            let status: tonic::Status = ServiceError::ResourceExhausted {
                reason,
                message: "too many attempts".into(),
                retry_after: Some(std::time::Duration::from_millis(delay_ms)),
            }
            .into();
            let error = from_status(status);
            assert_eq!(code(&error), expected_code, "{reason}");
            assert_eq!(ext(&error, "reason").as_deref(), Some(reason));
            assert_eq!(retry_after(&error), Some(Value::from(seconds)), "{reason}");
        }

        let error = from_status(tonic::Status::resource_exhausted("quota"));
        assert_eq!(code(&error), "RATE_LIMITED");
        assert_eq!(retry_after(&error), None);
    }

    #[test]
    fn a_reply_yields_its_payload_or_the_coded_error() {
        let ok: Result<tonic::Response<Option<u32>>, tonic::Status> =
            Ok(tonic::Response::new(Some(7)));
        assert_eq!(ok.payload(Fields::AS_IS, |reply| reply).ok(), Some(7));

        let empty: Result<tonic::Response<Option<u32>>, tonic::Status> =
            Ok(tonic::Response::new(None));
        let error = empty.payload(Fields::AS_IS, |reply| reply).unwrap_err();
        assert_eq!(code(&error), "INTERNAL");

        let refused: Result<tonic::Response<Option<u32>>, tonic::Status> =
            Err(invalid("shipping_address.city", "is required"));
        let error = refused.reply(Fields::input()).unwrap_err();
        assert_bad_user_input(&error, "input.shippingAddress.city");
    }

    #[test]
    fn a_lookup_of_nothing_is_null_and_other_refusals_stay_errors() {
        type Lookup = Result<tonic::Response<Option<u32>>, tonic::Status>;
        let found: Lookup = Ok(tonic::Response::new(Some(7)));
        assert_eq!(found.found(|reply| reply).ok(), Some(Some(7)));
        let missing: Lookup = Err(tonic::Status::not_found("no such order"));
        assert_eq!(missing.found(|reply| reply).ok(), Some(None));
        let denied: Lookup = Err(tonic::Status::permission_denied("not yours"));
        assert_eq!(code(&denied.found(|reply| reply).unwrap_err()), "FORBIDDEN");
    }

    #[test]
    fn order_limits_pass_through_as_codes() {
        for reason in [
            "TOO_MANY_OPEN_ORDERS",
            "LINE_QUANTITY_LIMIT",
            "ITEMS_AWAITING_PAYMENT",
        ] {
            let status: tonic::Status = ServiceError::FailedPrecondition {
                reason,
                message: "limit".into(),
            }
            .into();
            let error = from_status(status);
            assert_eq!(code(&error), reason);
            assert_eq!(ext(&error, "reason").as_deref(), Some(reason));
        }
    }
}
