//! ListProducts page tokens come back from clients, so they are hostile input. Whatever the
//! token, `TokenKeys::open` answers without panicking, and:
//! - a token it accepts is exactly the token the service would issue for that cursor (so the
//!   only tokens that open are ones signed here);
//! - a token issued for a cursor opens to that cursor, under the current key and, during a
//!   rotation, under the next key;
//! - it is refused for another sort order or another query (Foreign);
//! - any one character changed, it is refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shop_product::page_token::{Query, TokenError, TokenKeys};
use shop_product::store::{After, SortKey};

const KEY: &str = "fuzz-page-token-key-of-32-bytes-or-more";
const NEXT_KEY: &str = "fuzz-page-token-next-key-of-32-bytes-or-more";
/// `page_token`'s own bound, past which a token is refused before decoding.
const MAX_TOKEN_CHARS: usize = 4096;
const BASE64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The fuzzer's bytes: a 29-byte prefix (sort order, u8; archived, u8; price, little-endian
/// i64; the cursor's UUID, 16 bytes; where and to what to change one character of the token,
/// u16 and u8), then lines of text: the token a client sends, the category, the cursor's
/// name, and each further line a search term. Plain text after the prefix, so the seeds are
/// readable.
struct Input {
    token: String,
    sort: u8,
    category: String,
    terms: Vec<String>,
    archived: bool,
    name: String,
    price: i64,
    id: [u8; 16],
    change_at: usize,
    change_to: u8,
}

impl Input {
    fn read(data: &[u8]) -> Option<Self> {
        let (prefix, text) = data.split_at_checked(29)?;
        let mut lines = std::str::from_utf8(text).ok()?.split('\n');
        Some(Self {
            sort: prefix[0],
            archived: prefix[1] % 2 == 1,
            price: i64::from_le_bytes(prefix[2..10].try_into().ok()?),
            id: prefix[10..26].try_into().ok()?,
            change_at: usize::from(u16::from_le_bytes(prefix[26..28].try_into().ok()?)),
            change_to: prefix[28],
            token: lines.next()?.to_owned(),
            category: lines.next().unwrap_or_default().to_owned(),
            name: lines.next().unwrap_or_default().to_owned(),
            terms: lines.map(str::to_owned).collect(),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let (Ok(keys), Ok(rotated)) = (
        TokenKeys::new(KEY, None),
        TokenKeys::new(NEXT_KEY, Some(KEY)),
    ) else {
        panic!("the fuzz keys are long enough");
    };
    let query = Query {
        category: input.category,
        terms: input.terms,
        archived: input.archived,
    };
    let id = uuid::Uuid::from_bytes(input.id);
    let after = match input.sort % 4 {
        0 => After::Name {
            name: input.name,
            id,
        },
        1 => After::PriceAsc {
            price: input.price,
            id,
        },
        2 => After::PriceDesc {
            price: input.price,
            id,
        },
        _ => After::Newest { id },
    };
    let sort = after.sort();

    // Anything a client sends.
    if let Ok(Some(cursor)) = keys.open(&input.token, sort, &query) {
        assert_eq!(
            keys.issue(&query, cursor).ok().as_deref(),
            Some(input.token.as_str()),
            "opened a token the service would not have issued"
        );
    }

    // What the service issues.
    let Ok(token) = keys.issue(&query, after.clone()) else {
        return;
    };
    if token.len() > MAX_TOKEN_CHARS {
        assert_eq!(keys.open(&token, sort, &query), Err(TokenError::NotIssued));
        return;
    }
    assert_eq!(keys.open(&token, sort, &query), Ok(Some(after.clone())));
    assert_eq!(rotated.open(&token, sort, &query), Ok(Some(after)));
    for other in [
        SortKey::Name,
        SortKey::PriceAsc,
        SortKey::PriceDesc,
        SortKey::Newest,
    ] {
        if other != sort {
            assert_eq!(keys.open(&token, other, &query), Err(TokenError::Foreign));
        }
    }
    let mut other_query = query.clone();
    other_query.archived = !other_query.archived;
    assert_eq!(
        keys.open(&token, sort, &other_query),
        Err(TokenError::Foreign)
    );

    let mut bytes = token.into_bytes();
    let at = input.change_at % bytes.len();
    let replacement = BASE64URL[usize::from(input.change_to) % BASE64URL.len()];
    if bytes[at] == replacement {
        return;
    }
    bytes[at] = replacement;
    let Ok(tampered) = String::from_utf8(bytes) else {
        panic!("base64url is ASCII");
    };
    assert!(
        keys.open(&tampered, sort, &query).is_err(),
        "a token with one character changed still opens"
    );
});
