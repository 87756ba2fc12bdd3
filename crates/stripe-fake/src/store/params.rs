//! Decoding request parameters the way Stripe validates them: each function reads one
//! parameter (or one group) and answers Stripe's error, naming the parameter, when it is wrong.

use std::collections::BTreeMap;

use crate::error::ApiError;
use crate::form::Params;
use crate::records::AutomaticPaymentMethods;

const MAX_AMOUNT: i64 = 99_999_999;

/// Parameters Stripe accepts that the fake deliberately does not model: using one is an
/// explicit error rather than a silently ignored setting.
const UNMODELLED: &[&str] = &[
    "customer",
    "customer_account",
    "shipping",
    "payment_method_data",
    "payment_method_options",
    "payment_method_configuration",
    "confirmation_method",
    "confirmation_token",
    "mandate",
    "mandate_data",
    "on_behalf_of",
    "transfer_data",
    "transfer_group",
    "application_fee_amount",
    "radar_options",
    "payment_details",
    "amount_details",
    "hooks",
    "excluded_payment_method_types",
    "refund_application_fee",
    "reverse_transfer",
    "origin",
];

pub(super) fn unmodelled(params: &Params) -> Result<(), ApiError> {
    for name in UNMODELLED {
        if params.str(name).is_some() || params.map(name).is_some() {
            return Err(ApiError::invalid_request(format!(
                "shop-stripe-fake does not model `{name}`; extend crates/stripe-fake if Payment needs it."
            ))
            .param(name));
        }
    }
    Ok(())
}

/// The required `amount` of a new PaymentIntent: at least 1, at most Stripe's maximum.
pub(super) fn payment_amount(params: &Params) -> Result<i64, ApiError> {
    let amount = positive_amount(params)?.ok_or_else(|| ApiError::missing_param("amount"))?;
    if amount > MAX_AMOUNT {
        return Err(
            ApiError::invalid_request(format!("Amount must be no more than {MAX_AMOUNT}"))
                .code("amount_too_large")
                .param("amount"),
        );
    }
    Ok(amount)
}

/// An `amount`, if given, which must be at least 1 (of the currency's smallest unit).
pub(super) fn positive_amount(params: &Params) -> Result<Option<i64>, ApiError> {
    let amount = params.int("amount")?;
    if amount.is_some_and(|amount| amount < 1) {
        return Err(
            ApiError::invalid_request("This value must be greater than or equal to 1.")
                .code("parameter_invalid_integer")
                .param("amount"),
        );
    }
    Ok(amount)
}

/// What `confirm` was asked to do beyond charging the card.
#[derive(Debug, Clone, Default)]
pub(super) struct ConfirmOptions {
    /// The customer is not there to authenticate (`off_session`), or the caller asked to fail
    /// instead of waiting for authentication (`error_on_requires_action`).
    pub(super) no_authentication: bool,
    /// Where the customer comes back to after authenticating on a page (`return_url`): with
    /// one, 3-D Secure is a `redirect_to_url` next action instead of Stripe.js's
    /// `use_stripe_sdk`.
    pub(super) return_url: Option<String>,
}

pub(super) fn currency(params: &Params) -> Result<String, ApiError> {
    let value = params
        .str("currency")
        .ok_or_else(|| ApiError::missing_param("currency"))?;
    if value.len() == 3 && value.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(value.to_ascii_lowercase())
    } else {
        Err(ApiError::invalid_value(
            "currency",
            format!(
                "Invalid currency: {value}. Stripe currently supports three-letter ISO currency codes."
            ),
        ))
    }
}

pub(super) fn capture_method(params: &Params) -> Result<String, ApiError> {
    match params.str("capture_method") {
        None => Ok("automatic_async".to_owned()),
        Some("manual") => Err(ApiError::invalid_request(
            "shop-stripe-fake does not model manual capture; extend crates/stripe-fake if Payment needs it.",
        )
        .param("capture_method")),
        Some(_) => Ok(params
            .choice("capture_method", &["automatic", "automatic_async"])?
            .unwrap_or_default()),
    }
}

/// What a create request says about payment method types.
pub(super) struct PaymentMethodKinds {
    pub(super) types: Vec<String>,
    pub(super) allowed: Option<Vec<String>>,
    pub(super) automatic: Option<AutomaticPaymentMethods>,
}

