//! The PaymentIntent state machine: how create, confirm, 3-D Secure and cancel move an intent,
//! which charge each card outcome leaves behind and which events each step emits.
//!
//! ```text
//! requires_payment_method --(create with payment_method)--> requires_confirmation
//!   requires_payment_method / requires_confirmation / requires_action --confirm--> card outcome:
//!     pm_card_visa, ...              -> succeeded (charge succeeded; refundable)
//!     pm_card_chargeDeclined, ...    -> requires_payment_method (failed charge, last_payment_error, 402)
//!     pm_card_threeDSecure2Required  -> requires_action --authenticate--> succeeded
//!                                                                    or requires_payment_method
//!   (off_session / error_on_requires_action turn requires_action into an authentication_required decline)
//! anything but succeeded / canceled --cancel--> canceled
//! ```

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::params::{
    ConfirmOptions, capture_method, confirm_options, currency, expansions, metadata,
    payment_amount, payment_method_kinds, unmodelled,
};
use super::transaction::Tx;
use crate::cards::{AUTHENTICATION_REQUIRED, Behaviour, Decline, TestCard};
use crate::error::ApiError;
use crate::form::Params;
use crate::ids::{client_secret, now, object_id};
use crate::records::{ChargeRecord, IntentRecord, IntentStatus};

/// How a test completes 3-D Secure for an intent in `requires_action`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationOutcome {
    /// The customer passed the challenge: the payment goes through.
    Succeed,
    /// The customer failed or abandoned it: back to `requires_payment_method`.
    Fail,
}

impl std::str::FromStr for AuthenticationOutcome {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "succeed" | "success" | "succeeded" => Ok(Self::Succeed),
            "fail" | "failure" | "failed" => Ok(Self::Fail),
            other => Err(format!(
                "outcome must be `succeed` or `fail`, not `{other}`"
            )),
        }
    }
}

