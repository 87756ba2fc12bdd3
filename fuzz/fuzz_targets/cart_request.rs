//! What Cart checks at the edge of every request: the cart reference (a guest UUID or a user
//! id), AddItem's idempotency key, and quantities against the configured limits. Whatever
//! the input, nothing panics, every refusal is a field violation (never an empty answer),
//! and what is accepted keeps the documented rule and parses again to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shop_cart::domain::{CartRef, GuestCartId, IdempotencyKey, Limits, USER_ID_MAX_LEN, UserId};
use shop_kit::FieldViolations;
use shop_kit::ids::IDEMPOTENCY_KEY_MAX_LEN;
use shop_proto::shop::cart::v1 as pb;

/// The fuzzer's bytes: a 17-byte prefix (which key the cart reference sets: 0 none, odd a
/// guest id, else a user id; `max_lines` and `max_quantity_per_line`, little-endian u32; the
/// quantity, i64), then the key's text and the idempotency key, the first ended by a
/// newline. Plain text after the prefix, so the seeds are readable.
#[derive(Debug)]
struct Input {
    key: Option<(bool, String)>,
    idempotency_key: String,
    max_lines: u32,
    max_quantity_per_line: u32,
    quantity: i64,
}

impl Input {
    fn read(data: &[u8]) -> Option<Self> {
        let (prefix, text) = data.split_at_checked(17)?;
        let text = std::str::from_utf8(text).ok()?;
        let (key, idempotency_key) = text.split_once('\n')?;
        Some(Self {
            key: (prefix[0] != 0).then(|| (prefix[0] % 2 == 1, key.to_owned())),
            idempotency_key: idempotency_key.to_owned(),
            max_lines: u32::from_le_bytes(prefix[1..5].try_into().ok()?),
            max_quantity_per_line: u32::from_le_bytes(prefix[5..9].try_into().ok()?),
            quantity: i64::from_le_bytes(prefix[9..17].try_into().ok()?),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    // The cart reference, as CartRef::parse sees it.
    let cart = input.key.clone().map(|(guest, raw)| pb::CartRef {
        key: Some(if guest {
            pb::cart_ref::Key::GuestCartId(raw)
        } else {
            pb::cart_ref::Key::UserId(raw)
        }),
    });
    let mut violations = FieldViolations::new();
    let parsed = CartRef::parse(cart.as_ref(), "cart", &mut violations);
    assert_eq!(
        parsed.is_none(),
        !violations.is_empty(),
        "a refused cart reference names its field, an accepted one names none"
    );
    match (&parsed, &input.key) {
        (Some(CartRef::Guest(id)), Some((true, raw))) => {
            let hyphenated = id.as_str().to_owned();
            assert_eq!(hyphenated.len(), 36);
            assert_eq!(hyphenated, hyphenated.to_ascii_lowercase());
            let Ok(given) = uuid::Uuid::parse_str(raw.trim()) else {
                panic!("accepted a guest id that is not a UUID: {raw:?}");
            };
            assert_eq!(
                given.hyphenated().to_string(),
                hyphenated,
                "not the id given"
            );
            assert_eq!(given.get_version_num(), 4, "a guessable guest id");
            assert_eq!(given.get_variant(), uuid::Variant::RFC4122);
            assert!(GuestCartId::parse(&hyphenated).is_ok_and(|again| again == *id));
        }
        (Some(CartRef::User(user)), Some((false, raw))) => {
            let text = user.as_str();
            assert!((1..=USER_ID_MAX_LEN).contains(&text.len()), "{text:?}");
            assert!(
                text.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
            assert_eq!(text, raw.trim());
            assert_eq!(UserId::parse(text).as_ref(), Ok(user));
            assert_eq!(
                parsed.as_ref().map(CartRef::cart_id),
                Some(format!("user:{text}"))
            );
        }
        (None, _) => {}
        (other, key) => panic!("{key:?} parsed as {other:?}"),
    }

    // AddItem's retry key.
    match IdempotencyKey::parse_optional(&input.idempotency_key) {
        Ok(None) => assert!(input.idempotency_key.trim().is_empty()),
        Ok(Some(key)) => {
            let text = key.as_str();
            assert!(!text.is_empty() && text.len() <= IDEMPOTENCY_KEY_MAX_LEN);
            assert!(text.chars().all(|c| c.is_ascii_graphic()), "{text:?}");
            assert_eq!(IdempotencyKey::parse_optional(text), Ok(Some(key.clone())));
        }
        Err(_) => assert!(!input.idempotency_key.trim().is_empty()),
    }

    // Quantities: exactly the documented ranges, and the number itself when accepted.
    let Ok(limits) = Limits::new(input.max_lines, input.max_quantity_per_line) else {
        return;
    };
    let max = i64::from(limits.max_quantity_per_line);
    let raw = input.quantity;
    match limits.units_to_add(raw) {
        Ok(units) => assert!((1..=max).contains(&raw) && i64::from(units) == raw),
        Err(_) => assert!(!(1..=max).contains(&raw)),
    }
    match limits.new_quantity(raw) {
        Ok(quantity) => assert!((0..=max).contains(&raw) && i64::from(quantity) == raw),
        Err(_) => assert!(!(0..=max).contains(&raw)),
    }
});
