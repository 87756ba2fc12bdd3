//! AIP-158 paging helpers shared by every List RPC: page-size clamping and opaque page
//! tokens. A token is base64url JSON of whatever cursor the service needs (typically the
//! sort key and id of the last item: keyset paging, stable under concurrent inserts), so
//! clients cannot depend on its shape.

use base64::Engine as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ServiceError;

/// The page size to use: `default` for 0, `max` at most, INVALID_ARGUMENT when negative.
pub fn page_size(requested: i32, default: u32, max: u32) -> Result<u32, ServiceError> {
    match requested {
        n if n < 0 => Err(ServiceError::invalid("page_size", "must not be negative")),
        0 => Ok(default.min(max)),
        n => Ok((n as u32).min(max)),
    }
}

pub fn encode_token<T: Serialize>(cursor: &T) -> String {
    let json = serde_json::to_vec(cursor).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

/// `None` for an empty token (the first page); INVALID_ARGUMENT on `page_token` for a token
/// this service did not issue.
pub fn decode_token<T: DeserializeOwned>(token: &str) -> Result<Option<T>, ServiceError> {
    if token.is_empty() {
        return Ok(None);
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .map(Some)
        .ok_or_else(|| ServiceError::invalid("page_token", "is not a token from a previous page"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Cursor {
        name: String,
        id: String,
    }

    #[test]
    fn tokens_round_trip_and_garbage_is_invalid_argument() {
        let cursor = Cursor {
            name: "widget".into(),
            id: "42".into(),
        };
        let token = encode_token(&cursor);
        assert_eq!(decode_token::<Cursor>(&token).unwrap(), Some(cursor));
        assert_eq!(decode_token::<Cursor>("").unwrap(), None);
        assert!(matches!(
            decode_token::<Cursor>("%%%"),
            Err(ServiceError::InvalidArgument(_))
        ));
    }

    #[test]
    fn page_sizes_are_clamped() {
        assert_eq!(page_size(0, 20, 100).unwrap(), 20);
        assert_eq!(page_size(500, 20, 100).unwrap(), 100);
        assert_eq!(page_size(7, 20, 100).unwrap(), 7);
        assert!(page_size(-1, 20, 100).is_err());
    }
}
