//! The browser's session, kept in the HttpOnly refresh cookie (see
//! [`crate::viewer::refresh_cookie`]) rather than in `localStorage`, where any injected script
//! could read it. `POST /auth/refresh` rotates the cookie's token and answers a fresh
//! access token; `POST /auth/logout` revokes it and clears the cookie.
//!
//! Cross-site request forgery: the cookie is SameSite=Strict, and both endpoints also
//! require `Content-Type: application/json`, which a cross-site form cannot send and a
//! cross-origin script can only send after a CORS preflight this server does not grant.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use shop_proto::shop::user::v1::{LogoutRequest, RefreshRequest};

use crate::http::{AppState, refusal};
use crate::schema::types::User;
use crate::viewer::{REFRESH_COOKIE, clear_refresh_cookie, cookie, refresh_cookie};

/// The refusal of anything but a JSON request (the CSRF guard above).
fn not_json(headers: &HeaderMap) -> Option<Response> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    (!is_json).then(|| {
        refusal(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_REQUEST",
            "send this request with Content-Type: application/json",
        )
    })
}

/// The refresh token from the cookie, if it looks like one (anything else is ignored).
fn presented(headers: &HeaderMap) -> Option<String> {
    cookie(headers, REFRESH_COOKIE).filter(|token| {
        !token.is_empty()
            && token.len() <= 512
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~+/=".contains(&b))
    })
}

/// A GraphQL-shaped error body with the HTTP status its code calls for.
fn failure(error: async_graphql::Error, clear_cookie: Option<bool>) -> Response {
    let code = match error.extensions.as_ref().and_then(|e| e.get("code")) {
        Some(async_graphql::Value::String(code)) => code.clone(),
        _ => "INTERNAL".to_owned(),
    };
    let status = match code.as_str() {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "RATE_LIMITED" => StatusCode::TOO_MANY_REQUESTS,
        "BAD_USER_INPUT" | "BAD_REQUEST" => StatusCode::BAD_REQUEST,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let error = error.into_server_error(async_graphql::Pos::default());
    let body = json!({
        "errors": [{ "message": error.message, "extensions": error.extensions }]
    });
    let mut response = (status, axum::Json(body)).into_response();
    if let Some(secure) = clear_cookie
        && let Ok(value) = clear_refresh_cookie(secure).parse()
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /auth/refresh`: the cookie's refresh token rotated into a new cookie, and the new
/// access token as `{accessToken, expiresIn, user}`. A refused token clears the cookie.
pub async fn refresh(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(response) = not_json(&headers) {
        return response;
    }
    let secure = state.config.secure_cookies();
    // Without a cookie there is nothing to refresh and nothing is asked of the User service:
    // every page load of a signed-out visitor ends here.
    let Some(refresh_token) = presented(&headers) else {
        return failure(
            crate::errors::coded("UNAUTHENTICATED", "no session: sign in"),
            Some(secure),
        );
    };
    // The general request limit, not the sign-in one: a refresh token is 256 random bits, so
    // there is nothing to guess, and sharing the sign-in bucket let a few page loads lock a
    // visitor out of signing in.
    let ip = crate::gateway::client_ip(state.config.trusted_proxy_hops, &headers, peer);
    if !state.limiter.check(&crate::gateway::ip_key(ip)) {
        return crate::http::rate_limited(&state);
    }
    let clients = &state.clients;
    let response = match clients
        .users
        .clone()
        .refresh(clients.request(RefreshRequest { refresh_token }, None))
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) => {
            let refused = matches!(
                status.code(),
                tonic::Code::Unauthenticated
                    | tonic::Code::InvalidArgument
                    | tonic::Code::NotFound
                    | tonic::Code::PermissionDenied
            );
            // Whatever the service's reason, for the browser a refused token ends the session.
            let error = if refused {
                crate::errors::coded("UNAUTHENTICATED", "the session has ended: sign in")
            } else {
                crate::errors::from_status(status)
            };
            return failure(error, refused.then_some(secure));
        }
    };
    let (Some(user), Some(tokens)) = (response.user, response.tokens) else {
        return failure(crate::errors::internal(), None);
    };
    let user = User::from(user);
    let body = json!({
        "accessToken": tokens.access_token,
        "expiresIn": tokens.access_token_expires_in,
        "user": {
            "id": user.id.0,
            "email": user.email,
            "name": user.name,
            "role": match user.role {
                crate::schema::types::Role::Admin => "ADMIN",
                crate::schema::types::Role::Customer => "CUSTOMER",
            },
            "createdAt": user.created_at,
        }
    });
    let cookie = refresh_cookie(
        &tokens.refresh_token,
        tokens.refresh_token_expires_in,
        secure,
    );
    let mut response = axum::Json(body).into_response();
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `POST /auth/logout`: revokes the cookie's session (its refresh-token family) and clears
/// the cookie. Without a cookie there is nothing to end: still 204.
pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(response) = not_json(&headers) {
        return response;
    }
    let secure = state.config.secure_cookies();
    if let Some(refresh_token) = presented(&headers) {
        let clients = &state.clients;
        if let Err(status) = clients
            .users
            .clone()
            .logout(clients.request(LogoutRequest { refresh_token }, None))
            .await
            && !matches!(
                status.code(),
                tonic::Code::Unauthenticated | tonic::Code::InvalidArgument
            )
        {
            // The cookie stays, so the user can try again.
            return failure(crate::errors::from_status(status), None);
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Ok(value) = clear_refresh_cookie(secure).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
