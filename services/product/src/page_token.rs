//! ListProducts page tokens: typed, signed, bound to their query, versioned.
//!
//! A page token comes back from the client, so it is hostile input. It used to be
//! base64 JSON whose cursor key was raw BSON placed into the filter, which let a client
//! write `{"$ne": null}` (answered) or `{"$regularExpression": ..}` (INTERNAL) into the
//! query. Now:
//! - the cursor is an [`After`] (a string or an integer per sort order, a UUID), so nothing
//!   a client writes can become a query operator even with a leaked key;
//! - the token is HMAC-SHA256-signed with `SHOP_PAGE_TOKEN_KEY`, so a client cannot make up
//!   or edit a cursor at all, and nothing is parsed before the tag has been verified (in
//!   constant time, by `hmac`'s `verify_slice`);
//! - it names the query it continues (sort, category, search terms, archived), so a token
//!   from another search or sort is refused instead of skipping or repeating items;
//! - its first byte is a format version, so a later format can be told apart (and refused
//!   cleanly) instead of being misread.
//!
//! Layout: `base64url(VERSION ‖ body JSON ‖ HMAC-SHA256(key, DOMAIN ‖ VERSION ‖ body JSON))`.
//! Every refusal is INVALID_ARGUMENT on `page_token` with ErrorInfo reason
//! `INVALID_PAGE_TOKEN`, and says no more than "not a token for this query" about why a
//! signature failed.

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tonic::Status;

use crate::store::{After, SortKey};

type HmacSha256 = Hmac<Sha256>;

/// The key used when `SHOP_PAGE_TOKEN_KEY` is not set: public, so anyone can sign tokens
/// with it. Fine on a laptop; `SHOP_ENV=production` refuses to start with it.
pub const DEV_PAGE_TOKEN_KEY: &str = "dev-only-shop-product-page-token-key-not-a-secret";
/// HMAC-SHA256 keys shorter than its 32-byte output are weaker than the tag.
pub const MIN_KEY_BYTES: usize = 32;
/// The ErrorInfo reason of every refused token (agreed with the BFF).
pub const INVALID_PAGE_TOKEN: &str = "INVALID_PAGE_TOKEN";

const VERSION: u8 = 1;
/// Separates these tags from any other MAC someone might one day compute with the same key.
const DOMAIN: &[u8] = b"shop.product.v1.ListProducts/page_token\0";
const TAG_BYTES: usize = 32;
/// Far above any token we issue (a 200-character name and 8 search terms of 32 characters
/// stay under 3 KiB even in 4-byte UTF-8), and checked before decoding so a huge token
/// costs nothing.
const MAX_TOKEN_CHARS: usize = 4096;

/// The query a token was issued for, which the request presenting it must repeat.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(rename = "c")]
    pub category: String,
    #[serde(rename = "t")]
    pub terms: Vec<String>,
    #[serde(rename = "a")]
    pub archived: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(rename = "q")]
    query: Query,
    #[serde(rename = "p")]
    after: After,
}

/// Why a token was refused. Only [`TokenError::Foreign`] and [`TokenError::Version`] are
/// told apart in the answer; a bad signature looks like any other unknown token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not base64url, too short or too long, or a signature that does not verify.
    NotIssued,
    /// A format version this release does not read.
    Version,
    /// Genuine, but for another sort order, search, category or archived filter.
    Foreign,
}

impl From<TokenError> for Status {
    fn from(error: TokenError) -> Self {
        let description = match error {
            TokenError::NotIssued => "is not a page token issued for this list",
            TokenError::Version => {
                "comes from another version of the service; start again from the first page"
            }
            TokenError::Foreign => {
                "belongs to a different query (sort, search, category or archived filter); \
                 repeat that query or start again from the first page"
            }
        };
        let mut details = tonic_types::ErrorDetails::new();
        details.add_bad_request_violation("page_token", description);
        details.set_error_info(
            INVALID_PAGE_TOKEN,
            shop_kit::error::ERROR_DOMAIN,
            std::collections::HashMap::new(),
        );
        use tonic_types::StatusExt as _;
        Status::with_error_details(
            tonic::Code::InvalidArgument,
            format!("invalid request: page_token: {description}"),
            details,
        )
    }
}

/// Signs new tokens with the current key and accepts tokens signed with it or, during a
/// rotation, with the previous one.
#[derive(Clone)]
pub struct TokenKeys {
    current: HmacSha256,
    previous: Option<HmacSha256>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").finish_non_exhaustive()
    }
}

fn mac(key: &str, setting: &str) -> anyhow::Result<HmacSha256> {
    if key.len() < MIN_KEY_BYTES {
        anyhow::bail!(
            "{setting} must be at least {MIN_KEY_BYTES} bytes (e.g. `openssl rand -base64 32`)"
        );
    }
    HmacSha256::new_from_slice(key.as_bytes())
        .map_err(|error| anyhow::anyhow!("{setting}: {error}"))
}

