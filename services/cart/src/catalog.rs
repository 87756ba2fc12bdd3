//! The Product service as the cart sees it: one `BatchGetProducts` per lookup, with a
//! deadline and trace propagation.
//!
//! A cart never stores prices, so every reply depends on Product. When Product is down,
//! slow or answers nonsense, the caller gets UNAVAILABLE (`ServiceError::from_upstream`):
//! never a partial cart, a zero price or a price from some older call.

use std::collections::HashMap;
use std::time::Duration;

use shop_kit::client::{self, ClientError, TracedChannel};
use shop_kit::{Money, ServiceError};
use shop_proto::shop::product::v1::{
    BatchGetProductsRequest, product_service_client::ProductServiceClient,
};

use crate::domain::CatalogEntry;

#[derive(Clone)]
pub struct Catalog {
    client: ProductServiceClient<TracedChannel>,
    deadline: Duration,
}

impl Catalog {
    /// A lazily connecting client, so the cart starts (and serves empty carts) while
    /// Product is still coming up.
    pub fn new(product_url: &str, deadline: Duration) -> Result<Self, ClientError> {
        Ok(Self {
            client: ProductServiceClient::new(client::traced_channel(product_url, deadline)?),
            deadline,
        })
    }

    /// What Product knows about `skus`, keyed by SKU. SKUs it does not know are simply
    /// absent from the map; archived products are included.
    #[tracing::instrument(skip_all, fields(skus = skus.len()))]
    pub async fn lookup(
        &self,
        skus: &[String],
    ) -> Result<HashMap<String, CatalogEntry>, ServiceError> {
        let mut request = tonic::Request::new(BatchGetProductsRequest {
            ids: Vec::new(),
            skus: skus.to_vec(),
        });
        // Sent as `grpc-timeout`, so Product gives up when we do.
        request.set_timeout(self.deadline);
        let response = self
            .client
            .clone()
            .batch_get_products(request)
            .await
            .map_err(|status| ServiceError::from_upstream("the product catalog", status))?
            .into_inner();
        let mut entries = HashMap::with_capacity(response.products.len());
        for product in response.products {
            let price = Money::from_proto(product.price.as_ref()).map_err(|error| {
                ServiceError::internal(anyhow::anyhow!(
                    "product {} has an unusable price: {error}",
                    product.sku
                ))
            })?;
            entries.insert(
                product.sku,
                CatalogEntry {
                    name: product.name,
                    image_url: product.image_url,
                    price,
                    archived: product.archived,
                },
            );
        }
        Ok(entries)
    }
}
