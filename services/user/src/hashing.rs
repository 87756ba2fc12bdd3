//! Bounded argon2id. Each hash needs 19 MiB and tens of milliseconds of a core, so unbounded
//! concurrency lets a burst of logins take the pod's memory (40 parallel logins held 1.4 GB
//! before this existed). A fixed set of permits, one per core by default, each owning its
//! argon2 memory allocated once at start-up: hashing memory is exactly permits × 19 MiB and
//! is reused, instead of being allocated per hash and kept by the allocator afterwards. A
//! caller that cannot get a permit within a short wait is told to come back
//! (RESOURCE_EXHAUSTED, `PASSWORD_HASHING_BUSY`) rather than queued without limit.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use shop_kit::ServiceError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub const BUSY_REASON: &str = "PASSWORD_HASHING_BUSY";
/// What a refused caller is told to wait: about the time a few hashes take.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The permits and their memory; cheap to clone.
#[derive(Clone)]
pub struct PasswordHashing {
    pool: Arc<Pool>,
}

struct Pool {
    permits: Arc<Semaphore>,
    /// One block vector per permit; a lease takes one and puts it back when dropped.
    memory: Mutex<Vec<Vec<Block>>>,
    /// Argon2id with the OWASP-recommended parameters (19 MiB, 2 passes, 1 lane), the
    /// crate's defaults, for new hashes.
    params: Params,
    wait: Duration,
}

impl Pool {
    fn take_memory(&self) -> Vec<Block> {
        let taken = self
            .memory
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        // There are as many vectors as permits, so one is always there for a permit holder;
        // allocating is only a fallback that keeps a logic slip from becoming an outage.
        taken.unwrap_or_else(|| vec![Block::new(); self.params.block_count()])
    }
}

impl PasswordHashing {
    /// Allocates `concurrency` × 19 MiB up front (and touches it, so it is resident from
    /// the start and the pod's memory use does not grow under load).
    pub fn new(concurrency: NonZeroUsize, wait: Duration) -> Self {
        let params = Params::default();
        let memory = (0..concurrency.get())
            .map(|_| vec![Block::new(); params.block_count()])
            .collect();
        Self {
            pool: Arc::new(Pool {
                permits: Arc::new(Semaphore::new(concurrency.get())),
                memory: Mutex::new(memory),
                params,
                wait,
            }),
        }
    }

    /// Waits at most the configured time for a permit.
    pub async fn acquire(&self) -> Result<Lease, ServiceError> {
        let permit = tokio::time::timeout(
            self.pool.wait,
            Arc::clone(&self.pool.permits).acquire_owned(),
        )
        .await
        .map_err(|_| ServiceError::ResourceExhausted {
            reason: BUSY_REASON,
            message: "the service is busy checking passwords; retry shortly".into(),
            retry_after: Some(BUSY_RETRY_AFTER),
        })?
        .map_err(ServiceError::internal)?;
        Ok(Lease {
            memory: self.pool.take_memory(),
            pool: Arc::clone(&self.pool),
            _permit: permit,
        })
    }

    /// A PHC string for a new password under a permit of its own, for callers that hash once
    /// (registration, the bootstrap admin, the dummy hash); a caller that verifies and then
    /// hashes keeps one [`Lease`] for both.
    pub async fn hash(&self, password: &str) -> Result<String, ServiceError> {
        let (hash, _lease) = self.acquire().await?.hash(password.to_owned()).await?;
        Ok(hash)
    }
}

/// The right to run argon2, with the memory to run it in. Moved into the blocking task that
/// hashes, so a caller that goes away (cancelled RPC) cannot release the permit while the
/// hash is still running: the bound holds for work in progress, not just for callers.
pub struct Lease {
    memory: Vec<Block>,
    pool: Arc<Pool>,
    /// Released after `drop` has returned the memory (fields drop after `Drop::drop`).
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let memory = std::mem::take(&mut self.memory);
        if !memory.is_empty() {
            self.pool
                .memory
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
        }
    }
}

impl Lease {
    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for a new password; the
    /// lease comes back so one caller can verify and then hash under a single permit.
    pub async fn hash(mut self, password: String) -> Result<(String, Lease), ServiceError> {
        tokio::task::spawn_blocking(move || {
            let hash = self.hash_blocking(password.as_bytes());
            (hash, self)
        })
        .await
        .map_err(ServiceError::internal)
        .and_then(|(hash, lease)| Ok((hash.map_err(ServiceError::internal)?, lease)))
    }

    /// Whether `password` matches the stored PHC string. A malformed stored hash is an
    /// internal error, not a mismatch: it means the database holds something we never wrote.
    pub async fn verify(
        mut self,
        password: String,
        stored: String,
    ) -> Result<(bool, Lease), ServiceError> {
        tokio::task::spawn_blocking(move || {
            let matches = self.verify_blocking(password.as_bytes(), &stored);
            (matches, self)
        })
        .await
        .map_err(ServiceError::internal)
        .and_then(|(matches, lease)| Ok((matches.map_err(ServiceError::internal)?, lease)))
    }

