//! The one way the Product tests start a service: on free ports, against a test database
//! and exchange of their own.

use shop_product::{App, ProductConfig};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::product::v1 as pb;
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

pub fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "EUR".into(),
    })
}

/// A valid product to create, priced in EUR.
pub fn product(sku: &str, name: &str, price: i64, category: &str) -> pb::Product {
    pb::Product {
        sku: sku.into(),
        name: name.into(),
        description: format!("{name}, a fine thing"),
        price: eur(price),
        category: category.into(),
        image_url: format!("/images/{}.jpg", sku.to_lowercase()),
        attributes: [("colour".to_owned(), "blue".to_owned())].into(),
        ..Default::default()
    }
}
