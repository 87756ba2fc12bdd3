//! Stripe's parameter encoding: `application/x-www-form-urlencoded` bodies (and query strings)
//! whose keys carry structure in brackets: `metadata[order_id]=42`,
//! `payment_method_types[0]=card` (or `[]`), `automatic_payment_methods[enabled]=true`.
//!
//! Parameters are kept as the decoded pairs, which is also what idempotency compares, and
//! read through typed accessors that fail with the error Stripe gives for that mistake.

use std::collections::BTreeMap;

use crate::error::ApiError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn parse(raw: &[u8]) -> Self {
        Self {
            pairs: form_urlencoded::parse(raw).into_owned().collect(),
        }
    }

    /// The pairs in a canonical order, so two encodings of the same parameters compare equal.
    pub fn canonical(&self) -> Vec<(String, String)> {
        let mut pairs = self.pairs.clone();
        pairs.sort();
        pairs
    }

    /// Fails on the first parameter whose top-level name is not in `known` (Stripe rejects
    /// unknown parameters rather than ignoring them, and so does the fake, so that a client
    /// relying on something the fake does not model finds out).
    pub fn only(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(key, _)| !known.contains(&root(key)))
        {
            Some((key, _)) => Err(ApiError::unknown_param(root(key))),
            None => Ok(()),
        }
    }

    /// A scalar parameter; `name=` (empty) reads as absent.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    pub fn string(&self, name: &str) -> Option<String> {
        self.str(name).map(str::to_owned)
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.str(name)
            .map(|value| {
                value
                    .parse::<i64>()
                    .map_err(|_| ApiError::invalid_integer(name, value))
            })
            .transpose()
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.str(name)
            .map(|value| match value {
                "true" => Ok(true),
                "false" => Ok(false),
                other => Err(ApiError::invalid_value(
                    name,
                    format!("Invalid boolean: {other}"),
                )),
            })
            .transpose()
    }

    /// One of `allowed`, or the error Stripe gives for any other value.
    pub fn choice(&self, name: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.str(name) {
            None => Ok(None),
            Some(value) if allowed.contains(&value) => Ok(Some(value.to_owned())),
            Some(value) => Err(ApiError::invalid_value(
                name,
                format!(
                    "Invalid {name}: must be one of {} (got '{value}')",
                    allowed.join(", ")
                ),
            )),
        }
    }

    /// `name[key]=value` pairs as a map; `None` when the parameter is absent.
    pub fn map(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let mut found = false;
        let mut map = BTreeMap::new();
        for (key, value) in &self.pairs {
            if key == name {
                // `metadata=` (empty) is how Stripe clients clear a hash.
                found = true;
            } else if let Some(inner) = bracketed(key, name) {
                found = true;
                map.insert(inner.to_owned(), value.clone());
            }
        }
        found.then_some(map)
    }

    /// `name[0]=a&name[1]=b` or `name[]=a&name[]=b` as a list in index order.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let mut items: Vec<(usize, usize, String)> = Vec::new();
        for (position, (key, value)) in self.pairs.iter().enumerate() {
            if let Some(index) = bracketed(key, name) {
                let index = if index.is_empty() {
                    position
                } else {
                    index.parse().unwrap_or(usize::MAX)
                };
                items.push((index, position, value.clone()));
            }
        }
        if items.is_empty() {
            return None;
        }
        items.sort();
        Some(items.into_iter().map(|(_, _, value)| value).collect())
    }

    /// Keys under `name[...]` that are not in `known`, reported as Stripe reports them.
    pub fn only_nested(&self, name: &str, known: &[&str]) -> Result<(), ApiError> {
        for (key, _) in &self.pairs {
            if let Some(inner) = bracketed(key, name)
                && !known.contains(&inner)
            {
                return Err(ApiError::unknown_param(key));
            }
        }
        Ok(())
    }
}

/// The top-level parameter name of a key: `metadata` for `metadata[order_id]`.
fn root(key: &str) -> &str {
    key.split('[').next().unwrap_or(key)
}

/// For `name[inner]` (exactly one level), `inner`.
fn bracketed<'k>(key: &'k str, name: &str) -> Option<&'k str> {
    key.strip_prefix(name)?
        .strip_prefix('[')?
        .strip_suffix(']')
        .filter(|inner| !inner.contains('[') && !inner.contains(']'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stripe_style_nesting() {
        let params = Params::parse(
            b"amount=1099&currency=usd&metadata%5Border_id%5D=o-1&metadata%5Bnote%5D=hi+there\
              &payment_method_types%5B1%5D=link&payment_method_types%5B0%5D=card\
              &automatic_payment_methods%5Benabled%5D=true&expand[]=latest_charge&confirm=true",
        );
        assert_eq!(params.int("amount").unwrap(), Some(1099));
        assert_eq!(params.str("currency"), Some("usd"));
        let metadata = params.map("metadata").unwrap();
        assert_eq!(metadata["order_id"], "o-1");
        assert_eq!(metadata["note"], "hi there");
        assert_eq!(
            params.list("payment_method_types").unwrap(),
            vec!["card", "link"]
        );
        assert_eq!(
            params.map("automatic_payment_methods").unwrap()["enabled"],
            "true"
        );
        assert_eq!(params.list("expand").unwrap(), vec!["latest_charge"]);
        assert_eq!(params.bool("confirm").unwrap(), Some(true));
        assert!(params.map("shipping").is_none());
    }

    #[test]
    fn rejects_unknown_and_malformed_parameters() {
        let params = Params::parse(b"amount=ten&bogus[x]=1");
        let error = params.int("amount").unwrap_err();
        assert_eq!(error.body()["error"]["code"], "parameter_invalid_integer");
        let error = params.only(&["amount"]).unwrap_err();
        assert_eq!(error.body()["error"]["param"], "bogus");
    }

    #[test]
    fn canonical_order_ignores_encoding_order() {
        let a = Params::parse(b"amount=1&currency=usd");
        let b = Params::parse(b"currency=usd&amount=1");
        assert_eq!(a.canonical(), b.canonical());
        assert_ne!(
            a.canonical(),
            Params::parse(b"amount=2&currency=usd").canonical()
        );
    }
}