    fn hash_blocking(&mut self, password: &[u8]) -> anyhow::Result<String> {
        let params = self.pool.params.clone();
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.as_salt().decode_b64(&mut salt_buf).map_err(phc)?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password_into_with_memory(password, salt_bytes, &mut out, &mut self.memory[..])
            .map_err(argon)?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&params).map_err(phc)?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(phc)?),
        };
        Ok(hash.to_string())
    }

    fn verify_blocking(&mut self, password: &[u8], stored: &str) -> anyhow::Result<bool> {
        let parsed = PasswordHash::new(stored).map_err(phc)?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(phc)?;
        let version = parsed
            .version
            .map(Version::try_from)
            .transpose()
            .map_err(argon)?
            .unwrap_or_default();
        let params = Params::try_from(&parsed).map_err(phc)?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            anyhow::bail!("stored password hash has no salt or no output");
        };
        let mut salt_buf = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(phc)?;
        let mut out = [0u8; Output::MAX_LENGTH];
        let out = out
            .get_mut(..expected.len())
            .ok_or_else(|| anyhow::anyhow!("stored password hash output too long"))?;
        let argon2 = Argon2::new(algorithm, version, params.clone());
        if params.block_count() <= self.memory.len() {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, &mut self.memory[..])
                .map_err(argon)?;
        } else {
            // Hashed with more memory than today's parameters (a past or future policy):
            // still verifiable, at the cost of a one-off allocation.
            tracing::warn!(
                m_cost = params.m_cost(),
                "password hash needs more memory than the preallocated blocks"
            );
            argon2
                .hash_password_into(password, salt_bytes, out)
                .map_err(argon)?;
        }
        // `Output`'s equality is constant-time.
        Ok(Output::new(out).map_err(phc)? == expected)
    }
}

fn phc(error: argon2::password_hash::Error) -> anyhow::Error {
    anyhow::anyhow!("password hash: {error}")
}

fn argon(error: argon2::Error) -> anyhow::Error {
    anyhow::anyhow!("argon2: {error}")
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier as _;
    use argon2::password_hash::PasswordHasher as _;

    use super::*;

    fn hashing(concurrency: usize, wait: Duration) -> PasswordHashing {
        PasswordHashing::new(NonZeroUsize::new(concurrency).unwrap(), wait)
    }

    #[tokio::test]
    async fn hashes_are_standard_phc_strings_both_ways() {
        let hashing = hashing(1, Duration::from_secs(5));
        let lease = hashing.acquire().await.unwrap();
        let (hash, lease) = lease.hash("correct horse battery".into()).await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        // What the argon2 crate itself verifies and produces, so stored hashes stay portable.
        Argon2::default()
            .verify_password(b"correct horse battery", &PasswordHash::new(&hash).unwrap())
            .expect("the crate verifies our hash");
        let theirs = Argon2::default()
            .hash_password(
                b"another password",
                &SaltString::generate(&mut rand::rngs::OsRng),
            )
            .unwrap()
            .to_string();
        let (ok, lease) = lease
            .verify("another password".into(), theirs.clone())
            .await
            .unwrap();
        assert!(ok);
        let (wrong, lease) = lease
            .verify("Another password".into(), theirs)
            .await
            .unwrap();
        assert!(!wrong);
        let (ok, _lease) = lease
            .verify("correct horse battery".into(), hash)
            .await
            .unwrap();
        assert!(ok);
    }

    #[tokio::test]
    async fn a_hash_with_other_parameters_still_verifies() {
        let params = Params::new(32 * 1024, 1, 1, None).unwrap();
        let bigger = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw", &SaltString::generate(&mut rand::rngs::OsRng))
            .unwrap()
            .to_string();
        let lease = hashing(1, Duration::from_secs(5)).acquire().await.unwrap();
        let (ok, _) = lease.verify("pw".into(), bigger).await.unwrap();
        assert!(ok);
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_error_not_a_mismatch() {
        let lease = hashing(1, Duration::from_secs(5)).acquire().await.unwrap();
        let result = lease.verify("pw".into(), "$argon2id$garbage".into()).await;
        assert!(matches!(result, Err(ServiceError::Internal(_))));
    }

    #[tokio::test]
    async fn a_full_pool_refuses_after_the_wait_and_frees_its_permits() {
        let hashing = hashing(1, Duration::from_millis(20));
        let held = hashing.acquire().await.unwrap();
        match hashing.acquire().await {
            Err(ServiceError::ResourceExhausted {
                reason,
                retry_after,
                ..
            }) => {
                assert_eq!(reason, BUSY_REASON);
                assert!(retry_after.is_some());
            }
            other => panic!("expected busy, got {:?}", other.err()),
        }
        drop(held);
        let again = hashing.acquire().await.expect("the permit came back");
        assert_eq!(again.memory.len(), Params::default().block_count());
        assert!(hashing.pool.memory.lock().unwrap().is_empty());
        drop(again);
        assert_eq!(hashing.pool.memory.lock().unwrap().len(), 1);
    }
}