impl TokenKeys {
    /// `previous` empty or `None` means no rotation is under way.
    pub fn new(current: &str, previous: Option<&str>) -> anyhow::Result<Self> {
        Ok(Self {
            current: mac(current, "SHOP_PAGE_TOKEN_KEY")?,
            previous: previous
                .filter(|key| !key.is_empty())
                .map(|key| mac(key, "SHOP_PAGE_TOKEN_PREVIOUS_KEY"))
                .transpose()?,
        })
    }

    fn tag(key: &HmacSha256, signed: &[u8]) -> HmacSha256 {
        let mut mac = key.clone();
        mac.update(DOMAIN);
        mac.update(signed);
        mac
    }

    /// The token that continues `query` after `after`.
    pub fn issue(&self, query: &Query, after: After) -> Result<String, serde_json::Error> {
        let body = serde_json::to_vec(&Body {
            query: query.clone(),
            after,
        })?;
        let mut token = Vec::with_capacity(1 + body.len() + TAG_BYTES);
        token.push(VERSION);
        token.extend_from_slice(&body);
        let tag = Self::tag(&self.current, &token).finalize().into_bytes();
        token.extend_from_slice(&tag);
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(token))
    }

    /// `None` for the empty token (the first page); the cursor of a token this service
    /// issued for exactly `sort` and `query`; otherwise the reason for refusing it.
    pub fn open(
        &self,
        token: &str,
        sort: SortKey,
        query: &Query,
    ) -> Result<Option<After>, TokenError> {
        if token.is_empty() {
            return Ok(None);
        }
        if token.len() > MAX_TOKEN_CHARS {
            return Err(TokenError::NotIssued);
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| TokenError::NotIssued)?;
        let Some(signed_len) = bytes.len().checked_sub(TAG_BYTES).filter(|n| *n > 1) else {
            return Err(TokenError::NotIssued);
        };
        // Another layout may sign differently, so the version decides before the tag.
        if bytes[0] != VERSION {
            return Err(TokenError::Version);
        }
        let (signed, tag) = bytes.split_at(signed_len);
        let verifies = |key: &HmacSha256| Self::tag(key, signed).verify_slice(tag).is_ok();
        if !verifies(&self.current) && !self.previous.as_ref().is_some_and(verifies) {
            return Err(TokenError::NotIssued);
        }
        // Signed by us, so this parse only fails if a release changed the body without
        // bumping VERSION; still the caller's token to drop, never INTERNAL.
        let body: Body = serde_json::from_slice(&signed[1..]).map_err(|_| TokenError::NotIssued)?;
        if body.after.sort() != sort || body.query != *query {
            return Err(TokenError::Foreign);
        }
        Ok(Some(body.after))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query() -> Query {
        Query {
            category: "kitchen".into(),
            terms: vec!["mug".into()],
            archived: false,
        }
    }

    fn after() -> After {
        After::Name {
            name: "coffee mug".into(),
            id: uuid::Uuid::now_v7(),
        }
    }

    #[test]
    fn tokens_round_trip_under_the_current_and_the_previous_key() {
        let old = TokenKeys::new(&"o".repeat(32), None).unwrap();
        let keys = TokenKeys::new(&"n".repeat(32), Some(&"o".repeat(32))).unwrap();
        let cursor = after();
        for issuer in [&old, &keys] {
            let token = issuer.issue(&query(), cursor.clone()).unwrap();
            assert_eq!(
                keys.open(&token, SortKey::Name, &query()),
                Ok(Some(cursor.clone()))
            );
        }
        let new_token = keys.issue(&query(), cursor).unwrap();
        assert_eq!(
            old.open(&new_token, SortKey::Name, &query()),
            Err(TokenError::NotIssued)
        );
        assert_eq!(keys.open("", SortKey::Name, &query()), Ok(None));
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(TokenKeys::new("short", None).is_err());
        assert!(TokenKeys::new(&"k".repeat(32), Some("short")).is_err());
        assert!(TokenKeys::new(&"k".repeat(32), Some("")).is_ok());
        assert!(TokenKeys::new(DEV_PAGE_TOKEN_KEY, None).is_ok());
    }

    #[test]
    fn a_token_for_another_sort_or_query_is_foreign() {
        let keys = TokenKeys::new(DEV_PAGE_TOKEN_KEY, None).unwrap();
        let token = keys.issue(&query(), after()).unwrap();
        assert_eq!(
            keys.open(&token, SortKey::Newest, &query()),
            Err(TokenError::Foreign)
        );
        let other = Query {
            archived: true,
            ..query()
        };
        assert_eq!(
            keys.open(&token, SortKey::Name, &other),
            Err(TokenError::Foreign)
        );
    }

    #[test]
    fn another_version_is_named_as_such() {
        let keys = TokenKeys::new(DEV_PAGE_TOKEN_KEY, None).unwrap();
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(keys.issue(&query(), after()).unwrap())
            .unwrap();
        bytes[0] = VERSION + 1;
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        assert_eq!(
            keys.open(&token, SortKey::Name, &query()),
            Err(TokenError::Version)
        );
    }
}
