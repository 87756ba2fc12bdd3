//! A Stripe PaymentMethod id as the checkout carries it from the storefront through Order to
//! Payment: parsed once by the same rule in both services, so an id Order accepted is never
//! one Payment refuses (which would dead-letter the payment request).

/// `pm_` followed by ASCII letters, digits and `_`, at most 100 characters (`pm_card_visa`,
/// or a real `pm_1Nx...` id). Trimmed; case is kept (Stripe ids are case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PaymentMethod(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a payment method id such as pm_card_visa")]
pub struct InvalidPaymentMethod;

impl PaymentMethod {
    pub fn parse(raw: &str) -> Result<Self, InvalidPaymentMethod> {
        let method = raw.trim();
        let valid = method.starts_with("pm_")
            && (4..=100).contains(&method.len())
            && method
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Ok(Self(method.to_owned()))
        } else {
            Err(InvalidPaymentMethod)
        }
    }
}

crate::ids::string_id!(PaymentMethod);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_method_ids_are_checked() {
        assert_eq!(
            PaymentMethod::parse(" pm_card_visa ").unwrap().as_str(),
            "pm_card_visa"
        );
        for bad in [
            "",
            "card",
            "pm_",
            "pm_card visa",
            "pm_é",
            &format!("pm_{}", "x".repeat(98)),
        ] {
            assert!(PaymentMethod::parse(bad).is_err(), "{bad:?}");
        }
    }
}
