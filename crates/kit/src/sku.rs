//! The stock-keeping unit: the one product key that Product, Inventory, Cart and Order all
//! share, so it is parsed the same way everywhere.

/// Trimmed, upper-cased, 2 to 64 characters of `A-Z 0-9 - _ .`, starting with a letter or
/// digit. `widget-1` and `WIDGET-1` are the same SKU.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 2 to 64 characters of A-Z, 0-9, '-', '_' or '.', starting with a letter or digit")]
pub struct InvalidSku;

impl Sku {
    pub fn parse(raw: &str) -> Result<Self, InvalidSku> {
        let sku = raw.trim().to_ascii_uppercase();
        let valid = (2..=64).contains(&sku.len())
            && sku.starts_with(|c: char| c.is_ascii_alphanumeric())
            && sku
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || "-_.".contains(c));
        if valid { Ok(Sku(sku)) } else { Err(InvalidSku) }
    }
}

crate::ids::string_id!(Sku);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_are_normalised_and_checked() {
        assert_eq!(Sku::parse(" widget-1 ").unwrap().as_str(), "WIDGET-1");
        assert_eq!(Sku::parse("A.B_C-9").unwrap().as_str(), "A.B_C-9");
        for bad in ["", "A", "-AB", "AB CD", "ÄB", &"X".repeat(65)] {
            assert!(Sku::parse(bad).is_err(), "{bad:?}");
        }
    }
}
