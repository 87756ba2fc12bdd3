//! The fake's memory and Stripe's rules for changing it.
//!
//! Everything lives behind one mutex, held only for the synchronous body of an operation, so
//! each API call sees and leaves a consistent state (a confirm creates its charge, moves the
//! intent and records its events atomically). Operations take decoded parameters, validate
//! them the way Stripe does, apply the state machine below, and return the response object
//! plus the events to deliver:
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

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::cards::{self, AUTHENTICATION_REQUIRED, Behaviour, Decline, TestCard};
use crate::error::ApiError;
use crate::form::Params;
use crate::ids::{client_secret, now, object_id};
use crate::objects::Templates;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntentStatus {
    RequiresPaymentMethod,
    RequiresConfirmation,
    RequiresAction,
    Succeeded,
    Canceled,
}

impl IntentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Succeeded => "succeeded",
            Self::Canceled => "canceled",
        }
    }

    fn confirmable(self) -> bool {
        matches!(
            self,
            Self::RequiresPaymentMethod | Self::RequiresConfirmation | Self::RequiresAction
        )
    }

    fn cancelable(self) -> bool {
        self.confirmable()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AutomaticPaymentMethods {
    pub enabled: bool,
    pub allow_redirects: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct IntentRecord {
    pub id: String,
    pub client_secret: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    pub status: IntentStatus,
    pub metadata: BTreeMap<String, String>,
    pub description: Option<String>,
    pub receipt_email: Option<String>,
    pub statement_descriptor: Option<String>,
    pub statement_descriptor_suffix: Option<String>,
    pub setup_future_usage: Option<String>,
    pub capture_method: String,
    pub payment_method_types: Vec<String>,
    /// As requested (`allowed_payment_method_types`, newer API versions); absent otherwise.
    pub allowed_payment_method_types: Option<Vec<String>>,
    pub automatic_payment_methods: Option<AutomaticPaymentMethods>,
    pub payment_method: Option<String>,
    pub latest_charge: Option<String>,
    pub amount_received: i64,
    pub last_payment_error: Option<Value>,
    pub next_action: Option<Value>,
    pub canceled_at: Option<i64>,
    pub cancellation_reason: Option<String>,
}

/// A PaymentMethod the fake made from a test token: like Stripe, each use of
/// `pm_card_visa` yields a fresh `pm_...` id with that card's details.
#[derive(Debug, Clone)]
pub(crate) struct PaymentMethodRecord {
    pub id: String,
    pub card: &'static TestCard,
    pub created: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct ChargeRecord {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub created: i64,
    pub payment_method: String,
    pub card: &'static TestCard,
    /// `None` for a successful charge.
    pub failure: Option<Decline>,
    pub amount_refunded: i64,
    pub description: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub receipt_email: Option<String>,
    pub balance_transaction: Option<String>,
    pub three_d_secure: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct RefundRecord {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub payment_method: String,
    pub created: i64,
    pub reason: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub balance_transaction: String,
    pub reversal: bool,
}

/// Where a request came from, for the `request` field of the events it causes.
#[derive(Debug, Clone)]
pub(crate) struct RequestInfo {
    pub id: Option<String>,
    pub idempotency_key: Option<String>,
    /// 1 while a webhook endpoint is configured, as Stripe counts endpoints yet to be served.
    pub pending_webhooks: u32,
}

/// What an operation answered and which events it caused (already recorded; to be delivered).
#[derive(Debug)]
pub(crate) struct Outcome {
    pub result: Result<Value, ApiError>,
    pub events: Vec<Value>,
}

#[derive(Debug, Default)]
struct State {
    intents: HashMap<String, IntentRecord>,
    intent_order: Vec<String>,
    payment_methods: HashMap<String, PaymentMethodRecord>,
    charges: HashMap<String, ChargeRecord>,
    refunds: HashMap<String, RefundRecord>,
    refund_order: Vec<String>,
    events: Vec<Value>,
    event_index: HashMap<String, usize>,
}

#[derive(Debug)]
pub(crate) struct Store {
    state: Mutex<State>,
    templates: Templates,
    /// Origin of the fake's own pages (the 3-D Secure page), without a trailing slash.
    public_url: String,
}

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

fn unmodelled(params: &Params) -> Result<(), ApiError> {
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

impl Store {
    pub fn new(templates: Templates, public_url: &str) -> Self {
        Self {
            state: Mutex::new(State::default()),
            templates,
            public_url: public_url.to_owned(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `operation` atomically and collects the events it emitted.
    fn transact(
        &self,
        request: &RequestInfo,
        operation: impl FnOnce(&mut Tx<'_>) -> Result<Value, ApiError>,
    ) -> Outcome {
        let mut state = self.lock();
        let mut tx = Tx {
            state: &mut state,
            templates: &self.templates,
            public_url: &self.public_url,
            request,
            events: Vec::new(),
        };
        let result = operation(&mut tx);
        Outcome {
            result,
            events: tx.events,
        }
    }

    // --- PaymentIntents ---------------------------------------------------------------------

    pub fn create_payment_intent(&self, params: &Params, request: &RequestInfo) -> Outcome {
        self.transact(request, |tx| tx.create_payment_intent(params))
    }

    pub fn confirm_payment_intent(
        &self,
        id: &str,
        params: &Params,
        request: &RequestInfo,
    ) -> Outcome {
        self.transact(request, |tx| tx.confirm_payment_intent(id, params))
    }

    pub fn cancel_payment_intent(
        &self,
        id: &str,
        params: &Params,
        request: &RequestInfo,
    ) -> Outcome {
        self.transact(request, |tx| tx.cancel_payment_intent(id, params))
    }

    pub fn authenticate(
        &self,
        id: &str,
        outcome: AuthenticationOutcome,
        request: &RequestInfo,
    ) -> Outcome {
        self.transact(request, |tx| tx.authenticate(id, outcome))
    }

    pub fn retrieve_payment_intent(&self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&["expand", "client_secret"])?;
        let expand = expansions(params, "")?;
        let state = self.lock();
        let pi = state.intent(id, "intent", StatusCode::NOT_FOUND)?;
        Ok(state.render_intent(&self.templates, pi, &expand))
    }

    pub fn list_payment_intents(&self, params: &Params) -> Result<Value, ApiError> {
        params.only(&[
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "customer",
            "customer_account",
            "expand",
        ])?;
        let expand = expansions(params, "data.")?;
        let created = CreatedFilter::parse(params)?;
        let state = self.lock();
        // No intent has a customer in the fake, so a customer filter matches nothing.
        let customer_filter =
            params.str("customer").is_some() || params.str("customer_account").is_some();
        let ids: Vec<&String> = state
            .intent_order
            .iter()
            .rev()
            .filter(|id| {
                !customer_filter
                    && state
                        .intents
                        .get(id.as_str())
                        .is_some_and(|pi| created.matches(pi.created))
            })
            .collect();
        let (page, has_more) = paginate(&ids, params, "payment_intent")?;
        let data: Vec<Value> = page
            .iter()
            .filter_map(|id| state.intents.get(id.as_str()))
            .map(|pi| state.render_intent(&self.templates, pi, &expand))
            .collect();
        Ok(list_object("/v1/payment_intents", data, has_more))
    }

    // --- Refunds, charges, events --------------------------------------------------------------

    pub fn create_refund(&self, params: &Params, request: &RequestInfo) -> Outcome {
        self.transact(request, |tx| tx.create_refund(params))
    }

    pub fn retrieve_refund(&self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&["expand"])?;
        let state = self.lock();
        let refund = state
            .refunds
            .get(id)
            .ok_or_else(|| ApiError::no_such("refund", id, "id", StatusCode::NOT_FOUND))?;
        Ok(self.templates.refund(refund))
    }

    pub fn list_refunds(&self, params: &Params) -> Result<Value, ApiError> {
        params.only(&[
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "charge",
            "payment_intent",
            "expand",
        ])?;
        let created = CreatedFilter::parse(params)?;
        let charge = params.str("charge");
        let intent = params.str("payment_intent");
        let state = self.lock();
        let ids: Vec<&String> = state
            .refund_order
            .iter()
            .rev()
            .filter(|id| {
                state.refunds.get(id.as_str()).is_some_and(|refund| {
                    created.matches(refund.created)
                        && charge.is_none_or(|charge| refund.charge == charge)
                        && intent.is_none_or(|intent| refund.payment_intent == intent)
                })
            })
            .collect();
        let (page, has_more) = paginate(&ids, params, "refund")?;
        let data = page
            .iter()
            .filter_map(|id| state.refunds.get(id.as_str()))
            .map(|refund| self.templates.refund(refund))
            .collect();
        Ok(list_object("/v1/refunds", data, has_more))
    }

    pub fn retrieve_charge(&self, id: &str, params: &Params) -> Result<Value, ApiError> {
        params.only(&["expand"])?;
        let state = self.lock();
        let charge = state
            .charges
            .get(id)
            .ok_or_else(|| ApiError::no_such("charge", id, "id", StatusCode::NOT_FOUND))?;
        Ok(self.templates.charge(charge))
    }

    pub fn retrieve_event(&self, id: &str) -> Result<Value, ApiError> {
        let state = self.lock();
        state
            .event_index
            .get(id)
            .and_then(|index| state.events.get(*index))
            .cloned()
            .ok_or_else(|| ApiError::no_such("event", id, "id", StatusCode::NOT_FOUND))
    }

    // --- Inspection for tests ------------------------------------------------------------------

    /// Every PaymentIntent, oldest first.
    pub fn all_payment_intents(&self) -> Vec<Value> {
        let state = self.lock();
        state
            .intent_order
            .iter()
            .filter_map(|id| state.intents.get(id))
            .map(|pi| state.render_intent(&self.templates, pi, &[]))
            .collect()
    }

    pub fn payment_intent(&self, id: &str) -> Option<Value> {
        let state = self.lock();
        state
            .intents
            .get(id)
            .map(|pi| state.render_intent(&self.templates, pi, &[]))
    }

    /// Every refund, oldest first.
    pub fn all_refunds(&self) -> Vec<Value> {
        let state = self.lock();
        state
            .refund_order
            .iter()
            .filter_map(|id| state.refunds.get(id))
            .map(|refund| self.templates.refund(refund))
            .collect()
    }

    /// Every event, oldest first.
    pub fn all_events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }
}

impl State {
    fn intent(&self, id: &str, param: &str, status: StatusCode) -> Result<&IntentRecord, ApiError> {
        self.intents
            .get(id)
            .ok_or_else(|| ApiError::no_such("payment_intent", id, param, status))
    }

    fn render_intent(&self, templates: &Templates, pi: &IntentRecord, expand: &[String]) -> Value {
        let expanded = |field: &str| expand.iter().any(|wanted| wanted == field);
        let latest_charge = match &pi.latest_charge {
            None => Value::Null,
            Some(id) => match self.charges.get(id) {
                Some(charge) if expanded("latest_charge") => templates.charge(charge),
                _ => Value::from(id.as_str()),
            },
        };
        let payment_method = match &pi.payment_method {
            None => Value::Null,
            Some(id) => match self.payment_methods.get(id) {
                Some(pm) if expanded("payment_method") => templates.payment_method(pm),
                _ => Value::from(id.as_str()),
            },
        };
        templates.payment_intent(pi, latest_charge, payment_method)
    }
}

/// One operation's view of the locked state.
struct Tx<'a> {
    state: &'a mut State,
    templates: &'a Templates,
    public_url: &'a str,
    request: &'a RequestInfo,
    events: Vec<Value>,
}

/// What `confirm` was asked to do beyond charging the card.
#[derive(Debug, Clone, Default)]
struct ConfirmOptions {
    /// The customer is not there to authenticate (`off_session`), or the caller asked to fail
    /// instead of waiting for authentication (`error_on_requires_action`).
    no_authentication: bool,
    /// Where the customer comes back to after authenticating on a page (`return_url`): with
    /// one, 3-D Secure is a `redirect_to_url` next action instead of Stripe.js's
    /// `use_stripe_sdk`.
    return_url: Option<String>,
}

/// A `payment_method` parameter, resolved.
enum PaymentMethodRef {
    Token(&'static TestCard),
    Existing(String),
}

impl Tx<'_> {
    fn emit(&mut self, type_: &str, object: Value) {
        let id = object_id("evt");
        let event = self.templates.event(
            &id,
            type_,
            object,
            now(),
            self.request,
            self.request.pending_webhooks,
        );
        self.state.event_index.insert(id, self.state.events.len());
        self.state.events.push(event.clone());
        self.events.push(event);
    }

    fn intent_json(&self, id: &str) -> Value {
        self.state.intents.get(id).map_or(Value::Null, |pi| {
            self.state.render_intent(self.templates, pi, &[])
        })
    }

    fn intent_mut(&mut self, id: &str) -> Result<&mut IntentRecord, ApiError> {
        self.state
            .intents
            .get_mut(id)
            .ok_or_else(|| ApiError::no_such("payment_intent", id, "intent", StatusCode::NOT_FOUND))
    }

    fn resolve_payment_method(&self, value: &str) -> Result<PaymentMethodRef, ApiError> {
        if let Some(card) = cards::lookup(value) {
            return Ok(PaymentMethodRef::Token(card));
        }
        if self.state.payment_methods.contains_key(value) {
            return Ok(PaymentMethodRef::Existing(value.to_owned()));
        }
        Err(ApiError::no_such(
            "PaymentMethod",
            value,
            "payment_method",
            StatusCode::BAD_REQUEST,
        ))
    }

    /// Turns a reference into a stored PaymentMethod id (a token makes a new one).
    fn materialise(&mut self, reference: PaymentMethodRef) -> String {
        match reference {
            PaymentMethodRef::Existing(id) => id,
            PaymentMethodRef::Token(card) => {
                let id = object_id("pm");
                self.state.payment_methods.insert(
                    id.clone(),
                    PaymentMethodRecord {
                        id: id.clone(),
                        card,
                        created: now(),
                    },
                );
                id
            }
        }
    }

    fn create_payment_intent(&mut self, params: &Params) -> Result<Value, ApiError> {
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
        let amount = params
            .int("amount")?
            .ok_or_else(|| ApiError::missing_param("amount"))?;
        if amount < 1 {
            return Err(ApiError::invalid_request(
                "This value must be greater than or equal to 1.",
            )
            .code("parameter_invalid_integer")
            .param("amount"));
        }
        if amount > MAX_AMOUNT {
            return Err(ApiError::invalid_request(format!(
                "Amount must be no more than {MAX_AMOUNT}"
            ))
            .code("amount_too_large")
            .param("amount"));
        }
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

    fn render_expanded(&self, id: &str, expand: &[String]) -> Value {
        self.state.intents.get(id).map_or(Value::Null, |pi| {
            self.state.render_intent(self.templates, pi, expand)
        })
    }

    fn confirm_payment_intent(&mut self, id: &str, params: &Params) -> Result<Value, ApiError> {
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

    fn authenticate(
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

    fn cancel_payment_intent(&mut self, id: &str, params: &Params) -> Result<Value, ApiError> {
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

    fn create_refund(&mut self, params: &Params) -> Result<Value, ApiError> {
        unmodelled(params)?;
        params.only(&[
            "payment_intent",
            "charge",
            "amount",
            "reason",
            "metadata",
            "instructions_email",
            "expand",
        ])?;
        let reason = params.choice(
            "reason",
            &["duplicate", "fraudulent", "requested_by_customer"],
        )?;
        let metadata = metadata(params)?;
        let amount = params.int("amount")?;
        if amount.is_some_and(|amount| amount < 1) {
            return Err(ApiError::invalid_request(
                "This value must be greater than or equal to 1.",
            )
            .code("parameter_invalid_integer")
            .param("amount"));
        }
        let charge_id = match (params.str("payment_intent"), params.str("charge")) {
            (None, None) => {
                return Err(ApiError::invalid_request(
                    "One of the following params should be provided for this request: payment_intent or charge.",
                )
                .code("parameter_missing"));
            }
            (Some(intent_id), charge) => {
                let intent =
                    self.state
                        .intent(intent_id, "payment_intent", StatusCode::BAD_REQUEST)?;
                let latest = intent
                    .latest_charge
                    .as_ref()
                    .filter(|_| intent.status == IntentStatus::Succeeded)
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::invalid_request(format!(
                            "This PaymentIntent ({intent_id}) does not have a successful charge to refund."
                        ))
                        .code("charge_not_refundable")
                        .param("payment_intent")
                    })?;
                if charge.is_some_and(|charge| charge != latest) {
                    return Err(ApiError::invalid_request(
                        "The charge does not belong to this PaymentIntent.",
                    )
                    .param("charge"));
                }
                latest
            }
            (None, Some(charge)) => charge.to_owned(),
        };
        let charge = self.state.charges.get_mut(&charge_id).ok_or_else(|| {
            ApiError::no_such("charge", &charge_id, "charge", StatusCode::BAD_REQUEST)
        })?;
        if charge.failure.is_some() {
            return Err(ApiError::invalid_request(format!(
                "Charge {charge_id} has no successful payment to refund."
            ))
            .code("charge_not_refundable"));
        }
        let remaining = charge.amount - charge.amount_refunded;
        if remaining <= 0 {
            return Err(ApiError::invalid_request(format!(
                "Charge {charge_id} has already been refunded."
            ))
            .code("charge_already_refunded"));
        }
        let amount = amount.unwrap_or(remaining);
        if amount > remaining {
            return Err(ApiError::invalid_request(format!(
                "Refund amount ({}) is greater than unrefunded amount on charge ({})",
                format_amount(amount, &charge.currency),
                format_amount(remaining, &charge.currency)
            ))
            .code("amount_too_large")
            .param("amount"));
        }
        let reversal = charge.amount_refunded == 0 && amount == charge.amount;
        charge.amount_refunded += amount;
        let refund = RefundRecord {
            id: object_id("re"),
            amount,
            currency: charge.currency.clone(),
            charge: charge.id.clone(),
            payment_intent: charge.payment_intent.clone(),
            payment_method: charge.payment_method.clone(),
            created: now(),
            reason,
            metadata,
            balance_transaction: object_id("txn"),
            reversal,
        };
        let charge_json = self.templates.charge(charge);
        let refund_json = self.templates.refund(&refund);
        self.state.refund_order.push(refund.id.clone());
        self.state.refunds.insert(refund.id.clone(), refund);
        self.emit("charge.refunded", charge_json);
        self.emit("refund.created", refund_json.clone());
        Ok(refund_json)
    }
}

fn missing_payment_method() -> ApiError {
    ApiError::unexpected_state(
        "You cannot confirm this PaymentIntent because it's missing a payment method. You can either update the PaymentIntent with a payment method and then confirm it again, or confirm it again directly with a payment method or ConfirmationToken.",
    )
}

fn currency(params: &Params) -> Result<String, ApiError> {
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

fn capture_method(params: &Params) -> Result<String, ApiError> {
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
struct PaymentMethodKinds {
    types: Vec<String>,
    allowed: Option<Vec<String>>,
    automatic: Option<AutomaticPaymentMethods>,
}

/// `payment_method_types[]` (older API versions) or `allowed_payment_method_types[]` (newer
/// ones, what `async-stripe` 1.0 sends), and/or `automatic_payment_methods[...]`; the fake
/// models card payments only.
fn payment_method_kinds(params: &Params) -> Result<PaymentMethodKinds, ApiError> {
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
fn metadata(params: &Params) -> Result<BTreeMap<String, String>, ApiError> {
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

fn confirm_options(params: &Params) -> Result<ConfirmOptions, ApiError> {
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
fn expansions(params: &Params, prefix: &str) -> Result<Vec<String>, ApiError> {
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

/// `created=<ts>` or `created[gt|gte|lt|lte]=<ts>`.
#[derive(Debug, Default)]
struct CreatedFilter {
    bounds: Vec<(String, i64)>,
}

impl CreatedFilter {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let mut bounds = Vec::new();
        if let Some(exact) = params.int("created")? {
            bounds.push(("eq".to_owned(), exact));
        }
        if let Some(map) = params.map("created") {
            params.only_nested("created", &["gt", "gte", "lt", "lte"])?;
            for (op, value) in map {
                let value = value
                    .parse()
                    .map_err(|_| ApiError::invalid_integer(&format!("created[{op}]"), &value))?;
                bounds.push((op, value));
            }
        }
        Ok(Self { bounds })
    }

    fn matches(&self, created: i64) -> bool {
        self.bounds.iter().all(|(op, bound)| match op.as_str() {
            "gt" => created > *bound,
            "gte" => created >= *bound,
            "lt" => created < *bound,
            "lte" => created <= *bound,
            _ => created == *bound,
        })
    }
}

/// Cursor pagination over ids ordered newest first: `limit` (1..=100, default 10),
/// `starting_after`, `ending_before`.
fn paginate<'a>(
    ids: &[&'a String],
    params: &Params,
    kind: &str,
) -> Result<(Vec<&'a String>, bool), ApiError> {
    let limit = params.int("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_value(
            "limit",
            "This value must be between 1 and 100.",
        ));
    }
    let limit = usize::try_from(limit).unwrap_or(10);
    let position = |param: &str, id: &str| {
        ids.iter()
            .position(|candidate| candidate.as_str() == id)
            .ok_or_else(|| ApiError::no_such(kind, id, param, StatusCode::BAD_REQUEST))
    };
    if let Some(after) = params.str("starting_after") {
        let start = position("starting_after", after)? + 1;
        let page: Vec<&String> = ids.iter().skip(start).take(limit).copied().collect();
        let has_more = start + page.len() < ids.len();
        Ok((page, has_more))
    } else if let Some(before) = params.str("ending_before") {
        let end = position("ending_before", before)?;
        let start = end.saturating_sub(limit);
        Ok((ids[start..end].to_vec(), start > 0))
    } else {
        let page: Vec<&String> = ids.iter().take(limit).copied().collect();
        Ok((page, ids.len() > limit))
    }
}

fn list_object(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}

/// Amounts in messages as Stripe writes them: `usd 10.00`, `jpy 500`.
fn format_amount(amount: i64, currency: &str) -> String {
    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];
    if ZERO_DECIMAL.contains(&currency) {
        format!("{currency} {amount}")
    } else {
        format!("{currency} {}.{:02}", amount / 100, amount % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        Store::new(Templates::load().unwrap(), "http://fake.test")
    }

    fn request() -> RequestInfo {
        RequestInfo {
            id: Some("req_test".into()),
            idempotency_key: None,
            pending_webhooks: 0,
        }
    }

    fn create(store: &Store, body: &str) -> Outcome {
        store.create_payment_intent(&Params::parse(body.as_bytes()), &request())
    }

    fn event_types(outcome: &Outcome) -> Vec<&str> {
        outcome
            .events
            .iter()
            .filter_map(|event| event["type"].as_str())
            .collect()
    }

    #[test]
    fn a_visa_payment_succeeds_with_a_charge() {
        let store = store();
        let outcome = create(
            &store,
            "amount=1099&currency=USD&payment_method=pm_card_visa&confirm=true&metadata[order_id]=o1",
        );
        assert_eq!(
            event_types(&outcome),
            [
                "payment_intent.created",
                "charge.succeeded",
                "payment_intent.succeeded"
            ]
        );
        let pi = outcome.result.unwrap();
        assert_eq!(pi["status"], "succeeded");
        assert_eq!(pi["currency"], "usd");
        assert_eq!(pi["amount_received"], 1099);
        assert_eq!(pi["metadata"]["order_id"], "o1");
        assert!(pi["payment_method"].as_str().unwrap().starts_with("pm_"));
        let charge_id = pi["latest_charge"].as_str().unwrap();
        let charge = store
            .retrieve_charge(charge_id, &Params::default())
            .unwrap();
        assert_eq!(charge["status"], "succeeded");
        assert_eq!(charge["payment_intent"], pi["id"]);
        assert_eq!(charge["payment_method_details"]["card"]["last4"], "4242");
    }

    #[test]
    fn a_declined_card_leaves_the_intent_awaiting_a_new_payment_method() {
        let store = store();
        let outcome = create(
            &store,
            "amount=500&currency=eur&payment_method=pm_card_chargeDeclined&confirm=true",
        );
        assert_eq!(
            event_types(&outcome),
            [
                "payment_intent.created",
                "charge.failed",
                "payment_intent.payment_failed"
            ]
        );
        let error = outcome.result.unwrap_err();
        assert_eq!(error.status, StatusCode::PAYMENT_REQUIRED);
        let body = error.body();
        assert_eq!(body["error"]["code"], "card_declined");
        assert_eq!(body["error"]["decline_code"], "generic_decline");
        let pi = &body["error"]["payment_intent"];
        assert_eq!(pi["status"], "requires_payment_method");
        assert_eq!(pi["payment_method"], Value::Null);
        assert_eq!(pi["last_payment_error"]["code"], "card_declined");
        assert_eq!(
            store.payment_intent(pi["id"].as_str().unwrap()).unwrap()["status"],
            "requires_payment_method"
        );
    }

    #[test]
    fn three_d_secure_waits_for_the_customer_then_succeeds_or_fails() {
        let store = store();
        for (outcome, status) in [
            (AuthenticationOutcome::Succeed, "succeeded"),
            (AuthenticationOutcome::Fail, "requires_payment_method"),
        ] {
            let pi = create(
                &store,
                "amount=500&currency=usd&payment_method=pm_card_threeDSecure2Required&confirm=true",
            )
            .result
            .unwrap();
            assert_eq!(pi["status"], "requires_action");
            assert_eq!(pi["next_action"]["type"], "use_stripe_sdk");
            let id = pi["id"].as_str().unwrap();
            let done = store.authenticate(id, outcome, &request());
            assert_eq!(done.result.unwrap()["status"], status);
            // A second authentication has nothing to complete.
            assert!(store.authenticate(id, outcome, &request()).result.is_err());
        }
    }

    #[test]
    fn off_session_payments_that_need_authentication_are_declined() {
        let store = store();
        let error = create(
            &store,
            "amount=500&currency=usd&payment_method=pm_card_authenticationRequired&confirm=true&off_session=true",
        )
        .result
        .unwrap_err();
        assert_eq!(error.body()["error"]["code"], "authentication_required");
    }

    #[test]
    fn validation_errors_name_the_parameter_and_create_nothing() {
        let store = store();
        for (body, param) in [
            ("currency=usd", "amount"),
            ("amount=5", "currency"),
            ("amount=0&currency=usd", "amount"),
            (
                "amount=5&currency=usd&payment_method=pm_card_bogus",
                "payment_method",
            ),
            ("amount=5&currency=usd&colour=red", "colour"),
            ("amount=5&currency=usd&customer=cus_1", "customer"),
        ] {
            let error = create(&store, body).result.unwrap_err();
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error.body()["error"]["param"], param, "{body}");
        }
        assert!(store.all_payment_intents().is_empty());
    }

    #[test]
    fn refunds_are_bounded_by_what_was_charged() {
        let store = store();
        let pi = create(
            &store,
            "amount=1000&currency=usd&payment_method=pm_card_visa&confirm=true",
        )
        .result
        .unwrap();
        let id = pi["id"].as_str().unwrap();
        let refund =
            |body: String| store.create_refund(&Params::parse(body.as_bytes()), &request());
        let partial = refund(format!("payment_intent={id}&amount=300"))
            .result
            .unwrap();
        assert_eq!(partial["amount"], 300);
        let too_much = refund(format!("payment_intent={id}&amount=800"))
            .result
            .unwrap_err();
        assert_eq!(too_much.body()["error"]["code"], "amount_too_large");
        let rest = refund(format!("payment_intent={id}"));
        assert_eq!(event_types(&rest), ["charge.refunded", "refund.created"]);
        assert_eq!(rest.result.unwrap()["amount"], 700);
        let again = refund(format!("payment_intent={id}")).result.unwrap_err();
        assert_eq!(again.body()["error"]["code"], "charge_already_refunded");
        let charge = store
            .retrieve_charge(pi["latest_charge"].as_str().unwrap(), &Params::default())
            .unwrap();
        assert_eq!(charge["amount_refunded"], 1000);
        assert_eq!(charge["refunded"], true);
    }

    #[test]
    fn cancel_only_before_success() {
        let store = store();
        let open = create(&store, "amount=100&currency=usd").result.unwrap();
        let canceled = store
            .cancel_payment_intent(
                open["id"].as_str().unwrap(),
                &Params::parse(b"cancellation_reason=abandoned"),
                &request(),
            )
            .result
            .unwrap();
        assert_eq!(canceled["status"], "canceled");
        assert_eq!(canceled["cancellation_reason"], "abandoned");
        let paid = create(
            &store,
            "amount=100&currency=usd&payment_method=pm_card_visa&confirm=true",
        )
        .result
        .unwrap();
        let error = store
            .cancel_payment_intent(paid["id"].as_str().unwrap(), &Params::default(), &request())
            .result
            .unwrap_err();
        assert_eq!(
            error.body()["error"]["code"],
            "payment_intent_unexpected_state"
        );
    }

    #[test]
    fn lists_page_newest_first() {
        let store = store();
        let ids: Vec<String> = (0..5)
            .map(|_| {
                create(&store, "amount=100&currency=usd").result.unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        let page = store
            .list_payment_intents(&Params::parse(b"limit=2"))
            .unwrap();
        assert_eq!(page["has_more"], true);
        assert_eq!(page["data"][0]["id"], ids[4].as_str());
        let next = store
            .list_payment_intents(&Params::parse(
                format!("limit=10&starting_after={}", ids[3]).as_bytes(),
            ))
            .unwrap();
        assert_eq!(next["data"].as_array().unwrap().len(), 3);
        assert_eq!(next["has_more"], false);
    }

    #[test]
    fn amounts_in_messages() {
        assert_eq!(format_amount(1050, "usd"), "usd 10.50");
        assert_eq!(format_amount(500, "jpy"), "jpy 500");
    }
}
