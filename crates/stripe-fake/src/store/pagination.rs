//! Stripe's list endpoints: the `created` filter, cursor pages and the list object.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::form::Params;

/// `created=<ts>` or `created[gt|gte|lt|lte]=<ts>`.
#[derive(Debug, Default)]
pub(super) struct CreatedFilter {
    bounds: Vec<(String, i64)>,
}

impl CreatedFilter {
    pub(super) fn parse(params: &Params) -> Result<Self, ApiError> {
        let mut bounds = Vec::new();
        if let Some(exact) = params.int("created")? {
            bounds.push(("eq".to_owned(), exact));
        }
        if let Some(map) = params.map("created") {
            params.only_nested("created", &["gt", "gte", "lt", "lte"])?;
            for (op, value) in map {
                let value = value
                    .parse()
                    .map_err(|_| ApiError::invalid_integer(&format!("created[{op}]"), &value))?;
                bounds.push((op, value));
            }
        }
        Ok(Self { bounds })
    }

    pub(super) fn matches(&self, created: i64) -> bool {
        self.bounds.iter().all(|(op, bound)| match op.as_str() {
            "gt" => created > *bound,
            "gte" => created >= *bound,
            "lt" => created < *bound,
            "lte" => created <= *bound,
            _ => created == *bound,
        })
    }
}

/// Cursor pagination over ids ordered newest first: `limit` (1..=100, default 10),
/// `starting_after`, `ending_before`.
pub(super) fn paginate<'a>(
    ids: &[&'a String],
    params: &Params,
    kind: &str,
) -> Result<(Vec<&'a String>, bool), ApiError> {
    let limit = params.int("limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid_value(
            "limit",
            "This value must be between 1 and 100.",
        ));
    }
    let limit = usize::try_from(limit).unwrap_or(10);
    let position = |param: &str, id: &str| {
        ids.iter()
            .position(|candidate| candidate.as_str() == id)
            .ok_or_else(|| ApiError::no_such(kind, id, param, StatusCode::BAD_REQUEST))
    };
    if let Some(after) = params.str("starting_after") {
        let start = position("starting_after", after)? + 1;
        let page: Vec<&String> = ids.iter().skip(start).take(limit).copied().collect();
        let has_more = start + page.len() < ids.len();
        Ok((page, has_more))
    } else if let Some(before) = params.str("ending_before") {
        let end = position("ending_before", before)?;
        let start = end.saturating_sub(limit);
        Ok((ids[start..end].to_vec(), start > 0))
    } else {
        let page: Vec<&String> = ids.iter().take(limit).copied().collect();
        Ok((page, ids.len() > limit))
    }
}

pub(super) fn list_object(url: &str, data: Vec<Value>, has_more: bool) -> Value {
    json!({ "object": "list", "data": data, "has_more": has_more, "url": url })
}
