//! One error type for every service, mapped once to `tonic::Status` with `google.rpc` details.
//!
//! Handlers return `Result<_, ServiceError>` and use `?`; the mapping below is the only place
//! that decides status codes, reason codes and what detail a caller may see. Internal errors
//! are logged with their cause and reach the caller as a bare `INTERNAL`, so nothing about
//! databases or hosts leaks out.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every error shopmesh raises.
pub const ERROR_DOMAIN: &str = "shopmesh.dev";

/// A request field that failed validation, as reported in `google.rpc.BadRequest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

/// Collects every invalid field of a request, so a caller learns all its mistakes at once
/// instead of one per round trip.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FieldViolations(Vec<FieldViolation>);

impl FieldViolations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation {
            field: field.into(),
            description: description.into(),
        });
    }

    /// Keeps the parsed value or records why it was rejected; `None` means "look at the
    /// violations", which `into_result` then turns into an error.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        parsed: Result<T, E>,
    ) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &FieldViolation> {
        self.0.iter()
    }

    /// Ends a parse: `build` assembles the command from the values [`check`](Self::check)
    /// kept (with `?` on each, so a rejected field simply yields `None`), and the result is
    /// that command when nothing was rejected, otherwise `INVALID_ARGUMENT` carrying every
    /// violation. This is why a parse needs no "all fields present" branch of its own.
    pub fn finish<T>(self, build: impl FnOnce() -> Option<T>) -> Result<T, ServiceError> {
        match build() {
            Some(value) if self.0.is_empty() => Ok(value),
            _ => {
                debug_assert!(
                    !self.0.is_empty(),
                    "a field was dropped without a violation"
                );
                Err(ServiceError::InvalidArgument(self))
            }
        }
    }

    /// `Ok(())` when nothing was rejected, otherwise `INVALID_ARGUMENT` carrying them all.
    pub fn into_result(self) -> Result<(), ServiceError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ServiceError::InvalidArgument(self))
        }
    }
}

/// Every way a shopmesh RPC can fail, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is wrong; retrying it unchanged cannot succeed.
    #[error("invalid request: {}", describe(.0))]
    InvalidArgument(FieldViolations),
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    /// A uniqueness rule said no (`reason` is the machine-readable ErrorInfo reason).
    #[error("{message}")]
    AlreadyExists {
        reason: &'static str,
        message: String,
    },
    /// The system is not in a state that allows this (e.g. `OUT_OF_STOCK`, `ORDER_CONFIRMED`).
    #[error("{message}")]
    FailedPrecondition {
        reason: &'static str,
        message: String,
    },
    /// A concurrent change won (e.g. an `expected_version` that is no longer current); the
    /// caller should re-read and decide again.
    #[error("{message}")]
    Aborted {
        reason: &'static str,
        message: String,
    },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    /// A dependency is down or timed out; the caller may retry later.
    #[error("{0}")]
    Unavailable(String),
    /// A bound was hit (a throttle, a full worker pool): the same request may succeed after
    /// `retry_after`, which reaches the caller as `google.rpc.RetryInfo` beside the reason.
    #[error("{message}")]
    ResourceExhausted {
        reason: &'static str,
        message: String,
        retry_after: Option<std::time::Duration>,
    },
    /// A service called on the caller's behalf refused the caller's data (see
    /// [`ServiceError::from_upstream`]): passed on as that service phrased it, code, message
    /// and `google.rpc` details, since it already speaks to callers.
    #[error("{service} refused: {}", .status.message())]
    Upstream {
        service: &'static str,
        status: Box<Status>,
    },
    /// A bug or an unexpected infrastructure failure; logged, never shown.
    #[error("internal error: {0:#}")]
    Internal(#[source] anyhow::Error),
}

