use shop_user::{App, UserConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = shop_kit::telemetry::init("shop-user")?;
    let config: UserConfig = shop_kit::config::load()?;
    let app = App::build(config).await?;
    tracing::info!(grpc = %app.grpc_addr(), admin = %app.admin_addr(), "shop-user started");
    app.run(shop_kit::shutdown::signal()).await
}
