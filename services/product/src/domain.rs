//! Catalog values that can only hold valid data, and the words search works on.
//!
//! Each product stores the distinct normalised words of its name, description, SKU and
//! category (`words`); a query term is expanded against the catalog's vocabulary of such
//! words (`search`), and the product filter is equality on `words` (`$in`), which a multikey
//! index serves on real MongoDB and the SecantusDB stand-in alike (it has no text indexes
//! and no index-assisted `$regex`).

use std::collections::BTreeMap;

use shop_kit::{FieldViolations, IdempotencyKey, Money, ProductId, ServiceError, Sku};
use shop_proto::shop::product::v1 as pb;

pub const NAME_MAX_CHARS: usize = 200;
pub const DESCRIPTION_MAX_CHARS: usize = 5000;
pub const IMAGE_URL_MAX_LEN: usize = 2048;
pub const MAX_ATTRIBUTES: usize = 32;
/// Longer words are stored by their first 32 characters, and query terms are cut the same
/// way, so they still match each other (and page tokens, which name the terms, stay small).
pub const MAX_WORD_CHARS: usize = 32;
/// More terms than this cannot narrow a catalog query meaningfully and would only cost.
pub const MAX_SEARCH_TERMS: usize = 8;

fn check_len(text: &str, min: usize, max: usize, what: &'static str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars < min {
        Err(if min == 1 {
            "is required".to_owned()
        } else {
            format!("must be at least {min} characters")
        })
    } else if chars > max {
        Err(format!("must be at most {max} {what}"))
    } else {
        Ok(())
    }
}

pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    check_len(name, 1, NAME_MAX_CHARS, "characters")?;
    if name.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(name.to_owned())
}

pub fn parse_description(raw: &str) -> Result<String, String> {
    let description = raw.trim();
    check_len(description, 0, DESCRIPTION_MAX_CHARS, "characters")?;
    Ok(description.to_owned())
}

/// A category slug such as `kitchen` or `outdoor-gear`.
pub fn parse_category(raw: &str) -> Result<String, String> {
    let category = raw.trim().to_lowercase();
    check_len(&category, 1, 64, "characters")?;
    if !category
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err("must be a slug of a-z, 0-9 and '-'".into());
    }
    Ok(category)
}

/// Empty (no image), an absolute http(s) URL, or a path served by the storefront.
pub fn parse_image_url(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    if url.is_empty() {
        return Ok(String::new());
    }
    if url.len() > IMAGE_URL_MAX_LEN {
        return Err(format!("must be at most {IMAGE_URL_MAX_LEN} characters"));
    }
    let well_formed =
        (url.starts_with("https://") || url.starts_with("http://") || url.starts_with('/'))
            && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if well_formed {
        Ok(url.to_owned())
    } else {
        Err("must be an http(s) URL or a path starting with '/'".into())
    }
}

pub fn parse_price(price: Option<&shop_proto::shop::common::v1::Money>) -> Result<Money, String> {
    Money::from_proto(price)
        .and_then(Money::positive)
        .map_err(|e| e.to_string())
}

pub fn parse_attributes(
    raw: &std::collections::HashMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    if raw.len() > MAX_ATTRIBUTES {
        return Err(format!("must have at most {MAX_ATTRIBUTES} entries"));
    }
    let mut attributes = BTreeMap::new();
    for (key, value) in raw {
        let key = key.trim().to_lowercase();
        let key_ok = (1..=64).contains(&key.len())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !key_ok {
            return Err(format!(
                "key {key:?} must be 1 to 64 characters of a-z, 0-9, '_' or '-'"
            ));
        }
        if value.chars().count() > 256 {
            return Err(format!("value of {key:?} must be at most 256 characters"));
        }
        attributes.insert(key, value.trim().to_owned());
    }
    Ok(attributes)
}

/// A complete, valid new product.
#[derive(Debug, Clone)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub price: Money,
    pub category: String,
    pub image_url: String,
    pub attributes: BTreeMap<String, String>,
}

impl NewProduct {
    /// Checks every field and reports all violations at once (field names prefixed
    /// `product.`, as the request nests them).
    pub fn parse(product: &pb::Product) -> Result<Self, ServiceError> {
        let mut v = FieldViolations::new();
        let sku = v.check("product.sku", Sku::parse(&product.sku));
        let name = v.check("product.name", parse_name(&product.name));
        let description = v.check(
            "product.description",
            parse_description(&product.description),
        );
        let price = v.check("product.price", parse_price(product.price.as_ref()));
        let category = v.check("product.category", parse_category(&product.category));
        let image_url = v.check("product.image_url", parse_image_url(&product.image_url));
        let attributes = v.check("product.attributes", parse_attributes(&product.attributes));
        v.into_result()?;
        match (
            sku,
            name,
            description,
            price,
            category,
            image_url,
            attributes,
        ) {
            (
                Some(sku),
                Some(name),
                Some(description),
                Some(price),
                Some(category),
                Some(image_url),
                Some(attributes),
            ) => Ok(NewProduct {
                sku,
                name,
                description,
                price,
                category,
                image_url,
                attributes,
            }),
            _ => Err(ServiceError::internal(anyhow::anyhow!(
                "validated product incomplete"
            ))),
        }
    }
}