impl Tx<'_> {
    pub(super) fn create_payment_intent(&mut self, params: &Params) -> Result<Value, ApiError> {
        unmodelled(params)?;
        params.only(&[
            "amount",
            "currency",
            "payment_method",
            "payment_method_types",
            "allowed_payment_method_types",
            "automatic_payment_methods",
            "confirm",
            "metadata",
            "description",
            "receipt_email",
            "capture_method",
            "setup_future_usage",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "return_url",
            "off_session",
            "error_on_requires_action",
            "use_stripe_sdk",
            "expand",
        ])?;
        let amount = payment_amount(params)?;
        let currency = currency(params)?;
        let kinds = payment_method_kinds(params)?;
        let metadata = metadata(params)?;
        let confirm = params.bool("confirm")?.unwrap_or(false);
        let options = confirm_options(params)?;
        if !confirm
            && (params.str("off_session").is_some()
                || params.str("error_on_requires_action").is_some())
        {
            return Err(ApiError::invalid_request(
                "off_session and error_on_requires_action may only be used with confirm=true.",
            ));
        }
        let capture_method = capture_method(params)?;
        let setup_future_usage =
            params.choice("setup_future_usage", &["on_session", "off_session"])?;
        let expand = expansions(params, "")?;
        let payment_method = params
            .str("payment_method")
            .map(|value| self.resolve_payment_method(value))
            .transpose()?;
        if confirm && payment_method.is_none() {
            return Err(missing_payment_method());
        }

        let payment_method = payment_method.map(|reference| self.materialise(reference));
        let id = object_id("pi");
        let record = IntentRecord {
            client_secret: client_secret(&id),
            id: id.clone(),
            amount,
            currency,
            created: now(),
            status: if payment_method.is_some() {
                IntentStatus::RequiresConfirmation
            } else {
                IntentStatus::RequiresPaymentMethod
            },
            metadata,
            description: params.string("description"),
            receipt_email: params.string("receipt_email"),
            statement_descriptor: params.string("statement_descriptor"),
            statement_descriptor_suffix: params.string("statement_descriptor_suffix"),
            setup_future_usage,
            capture_method,
            payment_method_types: kinds.types,
            allowed_payment_method_types: kinds.allowed,
            automatic_payment_methods: kinds.automatic,
            payment_method,
            latest_charge: None,
            amount_received: 0,
            last_payment_error: None,
            next_action: None,
            canceled_at: None,
            cancellation_reason: None,
        };
        self.state.intents.insert(id.clone(), record);
        self.state.intent_order.push(id.clone());
        let created = self.intent_json(&id);
        self.emit("payment_intent.created", created);
        if confirm {
            self.confirm(&id, options)?;
        }
        Ok(self.render_expanded(&id, &expand))
    }

    pub(super) fn confirm_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
    ) -> Result<Value, ApiError> {
        unmodelled(params)?;
        params.only(&[
            "payment_method",
            "allowed_payment_method_types",
            "off_session",
            "error_on_requires_action",
            "return_url",
            "receipt_email",
            "setup_future_usage",
            "use_stripe_sdk",
            "client_secret",
            "expand",
        ])?;
        let options = confirm_options(params)?;
        let expand = expansions(params, "")?;
        let setup_future_usage =
            params.choice("setup_future_usage", &["on_session", "off_session"])?;
        let allowed = params.list("allowed_payment_method_types");
        if let Some(other) = allowed
            .iter()
            .flatten()
            .find(|kind| kind.as_str() != "card")
        {
            return Err(ApiError::invalid_request(format!(
                "shop-stripe-fake models only card payments, not `{other}`."
            ))
            .param("allowed_payment_method_types"));
        }
        let payment_method = params
            .str("payment_method")
            .map(|value| self.resolve_payment_method(value))
            .transpose()?;
        let status = self.intent_mut(id)?.status;
        if !status.confirmable() {
            return Err(ApiError::unexpected_state(format!(
                "You cannot confirm this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be confirmed: requires_confirmation, requires_payment_method, requires_action.",
                status.as_str()
            ))
            .with("payment_intent", self.intent_json(id)));
        }
        let payment_method = payment_method.map(|reference| self.materialise(reference));
        let receipt_email = params.string("receipt_email");
        let intent = self.intent_mut(id)?;
        if let Some(payment_method) = payment_method {
            intent.payment_method = Some(payment_method);
        }
        if receipt_email.is_some() {
            intent.receipt_email = receipt_email;
        }
        if setup_future_usage.is_some() {
            intent.setup_future_usage = setup_future_usage;
        }
        if allowed.is_some() {
            intent.allowed_payment_method_types = allowed;
        }
        if intent.payment_method.is_none() {
            return Err(missing_payment_method().with("payment_intent", self.intent_json(id)));
        }
        self.confirm(id, options)?;
        Ok(self.render_expanded(id, &expand))
    }

    /// Charges the intent's payment method; `Err` is the card error the API answers with.
    fn confirm(&mut self, id: &str, options: ConfirmOptions) -> Result<(), ApiError> {
        let intent = self.intent_mut(id)?;
        intent.last_payment_error = None;
        intent.next_action = None;
        let pm_id = intent
            .payment_method
            .clone()
            .ok_or_else(missing_payment_method)?;
        let card = self
            .state
            .payment_methods
            .get(&pm_id)
            .map(|pm| pm.card)
            .ok_or_else(|| {
                ApiError::no_such(
                    "PaymentMethod",
                    &pm_id,
                    "payment_method",
                    StatusCode::BAD_REQUEST,
                )
            })?;
        match card.behaviour {
            Behaviour::Succeeds => {
                self.succeed(id, &pm_id, card, false);
                Ok(())
            }
            Behaviour::Declines(decline) => Err(self.decline(id, &pm_id, card, decline)),
            Behaviour::RequiresAuthentication if options.no_authentication => {
                Err(self.decline(id, &pm_id, card, AUTHENTICATION_REQUIRED))
            }
            Behaviour::RequiresAuthentication => {
                let page = format!("{}/_fake/3ds/{id}", self.public_url);
                let intent = self.intent_mut(id)?;
                intent.status = IntentStatus::RequiresAction;
                intent.next_action = Some(match options.return_url {
                    Some(return_url) => json!({
                        "type": "redirect_to_url",
                        "redirect_to_url": { "url": page, "return_url": return_url }
                    }),
                    None => json!({
                        "type": "use_stripe_sdk",
                        "use_stripe_sdk": {
                            "type": "three_d_secure_redirect",
                            "source": object_id("src"),
                            "stripe_js": "https://hooks.stripe.com/redirect/authenticate"
                        }
                    }),
                });
                let object = self.intent_json(id);
                self.emit("payment_intent.requires_action", object);
                Ok(())
            }
        }
    }

    fn new_charge(
        &mut self,
        intent_id: &str,
        pm_id: &str,
        card: &'static TestCard,
        failure: Option<Decline>,
        three_d_secure: bool,
    ) -> Option<String> {
        let intent = self.state.intents.get(intent_id)?;
        let id = object_id("ch");
        let charge = ChargeRecord {
            id: id.clone(),
            payment_intent: intent_id.to_owned(),
            amount: intent.amount,
            currency: intent.currency.clone(),
            created: now(),
            payment_method: pm_id.to_owned(),
            card,
            failure,
            amount_refunded: 0,
            description: intent.description.clone(),
            metadata: intent.metadata.clone(),
            receipt_email: intent.receipt_email.clone(),
            balance_transaction: failure.is_none().then(|| object_id("txn")),
            three_d_secure,
        };
        let rendered = self.templates.charge(&charge);
        self.state.charges.insert(id.clone(), charge);
        self.emit(
            if failure.is_none() {
                "charge.succeeded"
            } else {
                "charge.failed"
            },
            rendered,
        );
        Some(id)
    }

    fn succeed(&mut self, id: &str, pm_id: &str, card: &'static TestCard, three_d_secure: bool) {
        let charge = self.new_charge(id, pm_id, card, None, three_d_secure);
        if let Some(intent) = self.state.intents.get_mut(id) {
            intent.status = IntentStatus::Succeeded;
            intent.amount_received = intent.amount;
            intent.latest_charge = charge;
            intent.last_payment_error = None;
            intent.next_action = None;
        }
        let object = self.intent_json(id);
        self.emit("payment_intent.succeeded", object);
    }

    /// Records a declined charge and returns the 402 Stripe answers with.
    fn decline(
        &mut self,
        id: &str,
        pm_id: &str,
        card: &'static TestCard,
        decline: Decline,
    ) -> ApiError {
        let charge = self.new_charge(id, pm_id, card, Some(decline), false);
        let payment_method = self
            .state
            .payment_methods
            .get(pm_id)
            .map_or(Value::Null, |pm| self.templates.payment_method(pm));
        let error = ApiError::card(decline.code, decline.decline_code, decline.message)
            .with("charge", charge.clone().map_or(Value::Null, Value::from))
            .with("payment_method", payment_method);
        if let Some(intent) = self.state.intents.get_mut(id) {
            intent.status = IntentStatus::RequiresPaymentMethod;
            // Stripe detaches a payment method that failed; the error keeps a copy.
            intent.payment_method = None;
            intent.latest_charge = charge;
            intent.last_payment_error = Some(Value::Object(error.error.clone()));
            intent.next_action = None;
        }
        let object = self.intent_json(id);
        self.emit("payment_intent.payment_failed", object.clone());
        error.with("payment_intent", object)
    }

    pub(super) fn authenticate(
        &mut self,
        id: &str,
        outcome: AuthenticationOutcome,
    ) -> Result<Value, ApiError> {
        let intent = self.intent_mut(id)?;
        if intent.status != IntentStatus::RequiresAction {
            let status = intent.status;
            return Err(ApiError::unexpected_state(format!(
                "This PaymentIntent is not awaiting authentication: its status is {}.",
                status.as_str()
            ))
            .with("payment_intent", self.intent_json(id)));
        }
        let pm_id = intent
            .payment_method
            .clone()
            .ok_or_else(missing_payment_method)?;
        let pm = self.state.payment_methods.get(&pm_id).cloned();
        let Some(pm) = pm else {
            return Err(missing_payment_method());
        };
        match outcome {
            AuthenticationOutcome::Succeed => self.succeed(id, &pm_id, pm.card, true),
            AuthenticationOutcome::Fail => {
                let error = ApiError::invalid_request(
                    "The provided PaymentMethod has failed authentication. You can provide payment_method_data or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
                )
                .code("payment_intent_authentication_failure")
                .with("payment_method", self.templates.payment_method(&pm));
                let intent = self.intent_mut(id)?;
                intent.status = IntentStatus::RequiresPaymentMethod;
                intent.payment_method = None;
                intent.next_action = None;
                intent.last_payment_error = Some(Value::Object(error.error));
                let object = self.intent_json(id);
                self.emit("payment_intent.payment_failed", object);
            }
        }
        Ok(self.intent_json(id))
    }

    pub(super) fn cancel_payment_intent(
        &mut self,
        id: &str,
        params: &Params,
    ) -> Result<Value, ApiError> {
        params.only(&["cancellation_reason", "expand"])?;
        let reason = params.choice(
            "cancellation_reason",
            &[
                "duplicate",
                "fraudulent",
                "requested_by_customer",
                "abandoned",
            ],
        )?;
        let expand = expansions(params, "")?;
        let intent = self.intent_mut(id)?;
        if !intent.status.cancelable() {
            let status = intent.status;
            return Err(ApiError::unexpected_state(format!(
                "You cannot cancel this PaymentIntent because it has a status of {}. Only a PaymentIntent with one of the following statuses may be canceled: requires_payment_method, requires_capture, requires_confirmation, requires_action, processing.",
                status.as_str()
            ))
            .with("payment_intent", self.intent_json(id)));
        }
        intent.status = IntentStatus::Canceled;
        intent.canceled_at = Some(now());
        intent.cancellation_reason = reason;
        intent.next_action = None;
        let object = self.intent_json(id);
        self.emit("payment_intent.canceled", object);
        Ok(self.render_expanded(id, &expand))
    }
}

fn missing_payment_method() -> ApiError {
    ApiError::unexpected_state(
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method or ConfirmationToken.",
    )
}
