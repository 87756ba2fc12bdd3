//! Who is asking: the verified access token (if any), the guest cart id (if any) and the
//! client key the rate limits count against. Built once per HTTP request or WebSocket
//! connection and handed to resolvers as request data.

use std::net::IpAddr;

use shop_kit::auth::{Claims, TokenVerifier};
use uuid::Uuid;

/// The name of the guest cart cookie.
pub const CART_COOKIE: &str = "cart_id";
/// The header a non-browser client may use instead of the cookie.
pub const CART_HEADER: &str = "x-cart-id";

#[derive(Debug, Clone, Default)]
pub enum Auth {
    /// No `Authorization` header: a guest.
    #[default]
    Anonymous,
    /// A token that verified; `bearer` is forwarded to the services.
    Verified { claims: Claims, bearer: String },
    /// A header that did not verify (expired, forged, malformed). Public fields still work;
    /// anything that needs a user reports UNAUTHENTICATED, so the client knows to refresh.
    Invalid,
}

#[derive(Debug, Clone)]
pub struct Viewer {
    pub auth: Auth,
    /// The guest cart id from `X-Cart-Id` or the `cart_id` cookie, when it is a v4 UUID
    /// (the Cart service accepts nothing else); anything else is ignored and replaced.
    pub guest_cart: Option<String>,
    pub client_ip: IpAddr,
    /// Whether the guest cart id came from the cookie (then the BFF maintains the cookie).
    pub cart_from_cookie: bool,
}

impl Viewer {
    pub fn from_parts(
        verifier: &TokenVerifier,
        authorization: Option<&str>,
        headers: &http::HeaderMap,
        client_ip: IpAddr,
    ) -> Self {
        let auth = match authorization
            .map(str::trim)
            .filter(|value| !value.is_empty())
        {
            None => Auth::Anonymous,
            Some(header) => match verifier.verify_bearer(header) {
                Ok(claims) => Auth::Verified {
                    claims,
                    bearer: bearer_token(header).to_owned(),
                },
                Err(_) => Auth::Invalid,
            },
        };
        let from_header = headers
            .get(CART_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(valid_cart_id);
        let from_cookie = cookie(headers, CART_COOKIE).and_then(|value| valid_cart_id(&value));
        let cart_from_cookie = from_header.is_none() && from_cookie.is_some();
        Self {
            auth,
            guest_cart: from_header.or(from_cookie),
            client_ip,
            cart_from_cookie,
        }
    }

    pub fn claims(&self) -> Option<&Claims> {
        match &self.auth {
            Auth::Verified { claims, .. } => Some(claims),
            _ => None,
        }
    }

    pub fn bearer(&self) -> Option<&str> {
        match &self.auth {
            Auth::Verified { bearer, .. } => Some(bearer),
            _ => None,
        }
    }

    /// The signed-in user, or UNAUTHENTICATED.
    pub fn require_user(&self) -> async_graphql::Result<(&Claims, &str)> {
        match &self.auth {
            Auth::Verified { claims, bearer } => Ok((claims, bearer)),
            _ => Err(crate::errors::unauthenticated()),
        }
    }

    /// What the general rate limit counts against: the user, else the address (an IPv6
    /// client by its /64).
    pub fn client_key(&self) -> String {
        match self.claims() {
            Some(claims) => format!("user:{}", claims.sub),
            None => crate::gateway::ip_key(self.client_ip),
        }
    }

    /// What the credential limit counts against: always the address, since whoever guesses
    /// passwords has no token.
    pub fn address_key(&self) -> String {
        format!("auth:{}", crate::gateway::address_key(self.client_ip))
    }
}

fn bearer_token(header: &str) -> &str {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .unwrap_or(header)
        .trim()
}

/// A v4 UUID in canonical form, or `None`.
pub fn valid_cart_id(raw: &str) -> Option<String> {
    let id = Uuid::parse_str(raw.trim()).ok()?;
    (id.get_version_num() == 4).then(|| id.hyphenated().to_string())
}

/// A fresh, unguessable guest cart id.
pub fn new_cart_id() -> String {
    Uuid::new_v4().hyphenated().to_string()
}

/// The value of cookie `name` among the request's `Cookie` headers.
pub fn cookie(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_owned())
}

/// `Set-Cookie` for the guest cart: HttpOnly (scripts never see it), SameSite=Lax (not sent
/// on cross-site POSTs), 30 days.
pub fn cart_cookie(id: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{CART_COOKIE}={id}; Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax{secure}")
}

/// `Set-Cookie` that deletes the guest cart cookie (after it merged into a user's cart).
pub fn clear_cart_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{CART_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}")
}

/// The refresh token cookie: HttpOnly (no script, so no XSS, can read it), SameSite=Strict
/// (never sent on a cross-site request) and scoped to [`REFRESH_PATH`], so it travels only
/// to the refresh and logout endpoints, never with ordinary API calls.
pub const REFRESH_COOKIE: &str = "shop_refresh";
pub const REFRESH_PATH: &str = "/auth";

pub fn refresh_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = max_age_secs.max(0);
    format!(
        "{REFRESH_COOKIE}={token}; Path={REFRESH_PATH}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    )
}

pub fn clear_refresh_cookie(secure: bool) -> String {
    refresh_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cart_ids_must_be_v4_uuids() {
        let id = new_cart_id();
        assert_eq!(valid_cart_id(&id), Some(id.clone()));
        assert_eq!(valid_cart_id(&Uuid::now_v7().to_string()), None);
        assert_eq!(valid_cart_id("nope"), None);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            http::HeaderValue::from_static("a=1; cart_id=abc ; b=2"),
        );
        assert_eq!(cookie(&headers, "cart_id").as_deref(), Some("abc"));
        assert_eq!(cookie(&headers, "c"), None);
        assert!(cart_cookie("x", true).contains("HttpOnly; SameSite=Lax; Secure"));
        let refresh = refresh_cookie("tok", 60, true);
        assert!(refresh.starts_with(
            "shop_refresh=tok; Path=/auth; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        ));
        assert!(!refresh_cookie("tok", 60, false).contains("Secure"));
    }
}