/// The fields an update may change, each `Some` only when named in the update mask.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub price: Option<Money>,
    pub category: Option<String>,
    pub image_url: Option<String>,
    pub attributes: Option<BTreeMap<String, String>>,
}

const UPDATABLE: &[&str] = &[
    "name",
    "description",
    "price",
    "category",
    "image_url",
    "attributes",
];

impl ProductPatch {
    /// AIP-134: only the masked fields change; `*` means every updatable field. The SKU is
    /// the product's identity across services and cannot change.
    pub fn parse(
        product: &pb::Product,
        mask: Option<&prost_types::FieldMask>,
    ) -> Result<Self, ServiceError> {
        let paths: Vec<&str> = mask
            .map(|m| m.paths.iter().map(String::as_str).collect())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(ServiceError::invalid(
                "update_mask",
                format!("must name the fields to change: {}", UPDATABLE.join(", ")),
            ));
        }
        let all = paths.contains(&"*");
        let mut v = FieldViolations::new();
        for path in &paths {
            if *path != "*" && !UPDATABLE.contains(path) {
                let why = if *path == "sku" {
                    "sku cannot be changed".to_owned()
                } else {
                    format!(
                        "unknown field {path:?}; updatable: {}",
                        UPDATABLE.join(", ")
                    )
                };
                v.add("update_mask", why);
            }
        }
        let wants = |field: &str| all || paths.contains(&field);
        let mut patch = ProductPatch::default();
        if wants("name") {
            patch.name = v.check("product.name", parse_name(&product.name));
        }
        if wants("description") {
            patch.description = v.check(
                "product.description",
                parse_description(&product.description),
            );
        }
        if wants("price") {
            patch.price = v.check("product.price", parse_price(product.price.as_ref()));
        }
        if wants("category") {
            patch.category = v.check("product.category", parse_category(&product.category));
        }
        if wants("image_url") {
            patch.image_url = v.check("product.image_url", parse_image_url(&product.image_url));
        }
        if wants("attributes") {
            patch.attributes = v.check("product.attributes", parse_attributes(&product.attributes));
        }
        v.into_result()?;
        Ok(patch)
    }
}

/// Lower-cased alphanumeric words of `text`, each cut to [`MAX_WORD_CHARS`].
fn split_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(|word| word.to_lowercase().chars().take(MAX_WORD_CHARS).collect())
}

/// The distinct words of the name, description, SKU and category, sorted: what the query
/// terms of a search are matched against (the stored `words` field).
pub fn product_words(name: &str, description: &str, sku: &str, category: &str) -> Vec<String> {
    let words: std::collections::BTreeSet<String> = split_words(name)
        .chain(split_words(description))
        .chain(split_words(sku))
        .chain(split_words(category))
        .collect();
    words.into_iter().collect()
}

/// The normalised terms of a search query (at most 8, each cut to 32 characters); empty
/// when the query has no words.
pub fn search_terms(query: &str) -> Vec<String> {
    let mut terms: Vec<String> = split_words(query).collect();
    terms.sort();
    terms.dedup();
    terms.truncate(MAX_SEARCH_TERMS);
    terms
}

/// A product id from a request field, refused under that field's name.
pub fn parse_product_id(raw: &str, field: &str) -> Result<ProductId, ServiceError> {
    ProductId::parse(raw).map_err(|e| ServiceError::invalid(field, e.to_string()))
}

/// A CreateProduct request that passed validation.
#[derive(Debug, Clone)]
pub struct CreateProduct {
    pub product: NewProduct,
    /// Makes a retried create answer with the product it made instead of ALREADY_EXISTS.
    pub key: Option<IdempotencyKey>,
}

impl CreateProduct {
    pub fn parse(request: &pb::CreateProductRequest) -> Result<Self, ServiceError> {
        let product = request
            .product
            .as_ref()
            .ok_or_else(|| ServiceError::invalid("product", "is required"))?;
        let product = NewProduct::parse(product)?;
        let key = IdempotencyKey::parse_optional(&request.idempotency_key)
            .map_err(|e| ServiceError::invalid("idempotency_key", e.to_string()))?;
        Ok(CreateProduct { product, key })
    }
}

/// An UpdateProduct request that passed validation.
#[derive(Debug, Clone)]
pub struct UpdateProduct {
    pub id: ProductId,
    pub expected_version: i64,
    pub patch: ProductPatch,
}

