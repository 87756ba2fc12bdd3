//! Per-account login throttle: after a few failed sign-ins for one email, each further attempt
//! must wait a delay that doubles per failure up to a cap. The state is in MySQL, so it holds
//! across replicas and whatever client address a caller claims.
//!
//! Every attempt is counted *before* the password is checked, in one row-locked transaction
//! that also decides whether the attempt may go ahead; a success then clears the count. So a
//! burst of parallel guesses cannot all pass the check before any of them is recorded: exactly
//! `free_failures` get through, then the delays apply.
//!
//! Rows are keyed by a keyed hash of the normalised email, never the email: unknown emails are
//! throttled exactly like existing ones (the answer reveals nothing), and the table does not
//! list who tried to sign in, nor can its keys be confirmed by hashing guessed addresses.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256, Sha512};
use shop_kit::ServiceError;
use sqlx::MySqlPool;

use crate::domain::Email;
use crate::store::{self, StoreError};

pub const THROTTLED_REASON: &str = "LOGIN_THROTTLED";
/// Deadlocks between row-locking transactions on one key are rare and harmless to retry.
const DEADLOCK_RETRIES: usize = 3;

/// The back-off rule, from configuration.
#[derive(Debug, Clone)]
pub struct ThrottlePolicy {
    /// Failures allowed in a row before any delay applies.
    pub free_failures: u32,
    /// The wait after the first failure beyond the free ones; doubles with each further one.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// A count untouched this long starts over: old mistakes do not slow a user down forever.
    pub forget_after: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; `failures` is the count to store, this attempt included.
    Allowed {
        failures: u32,
    },
    Locked {
        retry_after: Duration,
    },
}

impl ThrottlePolicy {
    /// How long after the latest attempt the next one must wait, with `failures` counted.
    pub fn delay(&self, failures: u32) -> Duration {
        let Some(doublings) = failures.checked_sub(self.free_failures) else {
            return Duration::ZERO;
        };
        let factor = 1u32.checked_shl(doublings).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    pub fn decide(
        &self,
        failures: u32,
        last_attempt_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Decision {
        // A clock that went backwards counts as no time elapsed: stricter, never looser.
        let elapsed = (now - last_attempt_at).to_std().unwrap_or(Duration::ZERO);
        if elapsed >= self.forget_after {
            return Decision::Allowed { failures: 1 };
        }
        let delay = self.delay(failures);
        if elapsed < delay {
            Decision::Locked {
                retry_after: delay - elapsed,
            }
        } else {
            Decision::Allowed {
                failures: failures.saturating_add(1),
            }
        }
    }
}

/// The throttle of one service instance: its policy and the key for email hashes.
#[derive(Clone)]
pub struct LoginThrottle {
    policy: ThrottlePolicy,
    /// Keyed with a full block (64 bytes), so construction cannot fail.
    mac: Hmac<Sha256>,
}

/// The row key for one email.
pub struct AccountKey([u8; 32]);

impl LoginThrottle {
    /// `secret` must be the same on every replica and unknown to outsiders; the service
    /// derives it from its JWT signing key, so there is no extra secret to manage (a key
    /// rotation just starts every count afresh).
    pub fn new(policy: ThrottlePolicy, secret: &[u8]) -> Self {
        let key = Sha512::new()
            .chain_update(b"shop-user login throttle v1\0")
            .chain_update(secret)
            .finalize();
        Self {
            policy,
            mac: <Hmac<Sha256> as KeyInit>::new(&key),
        }
    }

    pub fn account_key(&self, email: &Email) -> AccountKey {
        let mut mac = self.mac.clone();
        mac.update(email.as_str().as_bytes());
        AccountKey(mac.finalize().into_bytes().into())
    }

    /// Counts an attempt for `account`, or refuses it while the account is locked. Must be
    /// called before the password is checked, and the password must not be checked when it
    /// fails.
    pub async fn begin_attempt(
        &self,
        pool: &MySqlPool,
        account: &AccountKey,
    ) -> Result<(), ServiceError> {
        let mut tries = 0;
        loop {
            tries += 1;
            match self.try_begin_attempt(pool, account).await {
                Err(StoreError::Database(error))
                    if tries < DEADLOCK_RETRIES && shop_kit::mysql::is_deadlock(&error) => {}
                Err(error) => return Err(error.into()),
                Ok(Decision::Allowed { .. }) => return Ok(()),
                Ok(Decision::Locked { retry_after }) => {
                    return Err(ServiceError::ResourceExhausted {
                        reason: THROTTLED_REASON,
                        // One text for every account, known or not.
                        message: "too many failed sign-in attempts; try again later".into(),
                        // Whole seconds: enough for a client, and no finer timing to compare.
                        retry_after: Some(Duration::from_secs(
                            retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0),
                        )),
                    });
                }
            }
        }
    }

    async fn try_begin_attempt(
        &self,
        pool: &MySqlPool,
        account: &AccountKey,
    ) -> Result<Decision, StoreError> {
        let mut tx = pool.begin().await?;
        let state = store::lock_login_attempts(&mut tx, &account.0).await?;
        let decision = self
            .policy
            .decide(state.failures, state.last_attempt_at, state.now);
        if let Decision::Allowed { failures } = decision {
            store::record_login_attempt(&mut *tx, &account.0, failures, state.now).await?;
        }
        tx.commit().await?;
        Ok(decision)
    }

    /// After a successful sign-in: the count starts over.
    pub async fn succeeded(
        &self,
        pool: &MySqlPool,
        account: &AccountKey,
    ) -> Result<(), ServiceError> {
        store::clear_login_attempts(pool, &account.0).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 3,
            base_delay: Duration::from_secs(2),
            max_delay: Duration::from_secs(60),
            forget_after: Duration::from_secs(3600),
        }
    }

