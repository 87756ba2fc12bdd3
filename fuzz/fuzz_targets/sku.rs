//! SKUs arrive in every service's requests. Whatever the text, `Sku::parse` answers without
//! panicking, and what it accepts is normalised: parsing its own output again gives the same
//! SKU, and the rule it documents (2 to 64 characters of `A-Z 0-9 - _ .`, first a letter or
//! digit) holds for it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shop_kit::sku::Sku;

fuzz_target!(|raw: &str| {
    let Ok(sku) = Sku::parse(raw) else { return };
    let text = sku.as_str();
    assert!((2..=64).contains(&text.len()), "{text:?}");
    assert!(
        text.starts_with(|c: char| c.is_ascii_alphanumeric()),
        "{text:?}"
    );
    assert!(
        text.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "-_.".contains(c)),
        "{text:?}"
    );
    assert_eq!(Sku::parse(text).as_ref(), Ok(&sku), "not idempotent");
    assert_eq!(
        Sku::parse(&text.to_ascii_lowercase()).as_ref(),
        Ok(&sku),
        "case matters"
    );
    assert_eq!(sku.to_string(), text);
});
