//! Stripe's test payment methods and what confirming a PaymentIntent with each one does.
//!
//! The tokens and outcomes are Stripe's (https://docs.stripe.com/testing): the same
//! `pm_card_*` a test passes here behaves the same against Stripe in test mode, so the
//! Payment service's tests do not encode anything fake-specific.

/// What happens when an intent is confirmed with a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Behaviour {
    Succeeds,
    Declines(Decline),
    /// Needs 3-D Secure: the intent goes to `requires_action` until the customer authenticates.
    RequiresAuthentication,
}

/// A decline as Stripe reports it: `code`, optional `decline_code`, the customer-facing message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decline {
    pub code: &'static str,
    pub decline_code: Option<&'static str>,
    pub message: &'static str,
    /// The charge outcome's `reason` and `type`, and the merchant-facing message.
    pub outcome_reason: &'static str,
    pub outcome_type: &'static str,
    pub seller_message: &'static str,
}

const ISSUER_DECLINED: &str = "The bank did not return any further details with this decline.";

const fn declined(decline_code: &'static str, message: &'static str) -> Decline {
    Decline {
        code: "card_declined",
        decline_code: Some(decline_code),
        message,
        outcome_reason: decline_code,
        outcome_type: "issuer_declined",
        seller_message: ISSUER_DECLINED,
    }
}

