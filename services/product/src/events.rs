//! Cache coherence across replicas: every replica binds a private queue to
//! `product.changed` and drops what the change may have made stale from its read model (the
//! product, every catalog page, the search vocabulary and category counts), so a change
//! made on one replica is not served stale by another for the rest of the cache TTL.

use shop_bus::consumer::{Handled, QueueSpec};
use shop_proto::shop::events::v1::{Envelope, envelope::Payload};

use crate::cache::ReadModel;

pub fn queue_spec() -> QueueSpec {
    QueueSpec::per_replica(shop_bus::topology::PRODUCT_CACHE, &["product.changed"])
}

/// This replica's listener on its cache-invalidation queue.
pub struct CacheInvalidation {
    pub read_model: ReadModel,
}

impl shop_bus::Handle for CacheInvalidation {
    async fn handle(&self, envelope: Envelope) -> Handled {
        if let Some(Payload::ProductChanged(changed)) = envelope.payload {
            tracing::debug!(product_id = %changed.product_id, version = changed.version, "product changed; dropping what it may have made stale");
            self.read_model
                .changed_elsewhere(&changed.product_id, &changed.sku)
                .await;
        }
        Handled::Done
    }
}
