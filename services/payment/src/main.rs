fn main() -> anyhow::Result<()> {
    shop_kit::main::<shop_payment::App>()
}
