//! GraphQL requests reach the BFF from any browser. The schema is built as `shop-bff` builds
//! it (with the default depth and complexity limits) but without backends, and runs whatever
//! document and variables it is given. Whatever they are, nothing panics, and after the
//! BFF's `sanitize` every error carries a code and no request-level error (a parse,
//! validation, limit or variable error: no path) is `INTERNAL`; errors with a path come from
//! resolvers, which have no backends here. The BFF's connection cursors are checked too: a
//! cursor that decodes encodes back to one that decodes to the same position.
#![no_main]

use std::sync::OnceLock;

use async_graphql::{Request, Schema, Variables};
use libfuzzer_sys::fuzz_target;
use shop_bff::BffConfig;
use shop_bff::schema::types::Cursor;
use shop_bff::schema::{ShopSchema, mutation, query, subscription};

/// A runtime like the BFF's, in case a resolver reaches for tokio before its backends.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|error| panic!("no tokio runtime: {error}"))
    })
}

fn schema() -> &'static ShopSchema {
    static SCHEMA: OnceLock<ShopSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let config = BffConfig::default();
        Schema::build(query::Query, mutation::Mutation, subscription::Subscription)
            .limit_depth(config.max_depth)
            .limit_complexity(config.max_complexity)
            .finish()
    })
}

// The fuzzer's bytes: the document, then (after a NUL) the variables as JSON, then (after
// another NUL) a connection cursor. Plain text, so the seeds are readable requests.
fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut parts = text.splitn(3, '\0');
    let document = parts.next().unwrap_or_default();
    let variables = parts.next().unwrap_or_default();
    let cursor = parts.next().unwrap_or_default();

    let mut request = Request::new(document);
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(variables) {
        request = request.variables(Variables::from_json(json));
    }
    let mut response = runtime().block_on(schema().execute(request));
    shop_bff::errors::sanitize(&mut response);
    for error in &response.errors {
        let code = error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"));
        let Some(async_graphql::Value::String(code)) = code else {
            panic!("an error without a code: {error:?}");
        };
        if error.path.is_empty() {
            assert_ne!(
                code, "INTERNAL",
                "a request-level error is INTERNAL: {error:?}"
            );
        }
    }

    if let Ok(decoded) = Cursor::decode(cursor) {
        assert!(decoded.skip <= shop_bff::schema::types::MAX_PAGE);
        let again = Cursor::decode(&decoded.encode()).ok();
        assert_eq!(again.as_ref(), Some(&decoded));
    }
});
