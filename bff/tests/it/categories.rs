//! The `categories` query and the search semantics of `products`, end to end through the
//! BFF (issue #14 item 5).

use crate::support::{Stack, data_str};
use serde_json::json;

#[tokio::test]
async fn categories_list_every_category_with_its_listed_products() -> anyhow::Result<()> {
    let stack = Stack::start().await?;
    let mut admin = stack.admin().await?;
    let create = "mutation($input: ProductInput!) { createProduct(input: $input) { id } }";
    let mut ids = Vec::new();
    for (sku, name, category) in [
        ("HL-1", "Classic Headlamp", "outdoor"),
        ("ST-1", "Camping Stove", "outdoor"),
        ("KT-1", "Enamel Kettle", "kitchen"),
        ("LP-1", "Desk Lamp", "home"),
    ] {
        let input = json!({"input": {"sku": sku, "name": name, "description": "", "price": {"amountMinor": 1000, "currency": "EUR"}, "category": category}});
        let body = admin.gql(create, input).await?;
        ids.push(data_str(&body, "/data/createProduct/id")?);
    }
    let body = admin
        .gql(
            "mutation($id: ID!) { archiveProduct(id: $id) { archived } }",
            json!({"id": ids[3]}),
        )
        .await?;
    assert!(body.get("errors").is_none(), "{body}");

    let mut guest = stack.client();
    let body = guest
        .gql("{ categories { slug productCount } }", json!({}))
        .await?;
    assert_eq!(
        body["data"]["categories"],
        json!([
            {"slug": "kitchen", "productCount": 1},
            {"slug": "outdoor", "productCount": 2},
        ]),
        "{body}"
    );
    for search in ["lamp", "lamps", "haedlamp"] {
        let body = guest
            .gql(
                "query($search: String) { products(search: $search) { edges { node { name } } } }",
                json!({"search": search}),
            )
            .await?;
        assert_eq!(
            body["data"]["products"]["edges"],
            json!([{"node": {"name": "Classic Headlamp"}}]),
            "{search}: {body}"
        );
    }
    Ok(())
}