fn describe(violations: &FieldViolations) -> String {
    violations
        .iter()
        .map(|v| format!("{}: {}", v.field, v.description))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ServiceError {
    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        Self::Internal(error.into())
    }

    /// A single-field `INVALID_ARGUMENT`, for checks that cannot be batched.
    pub fn invalid(field: &str, description: impl Into<String>) -> Self {
        let mut violations = FieldViolations::new();
        violations.add(field, description);
        Self::InvalidArgument(violations)
    }

    /// The fields an `INVALID_ARGUMENT` names, in order; none for any other error (what a
    /// parse step's tests assert).
    pub fn violated_fields(&self) -> Vec<&str> {
        match self {
            Self::InvalidArgument(violations) => {
                violations.iter().map(|v| v.field.as_str()).collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn not_found(resource: &'static str, id: impl Into<String>) -> Self {
        Self::NotFound {
            resource,
            id: id.into(),
        }
    }

    /// How a failed call to another shopmesh service reaches our own caller; `service` names
    /// it as the caller would (`"the product catalog"`), since it appears in the message. The one policy for every upstream call, by what the caller can do:
    ///
    /// - **Retry later** — UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED (the channel's own
    ///   deadline fires as CANCELLED), UNKNOWN (a crash or a non-gRPC answer), INTERNAL (a
    ///   service maps its own database trouble there), RESOURCE_EXHAUSTED and ABORTED become
    ///   our UNAVAILABLE. The dependency failed, not the request, and nothing about it (hosts,
    ///   causes) is passed on; the upstream's own logs and metrics hold the cause.
    /// - **Fix the request** — INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION,
    ///   ALREADY_EXISTS and OUT_OF_RANGE are about the data we sent, which is the caller's
    ///   (their cart, their SKU): passed on unchanged, reason codes and field violations
    ///   included, so the caller sees the same answer it would get from that service
    ///   directly instead of an INTERNAL for its own mistake. Field names are the upstream
    ///   request's; callers forward the same messages (`CartRef` as `cart`), so they match.
    /// - **Our bug** — UNAUTHENTICATED and PERMISSION_DENIED (we authenticated and authorized
    ///   the caller before calling, so a refusal means the services disagree about keys or
    ///   roles, which the caller cannot fix), UNIMPLEMENTED (version skew), DATA_LOSS and OK
    ///   (a failure with no code) become INTERNAL, logged with the upstream's answer.
    pub fn from_upstream(service: &'static str, status: Status) -> Self {
        match status.code() {
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Unknown
            | Code::Internal
            | Code::ResourceExhausted
            | Code::Aborted => {
                tracing::warn!(
                    service,
                    code = ?status.code(),
                    message = status.message(),
                    "upstream unavailable"
                );
                Self::Unavailable(format!("{service} is unavailable; retry later"))
            }
            Code::InvalidArgument
            | Code::NotFound
            | Code::FailedPrecondition
            | Code::AlreadyExists
            | Code::OutOfRange => Self::Upstream {
                service,
                // Only what a caller may see: metadata (headers, trailers) stays behind.
                status: Box::new(Status::with_details(
                    status.code(),
                    status.message(),
                    tonic::codegen::Bytes::copy_from_slice(status.details()),
                )),
            },
            Code::Ok
            | Code::Unauthenticated
            | Code::PermissionDenied
            | Code::Unimplemented
            | Code::DataLoss => Self::internal(anyhow::anyhow!(
                "{service} answered {:?}: {}",
                status.code(),
                status.message()
            )),
        }
    }
}

fn error_info(reason: &str) -> ErrorDetails {
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new())
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::InvalidArgument(violations) => {
                let message = format!("invalid request: {}", describe(&violations));
                let mut details = ErrorDetails::new();
                for v in violations.iter() {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                details.set_error_info(
                    "INVALID_ARGUMENT",
                    ERROR_DOMAIN,
                    std::collections::HashMap::new(),
                );
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            ServiceError::NotFound { resource, id } => {
                let mut details = ErrorDetails::new();
                details.set_resource_info(resource, id.clone(), "", "not found");
                Status::with_error_details(
                    Code::NotFound,
                    format!("{resource} {id} not found"),
                    details,
                )
            }
            ServiceError::AlreadyExists { reason, message } => {
                Status::with_error_details(Code::AlreadyExists, message, error_info(reason))
            }
            ServiceError::FailedPrecondition { reason, message } => {
                Status::with_error_details(Code::FailedPrecondition, message, error_info(reason))
            }
            ServiceError::Aborted { reason, message } => {
                Status::with_error_details(Code::Aborted, message, error_info(reason))
            }
            ServiceError::Unauthenticated(message) => Status::unauthenticated(message),
            ServiceError::PermissionDenied(message) => Status::permission_denied(message),
            ServiceError::Unavailable(message) => Status::unavailable(message),
            ServiceError::ResourceExhausted {
                reason,
                message,
                retry_after,
            } => {
                let mut details = error_info(reason);
                if let Some(delay) = retry_after {
                    details.set_retry_info(Some(delay));
                }
                Status::with_error_details(Code::ResourceExhausted, message, details)
            }
            ServiceError::Upstream { status, .. } => *status,
            ServiceError::Internal(cause) => {
                tracing::error!(error = format!("{cause:#}"), "internal error");
                Status::internal("internal error")
            }
        }
    }
}

/// The field violations (`google.rpc.BadRequest`) a refusal carries, in order; none when it
/// carries no BadRequest. The reverse of the mapping above: the BFF shows them to a client,
/// tests assert them.
pub fn field_violations(status: &Status) -> Vec<FieldViolation> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| FieldViolation {
                    field: v.field.clone(),
                    description: v.description.clone(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The reason code (`google.rpc.ErrorInfo.reason`) a refusal carries, e.g. `OUT_OF_STOCK`.
pub fn reason(status: &Status) -> Option<String> {
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_carries_every_field_violation() {
        let mut violations = FieldViolations::new();
        violations.add("email", "is not an email address");
        violations.add("password", "is too short");
        let status: Status = violations.into_result().unwrap_err().into();
        assert_eq!(status.code(), Code::InvalidArgument);
        let fields: Vec<_> = field_violations(&status)
            .into_iter()
            .map(|v| v.field)
            .collect();
        assert_eq!(fields, ["email", "password"]);
    }

    #[test]
    fn a_parse_finishes_with_its_value_or_every_violation() {
        let parse = |email: &str, age: &str| {
            let mut violations = FieldViolations::new();
            let email = violations.check(
                "email",
                Some(email.to_owned())
                    .filter(|e| e.contains('@'))
                    .ok_or("is not an email address"),
            );
            let age = violations.check("age", age.parse::<u8>());
            violations.finish(|| Some((email?, age?)))
        };
        assert_eq!(parse("a@b", "7").unwrap(), ("a@b".to_owned(), 7));
        let Err(refused) = parse("ab", "x") else {
            panic!("accepted")
        };
        assert_eq!(refused.violated_fields(), ["email", "age"]);
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        assert_internal_without_cause(
            ServiceError::internal(anyhow::anyhow!("db at 10.0.0.3 refused")).into(),
        );
    }

    /// A bare INTERNAL: the cause (here, always a host 10.0.0.3) stays in our logs.
    fn assert_internal_without_cause(status: Status) {
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("10.0.0.3"));
    }

    #[test]
    fn exhaustion_carries_its_reason_and_when_to_retry() {
        let status: Status = ServiceError::ResourceExhausted {
            reason: "LOGIN_THROTTLED",
            message: "too many attempts".into(),
            retry_after: Some(std::time::Duration::from_secs(4)),
        }
        .into();
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(reason(&status).as_deref(), Some("LOGIN_THROTTLED"));
        assert_eq!(
            status
                .get_error_details()
                .retry_info()
                .and_then(|r| r.retry_delay),
            Some(std::time::Duration::from_secs(4))
        );
    }

    fn upstream(status: Status) -> Status {
        ServiceError::from_upstream("the cart", status).into()
    }

    #[test]
    fn upstream_outages_are_unavailable_without_their_cause() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::Cancelled,
            Code::Unknown,
            Code::Internal,
            Code::ResourceExhausted,
            Code::Aborted,
        ] {
            let status = upstream(Status::new(code, "tcp connect to 10.0.0.3 failed"));
            assert_eq!(status.code(), Code::Unavailable, "{code:?}");
            assert_eq!(status.message(), "the cart is unavailable; retry later");
        }
    }

    #[test]
    fn upstream_refusals_of_the_callers_data_pass_on_unchanged() {
        let mut violations = FieldViolations::new();
        violations.add("cart.guest_cart_id", "must be a random (version 4) UUID");
        let status = upstream(violations.into_result().unwrap_err().into());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            field_violations(&status),
            [FieldViolation {
                field: "cart.guest_cart_id".into(),
                description: "must be a random (version 4) UUID".into(),
            }]
        );

        let status = upstream(
            ServiceError::FailedPrecondition {
                reason: "CURRENCY_MISMATCH",
                message: "product X is priced in USD".into(),
            }
            .into(),
        );
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "product X is priced in USD");
        assert_eq!(reason(&status).as_deref(), Some("CURRENCY_MISMATCH"));

        let status = upstream(ServiceError::not_found("product", "X").into());
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(
            status
                .get_error_details()
                .resource_info()
                .map(|r| r.resource_name.as_str()),
            Some("X")
        );
        for code in [Code::AlreadyExists, Code::OutOfRange] {
            assert_eq!(upstream(Status::new(code, "no")).code(), code);
        }
    }

    #[test]
    fn upstream_metadata_is_not_passed_on() {
        let mut refused = Status::not_found("no such cart");
        refused
            .metadata_mut()
            .insert("x-upstream-host", "10.0.0.3".parse().unwrap());
        let status = upstream(refused);
        assert_eq!(status.code(), Code::NotFound);
        assert!(status.metadata().get("x-upstream-host").is_none());
    }

    #[test]
    fn upstream_refusing_our_credentials_is_our_bug() {
        for code in [
            Code::Unauthenticated,
            Code::PermissionDenied,
            Code::Unimplemented,
            Code::DataLoss,
            Code::Ok,
        ] {
            let error = ServiceError::from_upstream("the cart", Status::new(code, "key 10.0.0.3"));
            assert!(matches!(error, ServiceError::Internal(_)), "{code:?}");
            assert_internal_without_cause(error.into());
        }
    }

    #[test]
    fn preconditions_carry_a_reason() {
        let status: Status = ServiceError::FailedPrecondition {
            reason: "OUT_OF_STOCK",
            message: "sku X is out of stock".into(),
        }
        .into();
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(reason(&status).as_deref(), Some("OUT_OF_STOCK"));
    }
}
