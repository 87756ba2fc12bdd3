use shop_inventory::{App, InventoryConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shop_kit::telemetry::init("shop-inventory")?;
    let config: InventoryConfig = shop_kit::config::load()?;
    let app = App::build(config).await?;
    tracing::info!(grpc = %app.grpc_addr(), admin = %app.admin_addr(), "shop-inventory started");
    app.run(shop_kit::shutdown::signal()).await
}
