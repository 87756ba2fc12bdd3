//! The WebSocket transport's gatekeeper. `/graphql/ws` exists for subscriptions only:
//! queries and mutations belong on POST /graphql, where the rate limits, body limit and
//! request timeout apply, so over a socket they are refused with BAD_REQUEST instead of
//! running unmetered. Live subscriptions are capped per connection and per user (each one
//! holds a broadcast receiver and polls the Order service), and every response gets the
//! same error sanitising as over HTTP.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::parser::types::{DocumentOperations, OperationType};
use async_graphql::{Data, Executor, Request, Response, ServerError};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::ShopSchema;
use crate::viewer::Viewer;

/// Live subscriptions per user key, over all connections to this replica.
#[derive(Default)]
pub struct SubscriptionCounts(Mutex<HashMap<String, usize>>);

impl SubscriptionCounts {
    /// Takes a slot for `key` unless it already holds `max`.
    fn acquire(&self, key: &str, max: usize) -> bool {
        let Ok(mut counts) = self.0.lock() else {
            return false;
        };
        let count = counts.entry(key.to_owned()).or_default();
        if *count >= max {
            return false;
        }
        *count += 1;
        true
    }

    fn release(&self, key: &str) {
        if let Ok(mut counts) = self.0.lock()
            && let Some(count) = counts.get_mut(key)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                counts.remove(key);
            }
        }
    }
}

/// The executor one WebSocket connection runs its operations through.
#[derive(Clone)]
pub struct SubscriptionsOnly {
    schema: ShopSchema,
    per_user: Arc<SubscriptionCounts>,
    /// This connection's live subscriptions.
    live: Arc<AtomicUsize>,
    max_per_connection: usize,
    max_per_user: usize,
}

impl SubscriptionsOnly {
    pub fn new(
        schema: ShopSchema,
        per_user: Arc<SubscriptionCounts>,
        max_per_connection: usize,
        max_per_user: usize,
    ) -> Self {
        Self {
            schema,
            per_user,
            live: Arc::new(AtomicUsize::new(0)),
            max_per_connection,
            max_per_user,
        }
    }

    /// A slot on this connection and for the user, released when the stream is dropped
    /// (completed, stopped by the client, or the connection closed).
    /// The error is the refusal's message.
    fn slot(&self, user_key: String) -> Result<Slot, String> {
        let taken = self
            .live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.max_per_connection).then_some(live + 1)
            });
        if taken.is_err() {
            return Err(format!(
                "at most {} live subscriptions per connection; stop one first",
                self.max_per_connection
            ));
        }
        if !self.per_user.acquire(&user_key, self.max_per_user) {
            self.live.fetch_sub(1, Ordering::AcqRel);
            return Err(format!(
                "at most {} live subscriptions per user; stop one first",
                self.max_per_user
            ));
        }
        Ok(Slot {
            live: self.live.clone(),
            per_user: self.per_user.clone(),
            user_key,
        })
    }
}

struct Slot {
    live: Arc<AtomicUsize>,
    per_user: Arc<SubscriptionCounts>,
    user_key: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.per_user.release(&self.user_key);
    }
}

fn refusal(code: &str, message: &str) -> Response {
    let mut error = ServerError::new(message, None);
    error
        .extensions
        .get_or_insert_with(Default::default)
        .set("code", code);
    Response::from_errors(vec![error])
}

/// Whether the operation the request selects is a subscription. `None` when the document
/// does not parse or names no such operation: the schema then reports that itself.
fn is_subscription(request: &Request) -> Option<bool> {
    let document = async_graphql::parser::parse_query(&request.query).ok()?;
    let ty = match (&document.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(operation), _) => operation.node.ty,
        (DocumentOperations::Multiple(operations), Some(name)) => operations.get(name)?.node.ty,
        (DocumentOperations::Multiple(operations), None) if operations.len() == 1 => {
            operations.values().next()?.node.ty
        }
        (DocumentOperations::Multiple(_), None) => return None,
    };
    Some(ty == OperationType::Subscription)
}

fn sanitized(mut response: Response) -> Response {
    crate::errors::sanitize(&mut response);
    response
}

impl Executor for SubscriptionsOnly {
    fn execute(&self, request: Request) -> impl Future<Output = Response> + Send {
        // The socket protocol runs everything through `execute_stream`; this is for
        // completeness and refuses the same way.
        let refused = match is_subscription(&request) {
            Some(false) => Some(refusal(
                "BAD_REQUEST",
                "only subscriptions are served over the WebSocket; send queries and mutations as POST /graphql",
            )),
            _ => None,
        };
        let schema = self.schema.clone();
        async move {
            match refused {
                Some(response) => response,
                None => sanitized(schema.execute(request).await),
            }
        }
    }

    fn execute_stream(
        &self,
        request: Request,
        session_data: Option<Arc<Data>>,
    ) -> BoxStream<'static, Response> {
        match is_subscription(&request) {
            Some(false) => {
                return futures::stream::once(async {
                    refusal(
                        "BAD_REQUEST",
                        "only subscriptions are served over the WebSocket; send queries and mutations as POST /graphql",
                    )
                })
                .boxed();
            }
            None => {
                // Unparseable or ambiguous: the schema's own error, sanitised, no slot.
                return self
                    .schema
                    .execute_stream_with_session_data(request, session_data.unwrap_or_default())
                    .map(sanitized)
                    .boxed();
            }
            Some(true) => {}
        }
        let user_key = session_data
            .as_ref()
            .and_then(|data| data.get(&TypeId::of::<Viewer>()))
            .and_then(|viewer| viewer.downcast_ref::<Viewer>())
            .map(Viewer::client_key)
            .unwrap_or_else(|| "anonymous".to_owned());
        let slot = match self.slot(user_key) {
            Ok(slot) => slot,
            Err(message) => {
                let response = refusal("TOO_MANY_SUBSCRIPTIONS", &message);
                return futures::stream::once(async { response }).boxed();
            }
        };
        self.schema
            .execute_stream_with_session_data(request, session_data.unwrap_or_default())
            .map(move |response| {
                // The slot lives as long as the stream.
                let _held = &slot;
                sanitized(response)
            })
            .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_told_apart() {
        let request = |query: &str| Request::new(query);
        assert_eq!(
            is_subscription(&request(
                "subscription { orderUpdated(orderId: \"1\") { id } }"
            )),
            Some(true)
        );
        assert_eq!(is_subscription(&request("{ me { id } }")), Some(false));
        assert_eq!(
            is_subscription(&request("mutation { logout(refreshToken: \"x\") }")),
            Some(false)
        );
        let two = "query A { me { id } } subscription B { orderUpdated(orderId: \"1\") { id } }";
        assert_eq!(
            is_subscription(&request(two).operation_name("A")),
            Some(false)
        );
        assert_eq!(
            is_subscription(&request(two).operation_name("B")),
            Some(true)
        );
        assert_eq!(is_subscription(&request(two)), None);
        assert_eq!(is_subscription(&request("{ nope")), None);
    }

    #[test]
    fn per_user_slots_are_counted_and_released() {
        let counts = SubscriptionCounts::default();
        assert!(counts.acquire("u", 2));
        assert!(counts.acquire("u", 2));
        assert!(!counts.acquire("u", 2));
        assert!(counts.acquire("v", 2));
        counts.release("u");
        assert!(counts.acquire("u", 2));
    }
}
