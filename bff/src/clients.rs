//! The BFF's gRPC clients. Every call carries a deadline (the channel's timeout, also sent as
//! `grpc-timeout` so the server can give up too) and the caller's own `authorization`, so
//! each service authorises the end user itself rather than trusting the BFF.

use std::time::Duration;

use shop_kit::client::{TracedChannel, traced_channel};
use shop_proto::shop::cart::v1::cart_service_client::CartServiceClient;
use shop_proto::shop::inventory::v1::inventory_service_client::InventoryServiceClient;
use shop_proto::shop::order::v1::order_service_client::OrderServiceClient;
use shop_proto::shop::product::v1::product_service_client::ProductServiceClient;
use shop_proto::shop::user::v1::user_service_client::UserServiceClient;

use crate::BffConfig;

/// Cheap to clone: tonic clients share their channel.
#[derive(Clone)]
pub struct Clients {
    pub users: UserServiceClient<TracedChannel>,
    pub products: ProductServiceClient<TracedChannel>,
    pub inventory: InventoryServiceClient<TracedChannel>,
    pub carts: CartServiceClient<TracedChannel>,
    pub orders: OrderServiceClient<TracedChannel>,
    deadline: Duration,
}

impl Clients {
    /// Lazily connecting channels: the BFF starts (and reports errors per request) even when
    /// a service is still down.
    pub fn connect(config: &BffConfig) -> Result<Self, shop_kit::client::ClientError> {
        let deadline = Duration::from_millis(config.upstream_deadline_ms.max(1));
        Ok(Self {
            users: UserServiceClient::new(traced_channel(&config.user_url, deadline)?),
            products: ProductServiceClient::new(traced_channel(&config.product_url, deadline)?),
            inventory: InventoryServiceClient::new(traced_channel(
                &config.inventory_url,
                deadline,
            )?),
            carts: CartServiceClient::new(traced_channel(&config.cart_url, deadline)?),
            orders: OrderServiceClient::new(traced_channel(&config.order_url, deadline)?),
            deadline,
        })
    }

    /// A request with the deadline and, when given, the caller's bearer token.
    pub fn request<T>(&self, message: T, bearer: Option<&str>) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline);
        if let Some(token) = bearer
            && let Ok(value) = format!("Bearer {token}").parse()
        {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
}
