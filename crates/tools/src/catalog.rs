//! The demo catalog: deterministic, so seeding twice yields the same products (and the same
//! SKUs, which makes re-seeding idempotent), varied enough to exercise search, categories,
//! sorting and paging.

/// One product of the demo catalog, with its initial stock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoProduct {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub price_minor: i64,
    pub currency: &'static str,
    pub category: &'static str,
    pub image_url: String,
    pub attributes: Vec<(String, String)>,
    pub stock: i64,
}

const CATEGORIES: &[(&str, &str, &[&str])] = &[
    (
        "kitchen",
        "KIT",
        &[
            "Mug",
            "Kettle",
            "Skillet",
            "Knife",
            "Cutting Board",
            "Teapot",
            "Colander",
            "Whisk",
        ],
    ),
    (
        "outdoor",
        "OUT",
        &[
            "Tent",
            "Sleeping Bag",
            "Headlamp",
            "Backpack",
            "Camping Stove",
            "Water Bottle",
            "Trekking Pole",
            "Hammock",
        ],
    ),
    (
        "home",
        "HOM",
        &[
            "Lamp",
            "Throw Blanket",
            "Cushion",
            "Vase",
            "Candle",
            "Mirror",
            "Rug",
            "Clock",
        ],
    ),
    (
        "office",
        "OFF",
        &[
            "Notebook",
            "Desk Organizer",
            "Fountain Pen",
            "Monitor Stand",
            "Desk Mat",
            "Stapler",
            "Planner",
            "Bookends",
        ],
    ),
    (
        "garden",
        "GAR",
        &[
            "Watering Can",
            "Pruning Shears",
            "Planter",
            "Garden Gloves",
            "Trowel",
            "Bird Feeder",
            "Hose Reel",
            "Seed Kit",
        ],
    ),
    (
        "toys",
        "TOY",
        &[
            "Puzzle",
            "Building Blocks",
            "Kite",
            "Plush Bear",
            "Wooden Train",
            "Board Game",
            "Yo-Yo",
            "Marble Run",
        ],
    ),
    (
        "audio",
        "AUD",
        &[
            "Headphones",
            "Speaker",
            "Turntable",
            "Earbuds",
            "Radio",
            "Soundbar",
            "Microphone",
            "Amplifier",
        ],
    ),
    (
        "apparel",
        "APP",
        &[
            "T-Shirt",
            "Hoodie",
            "Beanie",
            "Scarf",
            "Rain Jacket",
            "Socks",
            "Cap",
            "Fleece",
        ],
    ),
];

const ADJECTIVES: &[&str] = &["Classic", "Compact", "Deluxe", "Everyday"];
const COLOURS: &[&str] = &[
    "black", "white", "blue", "green", "red", "grey", "orange", "yellow",
];

/// A small deterministic mixer (splitmix64), so the catalog needs no RNG dependency.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// 8 categories × 8 kinds × 4 variants = 256 products.
pub fn demo_catalog() -> Vec<DemoProduct> {
    let mut products = Vec::new();
    for (category, prefix, kinds) in CATEGORIES {
        for (k, kind) in kinds.iter().enumerate() {
            for (a, adjective) in ADJECTIVES.iter().enumerate() {
                let n = products.len() as u64;
                let seed = mix(n);
                let colour = COLOURS[(seed % COLOURS.len() as u64) as usize];
                // Prices from 4.99 to ~250.00, ending in 99 like real price tags.
                let price_minor = 499 + (seed >> 8) as i64 % 245 * 100;
                // Every 17th product is sold out, so the storefront shows that state too.
                let stock = if n.is_multiple_of(17) {
                    0
                } else {
                    (seed >> 20) as i64 % 60 + 3
                };
                let sku = format!("{prefix}-{:02}{:02}", k + 1, a + 1);
                products.push(DemoProduct {
                    name: format!("{adjective} {kind}"),
                    description: format!(
                        "A {} {} {} for every day. Demo product {sku}.",
                        adjective.to_lowercase(),
                        colour,
                        kind.to_lowercase()
                    ),
                    price_minor,
                    currency: "EUR",
                    category,
                    image_url: format!("/images/{category}/{}.svg", sku.to_lowercase()),
                    attributes: vec![
                        ("colour".to_owned(), colour.to_owned()),
                        ("variant".to_owned(), adjective.to_lowercase()),
                    ],
                    stock,
                    sku,
                });
            }
        }
    }
    products
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_is_large_deterministic_and_unique() {
        let catalog = demo_catalog();
        assert!(catalog.len() >= 200);
        assert_eq!(catalog, demo_catalog());
        let skus: std::collections::HashSet<_> = catalog.iter().map(|p| &p.sku).collect();
        assert_eq!(skus.len(), catalog.len());
        let categories: std::collections::HashSet<_> = catalog.iter().map(|p| p.category).collect();
        assert_eq!(categories.len(), 8);
        assert!(catalog.iter().all(|p| p.price_minor > 0 && p.stock >= 0));
        assert!(
            catalog.iter().any(|p| p.stock == 0),
            "some products are sold out"
        );
        assert!(catalog.iter().all(|p| shop_kit::Sku::parse(&p.sku).is_ok()));
    }
}