    #[test]
    fn the_delay_doubles_after_the_free_failures_up_to_the_cap() {
        let p = policy();
        let delays: Vec<u64> = (0..10).map(|f| p.delay(f).as_secs()).collect();
        assert_eq!(delays, [0, 0, 0, 2, 4, 8, 16, 32, 60, 60]);
        assert_eq!(p.delay(u32::MAX), p.max_delay);
    }

    #[test]
    fn decisions() {
        let p = policy();
        let t0 = Utc::now();
        let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
        assert_eq!(p.decide(0, t0, t0), Decision::Allowed { failures: 1 });
        assert_eq!(p.decide(2, t0, t0), Decision::Allowed { failures: 3 });
        assert_eq!(
            p.decide(3, t0, at(1)),
            Decision::Locked {
                retry_after: Duration::from_secs(1)
            }
        );
        assert_eq!(p.decide(3, t0, at(2)), Decision::Allowed { failures: 4 });
        assert_eq!(
            p.decide(9, t0, at(3599)).clone(),
            Decision::Allowed { failures: 10 }
        );
        assert_eq!(
            p.decide(50, t0, at(3600)),
            Decision::Allowed { failures: 1 }
        );
        // A clock behind the last attempt: treated as no time elapsed.
        assert!(matches!(p.decide(3, at(10), t0), Decision::Locked { .. }));
    }

    #[test]
    fn account_keys_depend_on_the_secret_and_the_normalised_email() {
        let a = LoginThrottle::new(policy(), b"secret a");
        let b = LoginThrottle::new(policy(), b"secret b");
        let ann = Email::parse("Ann@Example.com").unwrap();
        let ann2 = Email::parse("ann@example.com ").unwrap();
        assert_eq!(a.account_key(&ann).0, a.account_key(&ann2).0);
        assert_ne!(a.account_key(&ann).0, b.account_key(&ann).0);
        assert_ne!(
            a.account_key(&ann).0,
            <[u8; 32]>::from(Sha256::digest(ann.as_str()))
        );
    }
}
