//! TLS set-up for outgoing HTTPS (Stripe). rustls needs one process-wide crypto provider;
//! when feature unification compiles in more than one (ring and aws-lc-rs), it refuses to
//! guess and the first TLS client panics. Services that make TLS calls call
//! [`install_crypto_provider`] at start-up, so the choice is explicit: ring.

/// Installs ring as the process-wide rustls provider; a no-op when one is installed.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
