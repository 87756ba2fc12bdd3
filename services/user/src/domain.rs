//! Account values that can only hold valid data: an `Email` is normalised and well-formed,
//! a `Password` meets the policy, a `DisplayName` is printable. Parsing happens once, at the
//! edge, so the rest of the service never re-checks.

use std::fmt;

use base64::Engine as _;
use rand::RngCore as _;
use sha2::Digest as _;
use shop_kit::{FieldViolations, ServiceError};
use shop_proto::shop::user::v1 as pb;

pub const PASSWORD_MIN_CHARS: usize = 10;
pub const PASSWORD_MAX_CHARS: usize = 128;
/// The most bytes `PASSWORD_MAX_CHARS` characters can take in UTF-8: checked first, so an
/// oversized input is refused without even counting its characters.
pub const PASSWORD_MAX_BYTES: usize = PASSWORD_MAX_CHARS * 4;
pub const NAME_MAX_CHARS: usize = 100;
const EMAIL_MAX_LEN: usize = 254;
const LOCAL_PART_MAX_LEN: usize = 64;

/// An email address, trimmed and lower-cased so that `Ann@Example.com` and
/// `ann@example.com` are one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err(Invalid("is required"));
        }
        if email.len() > EMAIL_MAX_LEN {
            return Err(Invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = email.split_once('@') else {
            return Err(Invalid("must be an email address like name@example.com"));
        };
        let local_ok = !local.is_empty()
            && local.len() <= LOCAL_PART_MAX_LEN
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Email(email))
        } else {
            Err(Invalid("must be an email address like name@example.com"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the policy. NIST SP 800-63B: length matters, composition rules do
/// not, so the policy is a length range plus "not your email".
pub struct Password(String);

/// The upper bound shared by new passwords and sign-in attempts: argon2 reads its input in
/// full, so an unbounded one would let a caller buy CPU time by the megabyte.
fn check_max_len(raw: &str) -> Result<(), Invalid> {
    if raw.len() > PASSWORD_MAX_BYTES || raw.chars().count() > PASSWORD_MAX_CHARS {
        return Err(Invalid("must be at most 128 characters"));
    }
    Ok(())
}

impl Password {
    pub fn parse(raw: String, email: Option<&Email>) -> Result<Self, Invalid> {
        check_max_len(&raw)?;
        if raw.chars().count() < PASSWORD_MIN_CHARS {
            return Err(Invalid("must be at least 10 characters"));
        }
        if raw.trim().is_empty() {
            return Err(Invalid("must not be only spaces"));
        }
        if email.is_some_and(|email| raw.trim().eq_ignore_ascii_case(email.as_str())) {
            return Err(Invalid("must not be your email address"));
        }
        Ok(Password(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A password presented to be checked (sign-in, or the current one when changing it). Only
/// bounded, not held to the policy: that is for the stored password to meet, and a short
/// guess must simply fail like any wrong one.
pub struct PasswordAttempt(String);

impl PasswordAttempt {
    pub fn parse(raw: String) -> Result<Self, Invalid> {
        if raw.is_empty() {
            return Err(Invalid("is required"));
        }
        check_max_len(&raw)?;
        Ok(PasswordAttempt(raw))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordAttempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordAttempt(***)")
    }
}

/// How a user is greeted: trimmed, 1 to 100 printable characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(Invalid("is required"));
        }
        if name.chars().count() > NAME_MAX_CHARS {
            return Err(Invalid("must be at most 100 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(DisplayName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Register request that passed validation.
#[derive(Debug)]
pub struct Register {
    pub email: Email,
    pub password: Password,
    pub name: DisplayName,
}

impl Register {
    pub fn parse(request: pb::RegisterRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let email = violations.check("email", Email::parse(&request.email));
        let password = violations.check(
            "password",
            Password::parse(request.password, email.as_ref()),
        );
        let name = violations.check("name", DisplayName::parse(&request.name));
        violations.finish(|| {
            Some(Register {
                email: email?,
                password: password?,
                name: name?,
            })
        })
    }
}

/// A Login request that passed validation.
#[derive(Debug)]
pub struct Login {
    pub email: Email,
    pub password: PasswordAttempt,
}

impl Login {
    pub fn parse(request: pb::LoginRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let email = violations.check("email", Email::parse(&request.email));
        let password = violations.check("password", PasswordAttempt::parse(request.password));
        violations.finish(|| {
            Some(Login {
                email: email?,
                password: password?,
            })
        })
    }
}

/// A ChangePassword request that passed validation, for the account of `email`.
#[derive(Debug)]
pub struct ChangePassword {
    pub current: PasswordAttempt,
    pub new: Password,
}

impl ChangePassword {
    pub fn parse(request: pb::ChangePasswordRequest, email: &Email) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let current = violations.check(
            "current_password",
            PasswordAttempt::parse(request.current_password),
        );
        let new = violations.check(
            "new_password",
            Password::parse(request.new_password, Some(email)),
        );
        if let (Some(current), Some(new)) = (&current, &new)
            && current.expose() == new.expose()
        {
            violations.add("new_password", "must differ from the current password");
        }
        violations.finish(|| {
            Some(ChangePassword {
                current: current?,
                new: new?,
            })
        })
    }
}

/// An opaque refresh token: 256 random bits, base64url. Only its SHA-256 is stored.
pub struct RefreshToken(String);

impl RefreshToken {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        RefreshToken(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> [u8; 32] {
        hash_refresh_token(&self.0)
    }
}

pub fn hash_refresh_token(token: &str) -> [u8; 32] {
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// A refresh token as a client presents it (Refresh, Logout): required, and from here on only
/// its hash, which is all the store keeps.
pub fn presented_refresh_token(raw: &str) -> Result<[u8; 32], ServiceError> {
    let token = raw.trim();
    if token.is_empty() {
        return Err(ServiceError::invalid("refresh_token", "is required"));
    }
    Ok(hash_refresh_token(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised() {
        let email = Email::parse("  Ann.Lee+shop@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "ann.lee+shop@example.com");
    }

    #[test]
    fn malformed_emails_are_rejected() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "ann@@example.com",
            "ann@exa mple.com",
            ".ann@example.com",
            "ann..lee@example.com",
            "ann@-example.com",
            "ann@example.c0m",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn password_policy() {
        let email = Email::parse("ann@example.com").unwrap();
        assert!(Password::parse("short".into(), None).is_err());
        assert!(Password::parse(" ".repeat(12), None).is_err());
        assert!(Password::parse("x".repeat(129), None).is_err());
        assert!(Password::parse("ANN@example.com".into(), Some(&email)).is_err());
        assert!(Password::parse("correct horse battery".into(), Some(&email)).is_ok());
        // Counted in characters, not bytes.
        assert!(Password::parse("ääääääääää".into(), None).is_ok());
        assert!(Password::parse("😀".repeat(PASSWORD_MAX_CHARS), None).is_ok());
        assert!(Password::parse("😀".repeat(PASSWORD_MAX_CHARS + 1), None).is_err());
    }

    #[test]
    fn password_attempts_are_bounded_but_not_held_to_the_policy() {
        assert!(PasswordAttempt::parse(String::new()).is_err());
        assert!(PasswordAttempt::parse("short".into()).is_ok());
        assert!(PasswordAttempt::parse("x".repeat(PASSWORD_MAX_CHARS)).is_ok());
        assert!(PasswordAttempt::parse("x".repeat(PASSWORD_MAX_CHARS + 1)).is_err());
        assert!(PasswordAttempt::parse("x".repeat(1 << 20)).is_err());
    }

    #[test]
    fn display_names() {
        assert_eq!(
            DisplayName::parse("  Ann Lee ").unwrap().as_str(),
            "Ann Lee"
        );
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
        assert!(DisplayName::parse(&"n".repeat(101)).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a.as_str(), b.as_str());
        assert_eq!(a.as_str().len(), 43);
        assert_eq!(a.hash(), hash_refresh_token(a.as_str()));
    }

    #[test]
    fn account_requests_are_parsed_into_commands_with_every_violation() {
        let register = Register::parse(pb::RegisterRequest {
            email: " Ann@Example.com ".into(),
            password: "correct horse battery".into(),
            name: "Ann".into(),
        })
        .unwrap();
        assert_eq!(register.email.as_str(), "ann@example.com");
        let bad = Register::parse(pb::RegisterRequest {
            email: "ann".into(),
            password: "short".into(),
            name: " ".into(),
        });
        assert_eq!(
            bad.unwrap_err().violated_fields(),
            ["email", "password", "name"]
        );
        assert_eq!(
            Login::parse(pb::LoginRequest::default())
                .unwrap_err()
                .violated_fields(),
            ["email", "password"]
        );
        let email = Email::parse("ann@example.com").unwrap();
        let same = ChangePassword::parse(
            pb::ChangePasswordRequest {
                current_password: "correct horse battery".into(),
                new_password: "correct horse battery".into(),
            },
            &email,
        );
        assert_eq!(same.unwrap_err().violated_fields(), ["new_password"]);
    }
}
