//! The demo catalog's product pictures: one small SVG per product, drawn from its category
//! (a glyph), its colour attribute (the tint) and its name, so a seeded shop shows real,
//! distinguishable images without shipping binary files. `shop-seed` writes them where the
//! BFF serves `/images` (`SHOP_IMAGES_DIR`), at the path the product's `image_url` names.

use std::path::{Path, PathBuf};

use crate::catalog::DemoProduct;

/// The glyph of a category, drawn in a 400×300 box around (200, 130) with the product's
/// colour as `{fill}` and a dark outline.
fn glyph(category: &str) -> &'static str {
    match category {
        // A mug with steam.
        "kitchen" => {
            r##"<rect x="140" y="90" width="100" height="110" rx="14" fill="{fill}"/><path d="M240 115 h18 a22 22 0 0 1 0 44 h-18" fill="none" stroke-width="12" stroke="{fill}"/><path d="M165 75 q-10 -15 0 -30 M190 75 q-10 -15 0 -30 M215 75 q-10 -15 0 -30" fill="none"/>"##
        }
        // A tent on the ground.
        "outdoor" => {
            r##"<path d="M110 200 L200 70 L290 200 Z" fill="{fill}"/><path d="M200 200 L200 120 L230 200" fill="#ffffff" fill-opacity="0.6"/><path d="M90 200 H310" fill="none"/>"##
        }
        // A table lamp.
        "home" => {
            r##"<path d="M155 70 H245 L270 140 H130 Z" fill="{fill}"/><rect x="193" y="140" width="14" height="50" fill="#4b5563"/><rect x="160" y="190" width="80" height="14" rx="6" fill="#4b5563"/>"##
        }
        // A spiral notebook.
        "office" => {
            r##"<rect x="140" y="60" width="120" height="150" rx="8" fill="{fill}"/><path d="M165 95 H240 M165 120 H240 M165 145 H240 M165 170 H220" fill="none" stroke="#ffffff" stroke-opacity="0.8"/><path d="M140 80 h-10 M140 105 h-10 M140 130 h-10 M140 155 h-10 M140 180 h-10" fill="none"/>"##
        }
        // A potted plant.
        "garden" => {
            r##"<ellipse cx="175" cy="105" rx="22" ry="42" transform="rotate(-30 175 105)" fill="#3f9b5a"/><ellipse cx="225" cy="105" rx="22" ry="42" transform="rotate(30 225 105)" fill="#3f9b5a"/><ellipse cx="200" cy="90" rx="18" ry="45" fill="#57b26f"/><path d="M155 140 H245 L232 205 H168 Z" fill="{fill}"/>"##
        }
        // Stacked building blocks.
        "toys" => {
            r##"<rect x="130" y="140" width="65" height="65" rx="6" fill="{fill}"/><rect x="205" y="140" width="65" height="65" rx="6" fill="#f2c230"/><rect x="167" y="70" width="65" height="65" rx="6" fill="#2f6fdb"/>"##
        }
        // Headphones.
        "audio" => {
            r##"<path d="M135 165 V140 a65 65 0 0 1 130 0 V165" fill="none" stroke-width="12"/><rect x="118" y="150" width="38" height="60" rx="12" fill="{fill}"/><rect x="244" y="150" width="38" height="60" rx="12" fill="{fill}"/>"##
        }
        // A T-shirt.
        "apparel" => {
            r##"<path d="M170 65 L130 85 L110 130 L145 140 L150 210 H250 L255 140 L290 130 L270 85 L230 65 Q200 90 170 65 Z" fill="{fill}"/>"##
        }
        // A parcel, for a category the demo catalog may grow.
        _ => {
            r##"<rect x="130" y="80" width="140" height="120" rx="8" fill="{fill}"/><path d="M130 120 H270 M200 80 V200" fill="none"/>"##
        }
    }
}

/// The product's colour and the pale tint behind it.
fn palette(colour: &str) -> (&'static str, &'static str) {
    match colour {
        "black" => ("#2b2f36", "#e6e8ec"),
        "white" => ("#fbfbfb", "#dfe7f1"),
        "blue" => ("#2f6fdb", "#e3ecfb"),
        "green" => ("#2e9e5b", "#e2f3e8"),
        "red" => ("#d94141", "#fbe5e5"),
        "grey" => ("#8a8f98", "#eceef1"),
        "orange" => ("#f08a24", "#fdeedd"),
        "yellow" => ("#f2c230", "#fdf6dc"),
        _ => ("#6b7280", "#f1f2f4"),
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG document of `product`'s picture.
pub fn svg(product: &DemoProduct) -> String {
    let colour = product
        .attributes
        .iter()
        .find(|(key, _)| key == "colour")
        .map_or("", |(_, value)| value.as_str());
    let (fill, tint) = palette(colour);
    let name = escape(&product.name);
    let glyph = glyph(product.category).replace("{fill}", fill);
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" width="400" height="300" role="img" aria-label="{name}"><rect width="400" height="300" fill="{tint}"/><g stroke="#1f2937" stroke-width="5" stroke-linejoin="round" stroke-linecap="round">{glyph}</g><text x="200" y="265" text-anchor="middle" font-family="system-ui, sans-serif" font-size="22" font-weight="600" fill="#1f2937">{name}</text></svg>
"##
    )
}

/// Where `product`'s picture lives under `images_dir`: its `image_url` without `/images/`.
/// `None` for a URL elsewhere (the picture is not ours to write).
pub fn path_in(images_dir: &Path, product: &DemoProduct) -> Option<PathBuf> {
    let relative = product.image_url.strip_prefix("/images/")?;
    if relative
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return None;
    }
    Some(images_dir.join(relative))
}

/// Writes every product's picture that is missing or different; returns how many it wrote.
pub fn write_all(images_dir: &Path, catalog: &[DemoProduct]) -> std::io::Result<usize> {
    let mut written = 0;
    for product in catalog {
        let Some(path) = path_in(images_dir, product) else {
            continue;
        };
        let document = svg(product);
        if std::fs::read_to_string(&path).is_ok_and(|existing| existing == document) {
            continue;
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, document)?;
        written += 1;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::demo_catalog;

    #[test]
    fn every_demo_product_gets_its_own_picture_at_its_image_url() {
        let catalog = demo_catalog();
        let dir = std::env::temp_dir().join(format!("shop-images-{}", uuid::Uuid::new_v4()));
        assert_eq!(write_all(&dir, &catalog).unwrap(), catalog.len());
        // A second run finds them all in place.
        assert_eq!(write_all(&dir, &catalog).unwrap(), 0);
        let mut documents = std::collections::HashSet::new();
        for product in &catalog {
            let path = dir.join(product.image_url.trim_start_matches("/images/"));
            let document = std::fs::read_to_string(&path).unwrap();
            assert!(document.starts_with("<svg ") && document.contains(&product.name));
            assert!(!document.contains("{fill}"), "{}", product.sku);
            documents.insert(document);
        }
        assert_eq!(documents.len(), catalog.len(), "no two pictures alike");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_image_url_outside_images_is_not_written() {
        let mut product = demo_catalog().remove(0);
        let dir = Path::new("/srv/images");
        product.image_url = "/images/../../etc/passwd".into();
        assert_eq!(path_in(dir, &product), None);
        product.image_url = "https://cdn.example/x.svg".into();
        assert_eq!(path_in(dir, &product), None);
        product.image_url = "/images/kitchen/kit-0101.svg".into();
        assert_eq!(
            path_in(dir, &product),
            Some(PathBuf::from("/srv/images/kitchen/kit-0101.svg"))
        );
    }
}
