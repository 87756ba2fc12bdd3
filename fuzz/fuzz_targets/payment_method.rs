//! The payment method id comes from the storefront and travels through Order to Payment,
//! which must both accept exactly the same ids. Whatever the text, `PaymentMethod::parse`
//! answers without panicking; what it accepts follows the documented rule and parses again
//! to itself, so Payment never refuses an id Order let through.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shop_kit::payment_method::PaymentMethod;

fuzz_target!(|raw: &str| {
    let Ok(method) = PaymentMethod::parse(raw) else {
        return;
    };
    let text = method.as_str();
    assert!(text.starts_with("pm_"), "{text:?}");
    assert!((4..=100).contains(&text.len()), "{text:?}");
    assert!(
        text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "{text:?}"
    );
    assert_eq!(text, raw.trim(), "an accepted id is the input, trimmed");
    assert_eq!(PaymentMethod::parse(text).as_ref(), Ok(&method));
    assert_eq!(method.to_string(), text);
});
