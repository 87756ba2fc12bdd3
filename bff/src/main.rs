use shop_bff::{App, BffConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if std::env::args().any(|arg| arg == "--print-schema") {
        print!("{}", shop_bff::schema_sdl());
        return Ok(());
    }
    let _telemetry = shop_kit::telemetry::init("shop-bff")?;
    let config: BffConfig = shop_kit::config::load()?;
    let app = App::build(config).await?;
    tracing::info!(http = %app.local_addr(), "shop-bff started");
    app.run(shop_kit::shutdown::signal()).await
}
