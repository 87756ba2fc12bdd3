use shop_product::{App, ProductConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shop_kit::telemetry::init("shop-product")?;
    let config: ProductConfig = shop_kit::config::load()?;
    let app = App::build(config).await?;
    tracing::info!(grpc = %app.grpc_addr(), admin = %app.admin_addr(), "shop-product started");
    app.run(shop_kit::shutdown::signal()).await
}
