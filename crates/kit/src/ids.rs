//! The ids that cross the wire, beside [`crate::Sku`]: each is parsed once, by one rule, where
//! a request or an event enters a service, so the code behind the parse holds a value that is
//! known to be well formed and says which kind of id it is.
//!
//! UUID ids are kept in the form the databases store them (lower-case, hyphenated), so a
//! client may send any spelling `uuid` accepts (upper-case, braces, simple) and still find its
//! order. A parse error names the kind of id; the caller adds the field it came from
//! ([`crate::FieldViolations::check`]), so a violation reads "payment_id: must be a payment
//! id (UUID)".

use std::fmt;

use uuid::Uuid;

/// Why a UUID id was refused: names what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be {0} (UUID)")]
pub struct InvalidId(&'static str);

/// The read side every string id shares: `as_str`, `into_string` and `Display` of the
/// inner string (parsing, the one thing that differs, stays with each type).
macro_rules! string_id {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
pub(crate) use string_id;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                Uuid::parse_str(raw.trim())
                    .map(|id| Self(id.hyphenated().to_string()))
                    .map_err(|_| InvalidId($what))
            }

            /// A fresh id: UUIDv7, so ids sort by creation time (lists page by id).
            pub fn generate() -> Self {
                Self(Uuid::now_v7().hyphenated().to_string())
            }
        }

        string_id!($name);
    };
}

uuid_id!(
    /// An order, as Order issues it and Payment and Inventory refer to it.
    OrderId,
    "an order id"
);
uuid_id!(
    /// A payment in Payment's ledger; Order picks it when it requests the payment.
    PaymentId,
    "a payment id"
);
uuid_id!(
    /// A product in the catalog (its SKU is the key the other services use).
    ProductId,
    "a product id"
);
uuid_id!(
    /// A user account, as User issues it and tokens carry it in `sub`.
    UserId,
    "a user id"
);

/// A guest cart's id: a random (version 4) UUID, lower-case hyphenated. Knowing it is what
/// grants access to the cart, so ids that could be guessed or enumerated (nil, time-based,
/// name-based) are refused instead of becoming weak bearer secrets. Never logged: `Debug`
/// is redacted and there is no `Display`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct GuestCartId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidGuestCartId {
    #[error("must be a UUID such as 8c4c1c1e-3f1d-4b52-9d7a-0c6f0e8a2b11")]
    NotAUuid,
    #[error("must be a random (version 4) UUID: the id is the guest's only credential")]
    NotRandom,
}

impl GuestCartId {
    pub fn parse(raw: &str) -> Result<Self, InvalidGuestCartId> {
        let id = Uuid::parse_str(raw.trim()).map_err(|_| InvalidGuestCartId::NotAUuid)?;
        if id.get_version_num() != 4 || id.get_variant() != uuid::Variant::RFC4122 {
            return Err(InvalidGuestCartId::NotRandom);
        }
        Ok(Self(id.hyphenated().to_string()))
    }

    /// A fresh id for a new guest cart.
    pub fn generate() -> Self {
        Self(Uuid::new_v4().hyphenated().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Redacted: the id is a credential.
impl fmt::Debug for GuestCartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GuestCartId(***)")
    }
}

/// The most characters an idempotency key may have (a UUID fits comfortably).
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 128;

/// A client-chosen key that makes a request safe to retry: 1 to 128 printable ASCII
/// characters without spaces (UUIDs, ULIDs and the like), trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidIdempotencyKey {
    #[error("is required: retries of one request must send the same key")]
    Missing,
    #[error("must be at most 128 printable ASCII characters without spaces")]
    Malformed,
}

impl IdempotencyKey {
    /// For requests that cannot be retried safely without a key.
    pub fn parse(raw: &str) -> Result<Self, InvalidIdempotencyKey> {
        Self::parse_optional(raw)?.ok_or(InvalidIdempotencyKey::Missing)
    }

    /// For requests where the key is optional: an empty (or blank) string means "no key".
    pub fn parse_optional(raw: &str) -> Result<Option<Self>, InvalidIdempotencyKey> {
        let key = raw.trim();
        if key.is_empty() {
            return Ok(None);
        }
        if key.len() > IDEMPOTENCY_KEY_MAX_LEN || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(InvalidIdempotencyKey::Malformed);
        }
        Ok(Some(Self(key.to_owned())))
    }
}

string_id!(IdempotencyKey);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FieldViolations;

    #[test]
    fn uuid_ids_are_stored_lower_case_hyphenated() {
        let id = OrderId::parse(" 0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B ").unwrap();
        assert_eq!(id.as_str(), "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(
            PaymentId::parse("0190a1b2c3d47e5f8a9b0c1d2e3f4a5b")
                .unwrap()
                .as_str(),
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
        );
        let fresh = OrderId::generate();
        assert_eq!(OrderId::parse(fresh.as_str()), Ok(fresh));
    }

    #[test]
    fn a_bad_uuid_is_a_violation_naming_the_field_and_the_kind_of_id() {
        let mut violations = FieldViolations::new();
        assert_eq!(violations.check("id", OrderId::parse("42")), None);
        assert_eq!(violations.check("payment_id", PaymentId::parse("")), None);
        assert_eq!(
            violations.check("user_id", UserId::parse("not-a-uuid")),
            None
        );
        let seen: Vec<_> = violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("id", "must be an order id (UUID)"),
                ("payment_id", "must be a payment id (UUID)"),
                ("user_id", "must be a user id (UUID)"),
            ]
        );
    }

    #[test]
    fn guest_cart_ids_are_random_uuids_and_never_shown() {
        let id = GuestCartId::parse(" 8C4C1C1E-3F1D-4B52-9D7A-0C6F0E8A2B11 ").unwrap();
        assert_eq!(id.as_str(), "8c4c1c1e-3f1d-4b52-9d7a-0c6f0e8a2b11");
        assert_eq!(format!("{id:?}"), "GuestCartId(***)");
        assert_eq!(
            GuestCartId::parse("nope"),
            Err(InvalidGuestCartId::NotAUuid)
        );
        for guessable in [
            "00000000-0000-0000-0000-000000000000",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
        ] {
            assert_eq!(
                GuestCartId::parse(guessable),
                Err(InvalidGuestCartId::NotRandom)
            );
        }
        assert!(GuestCartId::parse(GuestCartId::generate().as_str()).is_ok());
    }

    #[test]
    fn idempotency_keys_are_bounded_printable_ascii() {
        assert_eq!(IdempotencyKey::parse(" k-1 ").unwrap().as_str(), "k-1");
        assert_eq!(
            IdempotencyKey::parse(" "),
            Err(InvalidIdempotencyKey::Missing)
        );
        assert_eq!(IdempotencyKey::parse_optional(""), Ok(None));
        let longest = "k".repeat(IDEMPOTENCY_KEY_MAX_LEN);
        assert!(IdempotencyKey::parse(&longest).is_ok());
        for bad in [&format!("{longest}k"), "a b", "schlüssel", "tab\tkey"] {
            assert_eq!(
                IdempotencyKey::parse_optional(bad),
                Err(InvalidIdempotencyKey::Malformed),
                "{bad:?}"
            );
        }
    }
}
