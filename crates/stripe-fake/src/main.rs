//! `shop-stripe-fake`: the fake Stripe API for `just up`, on SHOP_STRIPE_FAKE_ADDR
//! (127.0.0.1:12111 by default), sending signed webhooks to SHOP_STRIPE_WEBHOOK_URL with
//! SHOP_STRIPE_WEBHOOK_SECRET when both are set. Point the Payment service's Stripe base URL
//! at it and use any `sk_test_...` key.

use shop_stripe_fake::{FakeStripe, FakeStripeConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shop_kit::telemetry::init("shop-stripe-fake")?;
    let config: FakeStripeConfig = shop_kit::config::load()?;
    let fake = FakeStripe::start(config).await?;
    tracing::info!(base_url = %fake.base_url(), "shop-stripe-fake started");
    shop_kit::shutdown::signal().await;
    fake.stop().await?;
    Ok(())
}