/// `payment_method_types[]` (older API versions) or `allowed_payment_method_types[]` (newer
/// ones, what `async-stripe` 1.0 sends), and/or `automatic_payment_methods[...]`; the fake
/// models card payments only.
pub(super) fn payment_method_kinds(params: &Params) -> Result<PaymentMethodKinds, ApiError> {
    let types = params.list("payment_method_types");
    let allowed = params.list("allowed_payment_method_types");
    let automatic = params.map("automatic_payment_methods");
    if types.is_some() && allowed.is_some() {
        return Err(ApiError::invalid_request(
            "You may only specify one of these parameters: allowed_payment_method_types, payment_method_types.",
        ));
    }
    if types.is_some() && automatic.is_some() {
        return Err(ApiError::invalid_request(
            "You may only specify one of these parameters: automatic_payment_methods, payment_method_types.",
        ));
    }
    for (param, list) in [
        ("payment_method_types", &types),
        ("allowed_payment_method_types", &allowed),
    ] {
        if let Some(other) = list.iter().flatten().find(|kind| kind.as_str() != "card") {
            return Err(ApiError::invalid_request(format!(
                "shop-stripe-fake models only card payments, not `{other}`."
            ))
            .param(param));
        }
    }
    let automatic = match automatic {
        Some(_) => {
            params.only_nested("automatic_payment_methods", &["enabled", "allow_redirects"])?;
            let enabled = params
                .bool("automatic_payment_methods[enabled]")?
                .ok_or_else(|| ApiError::missing_param("automatic_payment_methods[enabled]"))?;
            let allow_redirects = params.choice(
                "automatic_payment_methods[allow_redirects]",
                &["always", "never"],
            )?;
            Some(AutomaticPaymentMethods {
                enabled,
                allow_redirects,
            })
        }
        // Explicit types turn automatic payment methods off.
        None if types.is_some() || allowed.is_some() => None,
        // Since API version 2023-08-16 automatic payment methods are on by default.
        None => Some(AutomaticPaymentMethods {
            enabled: true,
            allow_redirects: None,
        }),
    };
    Ok(PaymentMethodKinds {
        types: vec!["card".to_owned()],
        allowed,
        automatic,
    })
}

/// Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500; an empty
/// value unsets the key.
pub(super) fn metadata(params: &Params) -> Result<BTreeMap<String, String>, ApiError> {
    let mut metadata = params.map("metadata").unwrap_or_default();
    metadata.retain(|_, value| !value.is_empty());
    if metadata.len() > 50 {
        return Err(ApiError::invalid_value(
            "metadata",
            "You can specify up to 50 keys in metadata.",
        ));
    }
    if let Some(key) = metadata.keys().find(|key| key.chars().count() > 40) {
        return Err(ApiError::invalid_value(
            "metadata",
            format!("Metadata keys can have up to 40 characters; `{key}` is longer."),
        ));
    }
    if let Some(key) = metadata
        .iter()
        .find(|(_, value)| value.chars().count() > 500)
        .map(|(key, _)| key)
    {
        return Err(ApiError::invalid_value(
            "metadata",
            format!(
                "Metadata values can have up to 500 characters; the value of `{key}` is longer."
            ),
        ));
    }
    Ok(metadata)
}

pub(super) fn confirm_options(params: &Params) -> Result<ConfirmOptions, ApiError> {
    let off_session = match params.str("off_session") {
        None | Some("false") => false,
        Some("true" | "one_off" | "recurring") => true,
        Some(other) => {
            return Err(ApiError::invalid_value(
                "off_session",
                format!("Invalid off_session: {other}"),
            ));
        }
    };
    let error_on_requires_action = params.bool("error_on_requires_action")?.unwrap_or(false);
    let return_url = params.string("return_url");
    if let Some(url) = &return_url
        && !(url.starts_with("https://") || url.starts_with("http://"))
    {
        return Err(ApiError::invalid_value(
            "return_url",
            format!("Invalid URL: {url}"),
        ));
    }
    Ok(ConfirmOptions {
        no_authentication: off_session || error_on_requires_action,
        return_url,
    })
}

/// The `expand[]` list, with `prefix` (`data.` for lists) removed; only the fields the fake
/// can expand are accepted.
pub(super) fn expansions(params: &Params, prefix: &str) -> Result<Vec<String>, ApiError> {
    let mut fields = Vec::new();
    for wanted in params.list("expand").unwrap_or_default() {
        match wanted.strip_prefix(prefix) {
            Some(field @ ("latest_charge" | "payment_method")) => fields.push(field.to_owned()),
            _ => {
                return Err(ApiError::invalid_request(format!(
                    "This property cannot be expanded ({wanted})."
                ))
                .param("expand"));
            }
        }
    }
    Ok(fields)
}
