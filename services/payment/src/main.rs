use shop_payment::{App, PaymentConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shop_kit::telemetry::init("shop-payment")?;
    let config: PaymentConfig = shop_kit::config::load()?;
    let app = App::build(config).await?;
    tracing::info!(grpc = %app.grpc_addr(), admin = %app.admin_addr(), "shop-payment started");
    app.run(shop_kit::shutdown::signal()).await
}
