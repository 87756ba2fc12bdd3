//! Payment's `POST /stripe/webhook` takes a `Stripe-Signature` header and a body from the
//! internet. Whatever they are, verifying and reading never panic, and:
//! - a body signed with the secret at a time within the tolerance verifies;
//! - the same signature never verifies the body with any byte changed, added or removed,
//!   nor under another secret, nor outside the tolerance;
//! - a verified body reads either into an event or into a refusal (a 400), and a PaymentIntent
//!   event is acted on only when the intent's status is the one the event type announces.
#![no_main]

use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use shop_payment::domain::IntentOutcome;
use shop_payment::webhook::{SignatureError, TOLERANCE_SECS, read_event, verify_signature};

/// The fuzzer's bytes: a 13-byte prefix (the signing time, little-endian i64; how far the
/// clock is off, i16; where and by how much to alter the body, u16 and u8), then the header,
/// the secret and the body, the first two ended by a newline. Plain text after the prefix,
/// so the seeds are readable Stripe requests.
struct Input<'a> {
    timestamp: i64,
    skew: i16,
    change_at: usize,
    change_by: u8,
    header: &'a str,
    secret: &'a str,
    body: &'a [u8],
}

impl<'a> Input<'a> {
    fn read(data: &'a [u8]) -> Option<Self> {
        let (prefix, text) = data.split_at_checked(13)?;
        let mut parts = text.splitn(3, |byte| *byte == b'\n');
        let header = std::str::from_utf8(parts.next()?).ok()?;
        let secret = std::str::from_utf8(parts.next()?).ok()?;
        let body = parts.next()?;
        Some(Self {
            timestamp: i64::from_le_bytes(prefix[0..8].try_into().ok()?),
            skew: i16::from_le_bytes(prefix[8..10].try_into().ok()?),
            change_at: usize::from(u16::from_le_bytes(prefix[10..12].try_into().ok()?)),
            change_by: prefix[12],
            header,
            secret,
            body,
        })
    }
}

/// Stripe's scheme, written out here rather than borrowed from the code under test.
fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        panic!("HMAC takes keys of any length");
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fuzz_target!(|data: &[u8]| {
    let Some(input) = Input::read(data) else {
        return;
    };
    let now = input.timestamp.saturating_add(i64::from(input.skew));
    // Whatever the header says.
    let _ = verify_signature(input.header, input.body, input.secret, now);

    let header = sign(input.secret, input.timestamp, input.body);
    let fresh = now.abs_diff(input.timestamp) <= TOLERANCE_SECS.unsigned_abs();
    let verified = verify_signature(&header, input.body, input.secret, now);
    if fresh {
        assert_eq!(verified, Ok(()));
    } else {
        assert_eq!(verified, Err(SignatureError::Stale(input.timestamp)));
    }
    let other_secret = format!("{}x", input.secret);
    assert_eq!(
        verify_signature(&header, input.body, &other_secret, input.timestamp),
        Err(SignatureError::Mismatch)
    );

    // The body altered after signing: one byte changed, one added, one removed.
    let mut changed = input.body.to_vec();
    if !changed.is_empty() {
        let at = input.change_at % changed.len();
        changed[at] = changed[at].wrapping_add(input.change_by.max(1));
        assert_eq!(
            verify_signature(&header, &changed, input.secret, input.timestamp),
            Err(SignatureError::Mismatch),
            "a changed byte verified"
        );
        let mut shorter = input.body.to_vec();
        shorter.remove(at);
        assert_eq!(
            verify_signature(&header, &shorter, input.secret, input.timestamp),
            Err(SignatureError::Mismatch),
            "a removed byte verified"
        );
    }
    let mut longer = input.body.to_vec();
    longer.push(input.change_by);
    assert_eq!(
        verify_signature(&header, &longer, input.secret, input.timestamp),
        Err(SignatureError::Mismatch),
        "an added byte verified"
    );

    // Reading what verified.
    if let Ok(event) = read_event(input.body)
        && let Some(intent) = event.intent
    {
        let announced = match event.kind.as_str() {
            "payment_intent.succeeded" => matches!(intent.outcome, IntentOutcome::Succeeded { .. }),
            "payment_intent.payment_failed" => {
                matches!(intent.outcome, IntentOutcome::Failed { .. })
            }
            other => panic!("read an intent out of a {other:?} event"),
        };
        assert_eq!(intent.as_announced, announced);
    }
});