/// The decline an off-session (or `error_on_requires_action`) payment gets when the card
/// needs authentication.
pub(crate) const AUTHENTICATION_REQUIRED: Decline = Decline {
    code: "authentication_required",
    decline_code: Some("authentication_required"),
    message: "Your card was declined. This transaction requires authentication.",
    outcome_reason: "authentication_required",
    outcome_type: "issuer_declined",
    seller_message: ISSUER_DECLINED,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TestCard {
    pub token: &'static str,
    pub brand: &'static str,
    pub last4: &'static str,
    pub funding: &'static str,
    pub country: &'static str,
    pub behaviour: Behaviour,
}

const fn card(
    token: &'static str,
    brand: &'static str,
    last4: &'static str,
    funding: &'static str,
    behaviour: Behaviour,
) -> TestCard {
    TestCard {
        token,
        brand,
        last4,
        funding,
        country: "US",
        behaviour,
    }
}

use Behaviour::{Declines, RequiresAuthentication, Succeeds};

const CARDS: &[TestCard] = &[
    card("pm_card_visa", "visa", "4242", "credit", Succeeds),
    card("pm_card_visa_debit", "visa", "5556", "debit", Succeeds),
    card(
        "pm_card_mastercard",
        "mastercard",
        "4444",
        "credit",
        Succeeds,
    ),
    card(
        "pm_card_mastercard_debit",
        "mastercard",
        "8210",
        "debit",
        Succeeds,
    ),
    card(
        "pm_card_mastercard_prepaid",
        "mastercard",
        "5100",
        "prepaid",
        Succeeds,
    ),
    card("pm_card_amex", "amex", "8431", "credit", Succeeds),
    card("pm_card_discover", "discover", "1117", "credit", Succeeds),
    card("pm_card_diners", "diners", "0004", "credit", Succeeds),
    card("pm_card_jcb", "jcb", "0505", "credit", Succeeds),
    card("pm_card_unionpay", "unionpay", "0005", "credit", Succeeds),
    card(
        "pm_card_chargeDeclined",
        "visa",
        "0002",
        "credit",
        Declines(declined("generic_decline", "Your card was declined.")),
    ),
    card(
        "pm_card_chargeDeclinedInsufficientFunds",
        "visa",
        "9995",
        "credit",
        Declines(declined(
            "insufficient_funds",
            "Your card has insufficient funds.",
        )),
    ),
    card(
        "pm_card_chargeDeclinedLostCard",
        "visa",
        "9987",
        "credit",
        Declines(declined("lost_card", "Your card was declined.")),
    ),
    card(
        "pm_card_chargeDeclinedStolenCard",
        "visa",
        "9979",
        "credit",
        Declines(declined("stolen_card", "Your card was declined.")),
    ),
    card(
        "pm_card_chargeDeclinedFraudulent",
        "visa",
        "0019",
        "credit",
        Declines(declined("fraudulent", "Your card was declined.")),
    ),
    card(
        "pm_card_chargeDeclinedExpiredCard",
        "visa",
        "0069",
        "credit",
        Declines(Decline {
            code: "expired_card",
            decline_code: None,
            message: "Your card has expired.",
            outcome_reason: "expired_card",
            outcome_type: "issuer_declined",
            seller_message: ISSUER_DECLINED,
        }),
    ),
    card(
        "pm_card_chargeDeclinedIncorrectCvc",
        "visa",
        "0127",
        "credit",
        Declines(Decline {
            code: "incorrect_cvc",
            decline_code: None,
            message: "Your card's security code is incorrect.",
            outcome_reason: "incorrect_cvc",
            outcome_type: "issuer_declined",
            seller_message: ISSUER_DECLINED,
        }),
    ),
    card(
        "pm_card_chargeDeclinedProcessingError",
        "visa",
        "0119",
        "credit",
        Declines(Decline {
            code: "processing_error",
            decline_code: None,
            message: "An error occurred while processing your card. Try again in a little bit.",
            outcome_reason: "processing_error",
            outcome_type: "issuer_declined",
            seller_message: ISSUER_DECLINED,
        }),
    ),
    card(
        "pm_card_threeDSecure2Required",
        "visa",
        "3220",
        "credit",
        RequiresAuthentication,
    ),
    card(
        "pm_card_threeDSecureRequired",
        "visa",
        "3063",
        "credit",
        RequiresAuthentication,
    ),
    card(
        "pm_card_authenticationRequired",
        "visa",
        "3155",
        "credit",
        RequiresAuthentication,
    ),
];

/// Every test payment method token the fake understands.
pub const TEST_PAYMENT_METHODS: &[&str] = &[
    "pm_card_visa",
    "pm_card_visa_debit",
    "pm_card_mastercard",
    "pm_card_mastercard_debit",
    "pm_card_mastercard_prepaid",
    "pm_card_amex",
    "pm_card_discover",
    "pm_card_diners",
    "pm_card_jcb",
    "pm_card_unionpay",
    "pm_card_chargeDeclined",
    "pm_card_chargeDeclinedInsufficientFunds",
    "pm_card_chargeDeclinedLostCard",
    "pm_card_chargeDeclinedStolenCard",
    "pm_card_chargeDeclinedFraudulent",
    "pm_card_chargeDeclinedExpiredCard",
    "pm_card_chargeDeclinedIncorrectCvc",
    "pm_card_chargeDeclinedProcessingError",
    "pm_card_threeDSecure2Required",
    "pm_card_threeDSecureRequired",
    "pm_card_authenticationRequired",
];

pub(crate) fn lookup(token: &str) -> Option<&'static TestCard> {
    CARDS.iter().find(|card| card.token == token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_public_list_matches_the_table() {
        let tokens: Vec<&str> = CARDS.iter().map(|card| card.token).collect();
        assert_eq!(tokens, TEST_PAYMENT_METHODS);
    }

    #[test]
    fn stripes_headline_cards_behave_as_documented() {
        assert_eq!(lookup("pm_card_visa").unwrap().behaviour, Succeeds);
        let Declines(decline) = lookup("pm_card_chargeDeclined").unwrap().behaviour else {
            panic!("pm_card_chargeDeclined must decline");
        };
        assert_eq!(decline.code, "card_declined");
        assert_eq!(decline.decline_code, Some("generic_decline"));
        assert_eq!(
            lookup("pm_card_threeDSecure2Required").unwrap().behaviour,
            RequiresAuthentication
        );
        assert!(lookup("pm_card_nonsense").is_none());
    }
}
