fn main() -> anyhow::Result<()> {
    // For `web/`'s code generation, without configuration or backends.
    if std::env::args().any(|arg| arg == "--print-schema") {
        print!("{}", shop_bff::schema_sdl());
        return Ok(());
    }
    shop_kit::main::<shop_bff::App>()
}
