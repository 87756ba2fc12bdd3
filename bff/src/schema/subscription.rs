//! `orderUpdated`: the checkout's progress, live. The first message is the order as it is
//! now (so a late subscriber misses nothing); then a message whenever the order changes; the
//! stream ends after CONFIRMED or CANCELLED. Only the owner or an admin may subscribe:
//! ownership is Order.GetOrder's decision, made with the subscriber's own token.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, Subscription as SubscriptionDerive};
use futures::Stream;
use shop_proto::shop::order::v1::GetOrderRequest;
use tokio::sync::broadcast::{self, error::RecvError};

use super::types::Order;
use super::{clients, shared, viewer};
use crate::clients::Clients;
use crate::errors;
use crate::gateway::BffMetrics;

pub struct Subscription;

#[SubscriptionDerive]
impl Subscription {
    /// The order now, then on every change until it is CONFIRMED or CANCELLED.
    async fn order_updated(
        &self,
        ctx: &Context<'_>,
        order_id: ID,
    ) -> async_graphql::Result<impl Stream<Item = async_graphql::Result<Order>> + use<>> {
        let (_, bearer) = viewer(ctx)?.require_user()?;
        let shared = shared(ctx)?;
        // Listen before reading, so a change between the read and the first event is seen.
        let events = shared.feed.subscribe();
        let mut watch = Watch {
            clients: clients(ctx)?.clone(),
            bearer: bearer.to_owned(),
            order_id: order_id.0,
            events,
            stopping: shared.stopping.clone(),
            poll_every: shared.poll_every,
            last_version: None,
            done: false,
            _active: Active::new(shared.metrics.clone()),
        };
        let current = match watch.read().await {
            Ok(order) => order,
            Err(status) if status.code() == tonic::Code::NotFound => {
                return Err(errors::coded("NOT_FOUND", "no such order"));
            }
            Err(status) => return Err(errors::from_status(status)),
        };
        watch.last_version = Some(current.version);
        watch.done = Order(current.clone()).current_status().is_final();
        let first = futures::stream::once(async move { Ok(Order(current)) });
        Ok(futures::StreamExt::chain(
            first,
            futures::stream::unfold(watch, Watch::next),
        ))
    }
}

/// Re-reads of an unchanged order after an event about it, and the pause unit between
/// them (200, 400, 600, 800 ms: two seconds in all).
const EAGER_READS: u32 = 4;
const EAGER_READ_PAUSE: Duration = Duration::from_millis(200);

/// One subscriber's view of one order.
struct Watch {
    clients: Clients,
    bearer: String,
    order_id: String,
    events: broadcast::Receiver<Arc<str>>,
    stopping: tokio::sync::watch::Receiver<bool>,
    poll_every: Duration,
    last_version: Option<i64>,
    done: bool,
    _active: Active,
}

impl Watch {
    async fn read(&self) -> Result<shop_proto::shop::order::v1::Order, tonic::Status> {
        let request = self.clients.request(
            GetOrderRequest {
                id: self.order_id.clone(),
            },
            Some(&self.bearer),
        );
        self.clients
            .orders
            .clone()
            .get_order(request)
            .await?
            .into_inner()
            .order
            .ok_or_else(|| tonic::Status::internal("GetOrder returned no order"))
    }

    /// Waits for the next change of the order; `None` ends the stream.
    ///
    /// An event about the order can reach the BFF before the Order service has applied it
    /// (both consume it at once; `payment.requires_action` even changes the order without
    /// Order emitting anything after). So after an event, an order that still reads
    /// unchanged is read again a few times at short, growing pauses before the slow poll
    /// takes over: the client secret of a 3-D Secure payment shows within a second, not a
    /// poll period.
    async fn next(mut self) -> Option<(async_graphql::Result<Order>, Self)> {
        if self.done {
            return None;
        }
        let mut eager_reads_left = 0u32;
        loop {
            let pause = if eager_reads_left > 0 {
                EAGER_READ_PAUSE * (EAGER_READS - eager_reads_left + 1)
            } else {
                self.poll_every
            };
            let changed = tokio::select! {
                _ = self.stopping.wait_for(|stopping| *stopping) => return None,
                event = self.events.recv() => match event {
                    Ok(id) if *id == *self.order_id => {
                        eager_reads_left = EAGER_READS;
                        true
                    }
                    Ok(_) => false,
                    // Fell behind: we may have missed ours.
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return None,
                },
                () = tokio::time::sleep(pause) => {
                    eager_reads_left = eager_reads_left.saturating_sub(1);
                    true
                }
            };
            if !changed {
                continue;
            }
            match self.read().await {
                Ok(order) => {
                    if Some(order.version) == self.last_version {
                        continue;
                    }
                    self.last_version = Some(order.version);
                    let order = Order(order);
                    self.done = order.current_status().is_final();
                    return Some((Ok(order), self));
                }
                Err(status)
                    if matches!(
                        status.code(),
                        tonic::Code::NotFound
                            | tonic::Code::PermissionDenied
                            | tonic::Code::Unauthenticated
                    ) =>
                {
                    self.done = true;
                    return Some((Err(errors::from_status(status)), self));
                }
                // Transient: the next event or poll tries again.
                Err(status) => {
                    tracing::warn!(code = ?status.code(), order_id = %self.order_id, "cannot re-read order");
                }
            }
        }
    }
}

/// Counts live subscriptions in `/metrics`.
struct Active(Arc<BffMetrics>);

impl Active {
    fn new(metrics: Arc<BffMetrics>) -> Self {
        metrics.subscriptions.inc();
        Self(metrics)
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        self.0.subscriptions.dec();
    }
}
