//! The page a `redirect_to_url` next action sends the customer to, standing in for the card
//! issuer's 3-D Secure challenge that Stripe hosts (`hooks.stripe.com/redirect/authenticate`).
//!
//! ```text
//! GET  /_fake/3ds/{intent}             the challenge: "Complete authentication" / "Fail authentication"
//! POST /_fake/3ds/{intent}  outcome=…  finishes it, then 303 to the intent's return_url with
//!                                      payment_intent, payment_intent_client_secret and
//!                                      redirect_status=succeeded|failed, as Stripe does
//! ```
//!
//! Like the rest of `/_fake` it needs no key: it exists so a browser test can take a shopper
//! through the whole 3-D Secure round trip on one machine.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::fake::Fake;
use crate::form::Params;
use crate::store::AuthenticationOutcome;

/// Where the customer goes back to, read off an intent that awaits a redirect challenge.
struct Challenge {
    return_url: String,
    client_secret: String,
    amount: i64,
    currency: String,
}

fn challenge(fake: &Fake, id: &str) -> Option<Challenge> {
    let intent = fake.store.payment_intent(id)?;
    if intent["status"] != "requires_action" {
        return None;
    }
    let redirect = &intent["next_action"]["redirect_to_url"];
    Some(Challenge {
        return_url: redirect["return_url"].as_str()?.to_owned(),
        client_secret: intent["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        amount: intent["amount"].as_i64().unwrap_or_default(),
        currency: intent["currency"]
            .as_str()
            .unwrap_or_default()
            .to_uppercase(),
    })
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            c => c.to_string(),
        })
        .collect()
}

fn not_awaiting(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(format!(
            "<!doctype html><title>Nothing to authenticate</title><p>No payment <code>{}</code> is waiting for 3-D Secure on a page.</p>",
            escape(id)
        )),
    )
        .into_response()
}

pub(crate) async fn show(State(fake): State<Arc<Fake>>, Path(id): Path<String>) -> Response {
    let Some(challenge) = challenge(&fake, &id) else {
        return not_awaiting(&id);
    };
    let id = escape(&id);
    let amount = format!(
        "{}.{:02} {}",
        challenge.amount / 100,
        challenge.amount % 100,
        escape(&challenge.currency)
    );
    Html(format!(
        r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>3D Secure test page</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}
button{{font:inherit;padding:.6rem 1rem;margin:.25rem .5rem .25rem 0;border-radius:6px;border:2px solid #1d3f8f}}
.complete{{background:#1d3f8f;color:#fff}}.fail{{background:#fff;color:#1d3f8f}}</style></head>
<body>
<main>
<h1>3D Secure test page</h1>
<p>shop-stripe-fake is standing in for your card issuer. Approve or refuse the payment of <strong>{amount}</strong> (<code>{id}</code>).</p>
<form method="post" action="/_fake/3ds/{id}">
<button class="complete" type="submit" name="outcome" value="succeed">Complete authentication</button>
<button class="fail" type="submit" name="outcome" value="fail">Fail authentication</button>
</form>
</main>
</body>
</html>"#
    ))
    .into_response()
}

pub(crate) async fn submit(
    State(fake): State<Arc<Fake>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(challenge) = challenge(&fake, &id) else {
        return not_awaiting(&id);
    };
    let params = Params::parse(&body);
    let outcome: AuthenticationOutcome = match params.str("outcome").unwrap_or("").parse() {
        Ok(outcome) => outcome,
        Err(message) => return (StatusCode::BAD_REQUEST, message).into_response(),
    };
    let status = match outcome {
        AuthenticationOutcome::Succeed => "succeeded",
        AuthenticationOutcome::Fail => "failed",
    };
    if let Err(error) = fake.authenticate(&id, outcome) {
        return (error.status, Html(escape(&error.body().to_string()))).into_response();
    }
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("payment_intent", &id)
        .append_pair("payment_intent_client_secret", &challenge.client_secret)
        .append_pair("redirect_status", status)
        .finish();
    let separator = if challenge.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{separator}{query}", challenge.return_url);
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}
