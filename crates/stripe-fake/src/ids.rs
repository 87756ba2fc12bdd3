//! Identifiers and clocks in Stripe's formats: `pi_` + 24 alphanumerics, client secrets
//! `pi_..._secret_...`, `req_...` request ids, Unix-second timestamps.

use rand::Rng;
use rand::distributions::Alphanumeric;

fn random(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A new object id such as `pi_3Q0hzfLkdIwHu7ix1aBcDeFg`.
pub(crate) fn object_id(prefix: &str) -> String {
    format!("{prefix}_{}", random(24))
}

pub(crate) fn client_secret(intent_id: &str) -> String {
    format!("{intent_id}_secret_{}", random(25))
}

pub(crate) fn request_id() -> String {
    format!("req_{}", random(14))
}

/// Seconds since the Unix epoch, as Stripe's `created` fields.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_stripes() {
        let id = object_id("pi");
        assert!(id.starts_with("pi_") && id.len() == 27);
        assert!(client_secret(&id).starts_with(&format!("{id}_secret_")));
        assert_ne!(object_id("pi"), object_id("pi"));
        assert!(now() > 1_700_000_000);
    }
}
