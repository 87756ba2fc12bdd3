//! The one way the Product tests start a service: on free ports, against a test database
//! and exchange of their own.

use shop_product::{App, ProductConfig};
use shop_proto::shop::product::v1::product_service_client::ProductServiceClient;
use shop_testkit::{RunningService, TestAmqp, TestMongo};
use tonic::transport::Channel;

pub fn config(mongo: &TestMongo, amqp: &TestAmqp, cache_ttl_secs: u64) -> ProductConfig {
    ProductConfig {
        host: shop_testkit::test_host(),
        mongo: mongo.config(),
        cache_ttl_secs,
        amqp: amqp.bus_config(),
        ..ProductConfig::default()
    }
}

pub async fn spawn(config: ProductConfig) -> (RunningService, ProductServiceClient<Channel>) {
    let service = RunningService::start::<App>(config)
        .await
        .expect("product service starts");
    let client = ProductServiceClient::new(service.channel().await.expect("serving"));
    (service, client)
}