impl UpdateProduct {
    pub fn parse(request: &pb::UpdateProductRequest) -> Result<Self, ServiceError> {
        let product = request
            .product
            .as_ref()
            .ok_or_else(|| ServiceError::invalid("product", "is required"))?;
        let id = parse_product_id(&product.id, "product.id")?;
        if request.expected_version < 0 {
            return Err(ServiceError::invalid(
                "expected_version",
                "must not be negative",
            ));
        }
        let patch = ProductPatch::parse(product, request.update_mask.as_ref())?;
        Ok(UpdateProduct {
            id,
            expected_version: request.expected_version,
            patch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> pb::Product {
        pb::Product {
            sku: "mug-01".into(),
            name: "Enamel Camping Mug".into(),
            description: "Holds 350 ml.".into(),
            price: Some(shop_proto::shop::common::v1::Money {
                amount_minor: 1299,
                currency: "EUR".into(),
            }),
            category: "Outdoor".into(),
            image_url: "/images/mug.jpg".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_valid_product_is_normalised() {
        let parsed = NewProduct::parse(&product()).unwrap();
        assert_eq!(parsed.sku.as_str(), "MUG-01");
        assert_eq!(parsed.category, "outdoor");
        assert_eq!(parsed.price.amount_minor(), 1299);
    }

    #[test]
    fn every_bad_field_is_reported() {
        let bad = pb::Product {
            sku: "x".into(),
            name: " ".into(),
            price: Some(shop_proto::shop::common::v1::Money {
                amount_minor: 0,
                currency: "EUR".into(),
            }),
            category: "Not a slug!".into(),
            image_url: "javascript:alert(1)".into(),
            ..Default::default()
        };
        let Err(ServiceError::InvalidArgument(violations)) = NewProduct::parse(&bad) else {
            panic!("expected INVALID_ARGUMENT");
        };
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "product.sku",
                "product.name",
                "product.price",
                "product.category",
                "product.image_url"
            ]
        );
    }

    #[test]
    fn patches_follow_the_mask_and_refuse_the_sku() {
        let mask = prost_types::FieldMask {
            paths: vec!["price".into()],
        };
        let patch = ProductPatch::parse(&product(), Some(&mask)).unwrap();
        assert!(patch.price.is_some() && patch.name.is_none());
        let mask = prost_types::FieldMask {
            paths: vec!["sku".into()],
        };
        assert!(ProductPatch::parse(&product(), Some(&mask)).is_err());
        assert!(ProductPatch::parse(&product(), None).is_err());
        let all = prost_types::FieldMask {
            paths: vec!["*".into()],
        };
        let patch = ProductPatch::parse(&product(), Some(&all)).unwrap();
        assert!(patch.name.is_some() && patch.attributes.is_some());
    }

    #[test]
    fn product_words_are_the_distinct_words_of_every_searchable_field() {
        let words = product_words(
            "Enamel Mug",
            "Holds 350 ml. A mug for camping.",
            "MUG-01",
            "outdoor-gear",
        );
        assert_eq!(
            words,
            [
                "01", "350", "a", "camping", "enamel", "for", "gear", "holds", "ml", "mug",
                "outdoor"
            ]
        );
        let long = product_words(&"x".repeat(100), "", "S-1", "c");
        assert_eq!(long, ["1", "c", "s", &"x".repeat(MAX_WORD_CHARS)]);
    }

    #[test]
    fn search_terms_are_normalised_words() {
        assert_eq!(search_terms("  Camping, MUG! "), ["camping", "mug"]);
        assert!(search_terms(" -- ").is_empty());
        let long = "a".repeat(40);
        assert_eq!(search_terms(&long)[0].len(), MAX_WORD_CHARS);
    }

    #[test]
    fn product_ids_and_creation_keys_are_checked_with_their_field() {
        let Err(ServiceError::InvalidArgument(violations)) = parse_product_id("p-1", "product.id")
        else {
            panic!("p-1 accepted")
        };
        let seen: Vec<_> = violations
            .iter()
            .map(|v| (v.field.as_str(), v.description.as_str()))
            .collect();
        assert_eq!(seen, [("product.id", "must be a product id (UUID)")]);

        let request = |key: &str| pb::CreateProductRequest {
            product: Some(pb::Product {
                sku: "lamp-1".into(),
                name: "Lamp".into(),
                category: "lamps".into(),
                price: Some(shop_proto::shop::common::v1::Money {
                    amount_minor: 100,
                    currency: "EUR".into(),
                }),
                ..Default::default()
            }),
            idempotency_key: key.into(),
        };
        let created = CreateProduct::parse(&request(" ")).unwrap();
        assert_eq!(
            (created.product.sku.as_str(), created.key),
            ("LAMP-1", None)
        );
        let keyed = CreateProduct::parse(&request("k-1")).unwrap();
        assert_eq!(
            keyed.key.map(IdempotencyKey::into_string).as_deref(),
            Some("k-1")
        );
        assert!(matches!(
            CreateProduct::parse(&request(&"k".repeat(129))),
            Err(ServiceError::InvalidArgument(_))
        ));
    }
}
