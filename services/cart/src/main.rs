use shop_cart::{App, CartConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shop_kit::telemetry::init("shop-cart")?;
    let config: CartConfig = shop_kit::config::load()?;
    let app = App::build(config).await?;
    tracing::info!(grpc = %app.grpc_addr(), admin = %app.admin_addr(), "shop-cart started");
    app.run(shop_kit::shutdown::signal()).await
}
