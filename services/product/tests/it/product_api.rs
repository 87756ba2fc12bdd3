//! The Product service over real gRPC against the MongoDB stand-in (a fresh database per
//! test).

use std::collections::HashSet;

use crate::support::{config, eur, product, spawn};
use shop_kit::Service as _;
use shop_kit::auth::Role;
use shop_product::{App, ProductConfig};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::product::v1::{self as pb, product_service_client::ProductServiceClient};
use shop_testkit::{
    RunningService, TestAmqp, TestMongo, token_for, violated_fields, wait_until, with_token,
};
use tonic::Code;
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

struct Harness {
    client: ProductServiceClient<Channel>,
    admin: String,
    customer: String,
    _service: RunningService,
    mongo: TestMongo,
    amqp: TestAmqp,
}

async fn start_with(cache_ttl_secs: u64) -> Harness {
    let mongo = TestMongo::create().await.expect("test mongo");
    let amqp = TestAmqp::create().await.expect("test amqp");
    let (service, client) = spawn(config(&mongo, &amqp, cache_ttl_secs)).await;
    Harness {
        client,
        admin: token_for(&uuid::Uuid::now_v7().to_string(), Role::Admin),
        customer: token_for(&uuid::Uuid::now_v7().to_string(), Role::Customer),
        _service: service,
        mongo,
        amqp,
    }
}

async fn start() -> Harness {
    start_with(30).await
}

impl Harness {
    async fn create(&mut self, product: pb::Product) -> pb::Product {
        self.client
            .create_product(with_token(
                pb::CreateProductRequest {
                    product: Some(product),
                    idempotency_key: String::new(),
                },
                &self.admin,
            ))
            .await
            .expect("create product")
            .into_inner()
            .product
            .expect("product")
    }

    async fn list(
        &mut self,
        request: pb::ListProductsRequest,
    ) -> Result<pb::ListProductsResponse, tonic::Status> {
        self.client
            .list_products(request)
            .await
            .map(tonic::Response::into_inner)
    }

    /// Every page of a query, following next_page_token.
    async fn list_all(&mut self, mut request: pb::ListProductsRequest) -> Vec<pb::Product> {
        let mut all = Vec::new();
        loop {
            let page = self.list(request.clone()).await.expect("list page");
            all.extend(page.products);
            if page.next_page_token.is_empty() {
                return all;
            }
            request.page_token = page.next_page_token;
        }
    }
}

#[tokio::test]
async fn admins_create_products_and_anyone_reads_them_by_id_or_sku() {
    let mut h = start().await;
    let created = h
        .create(product("mug-01", "Enamel Camping Mug", 1299, "Outdoor"))
        .await;
    assert_eq!(created.sku, "MUG-01");
    assert_eq!(created.category, "outdoor");
    assert_eq!(created.version, 1);
    assert!(!created.archived);
    assert_eq!(
        created.attributes.get("colour").map(String::as_str),
        Some("blue")
    );

    let by_id = h
        .client
        .get_product(pb::GetProductRequest {
            key: Some(pb::get_product_request::Key::Id(created.id.clone())),
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert_eq!(by_id, created);
    let by_sku = h
        .client
        .get_product(pb::GetProductRequest {
            key: Some(pb::get_product_request::Key::Sku("Mug-01".into())),
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert_eq!(by_sku, created);
}

#[tokio::test]
async fn writes_need_an_admin_and_valid_input() {
    let mut h = start().await;
    let request = || pb::CreateProductRequest {
        product: Some(product("CUP-1", "Cup", 500, "kitchen")),
        idempotency_key: String::new(),
    };
    let anonymous = h.client.create_product(request()).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::Unauthenticated);
    let customer = h
        .client
        .create_product(with_token(request(), &h.customer))
        .await
        .unwrap_err();
    assert_eq!(customer.code(), Code::PermissionDenied);

    let bad = pb::Product {
        sku: "?".into(),
        name: String::new(),
        price: Some(Money {
            amount_minor: -5,
            currency: "euro".into(),
        }),
        category: "kitchen".into(),
        ..Default::default()
    };
    let status = h
        .client
        .create_product(with_token(
            pb::CreateProductRequest {
                product: Some(bad),
                idempotency_key: String::new(),
            },
            &h.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(
        violated_fields(&status),
        ["product.sku", "product.name", "product.price"]
    );

    let missing = h
        .client
        .create_product(with_token(pb::CreateProductRequest::default(), &h.admin))
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&missing), ["product"]);
}

#[tokio::test]
async fn skus_are_unique_but_a_retried_create_returns_the_same_product() {
    let mut h = start().await;
    let create = |key: &str| pb::CreateProductRequest {
        product: Some(product("LAMP-1", "Desk Lamp", 3900, "home")),
        idempotency_key: key.into(),
    };
    let first = h
        .client
        .create_product(with_token(create("k-1"), &h.admin))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    let retry = h
        .client
        .create_product(with_token(create("k-1"), &h.admin))
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert_eq!(first.id, retry.id);

    for key in ["k-2", ""] {
        let status = h
            .client
            .create_product(with_token(create(key), &h.admin))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::AlreadyExists);
        assert_eq!(
            status
                .get_error_details()
                .error_info()
                .map(|i| i.reason.clone())
                .as_deref(),
            Some("SKU_TAKEN")
        );
    }
}

#[tokio::test]
async fn updates_follow_the_field_mask_and_versions() {
    let mut h = start().await;
    let created = h.create(product("BAG-1", "Tote Bag", 1500, "bags")).await;
    let patch = pb::Product {
        id: created.id.clone(),
        name: "Canvas Tote".into(),
        price: eur(1700),
        description: "ignored".into(),
        ..Default::default()
    };
    let updated = h
        .client
        .update_product(with_token(
            pb::UpdateProductRequest {
                product: Some(patch.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into(), "price".into()],
                }),
                expected_version: 1,
            },
            &h.admin,
        ))
        .await
        .expect("update")
        .into_inner()
        .product
        .unwrap();
    assert_eq!(updated.name, "Canvas Tote");
    assert_eq!(updated.price, eur(1700));
    assert_eq!(updated.description, created.description, "not in the mask");
    assert_eq!(updated.version, 2);

    // The cache must not serve the old name after an update.
    let read = h
        .client
        .get_product(pb::GetProductRequest {
            key: Some(pb::get_product_request::Key::Id(created.id.clone())),
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert_eq!(read.name, "Canvas Tote");
    // ...and search follows the new name.
    let found = h
        .list_all(pb::ListProductsRequest {
            search: "canv".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(found.len(), 1);

    let stale = h
        .client
        .update_product(with_token(
            pb::UpdateProductRequest {
                product: Some(patch.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into()],
                }),
                expected_version: 1,
            },
            &h.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(stale.code(), Code::Aborted);

    for (paths, field) in [
        (vec!["sku"], "update_mask"),
        (vec![], "update_mask"),
        (vec!["colour"], "update_mask"),
    ] {
        let status = h
            .client
            .update_product(with_token(
                pb::UpdateProductRequest {
                    product: Some(patch.clone()),
                    update_mask: Some(prost_types::FieldMask {
                        paths: paths.iter().map(|p| p.to_string()).collect(),
                    }),
                    expected_version: 0,
                },
                &h.admin,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{paths:?}");
        assert_eq!(violated_fields(&status), [field]);
    }
    let unknown = h
        .client
        .update_product(with_token(
            pb::UpdateProductRequest {
                product: Some(pb::Product {
                    id: uuid::Uuid::now_v7().to_string(),
                    ..patch
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into()],
                }),
                expected_version: 0,
            },
            &h.admin,
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
}

#[tokio::test]
async fn archived_products_leave_the_catalog_but_stay_readable() {
    let mut h = start().await;
    let keep = h.create(product("KEEP-1", "Kept Item", 100, "misc")).await;
    let gone = h.create(product("GONE-1", "Gone Item", 100, "misc")).await;
    for _ in 0..2 {
        let archived = h
            .client
            .archive_product(with_token(
                pb::ArchiveProductRequest {
                    id: gone.id.clone(),
                    expected_version: 0,
                },
                &h.admin,
            ))
            .await
            .expect("archive is idempotent")
            .into_inner()
            .product
            .unwrap();
        assert!(archived.archived);
        assert_eq!(archived.version, 2);
    }
    let listed = h.list_all(pb::ListProductsRequest::default()).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, keep.id);

    let refused = h
        .list(pb::ListProductsRequest {
            include_archived: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let as_admin = h
        .client
        .list_products(with_token(
            pb::ListProductsRequest {
                include_archived: true,
                ..Default::default()
            },
            &h.admin,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(as_admin.products.len(), 2);

    let read = h
        .client
        .get_product(pb::GetProductRequest {
            key: Some(pb::get_product_request::Key::Sku("GONE-1".into())),
        })
        .await
        .unwrap()
        .into_inner()
        .product
        .unwrap();
    assert!(
        read.archived,
        "old orders and carts still resolve archived products"
    );
}

#[tokio::test]
async fn batch_get_returns_found_products_and_names_the_missing_ones() {
    let mut h = start().await;
    let a = h.create(product("A-1", "Alpha", 100, "misc")).await;
    let b = h.create(product("B-1", "Beta", 200, "misc")).await;
    // Warm the cache for one of them, so the batch mixes cached and stored products.
    h.client
        .get_product(pb::GetProductRequest {
            key: Some(pb::get_product_request::Key::Id(a.id.clone())),
        })
        .await
        .unwrap();
    let ghost = uuid::Uuid::now_v7().to_string();
    let reply = h
        .client
        .batch_get_products(pb::BatchGetProductsRequest {
            ids: vec![a.id.clone(), ghost.clone(), a.id.clone()],
            skus: vec!["b-1".into(), "NOPE-1".into()],
        })
        .await
        .unwrap()
        .into_inner();
    let mut ids: Vec<_> = reply.products.iter().map(|p| p.id.clone()).collect();
    ids.sort();
    let mut expected = vec![a.id, b.id];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(reply.not_found_ids, [ghost]);
    assert_eq!(reply.not_found_skus, ["NOPE-1"]);

    let bad = h
        .client
        .batch_get_products(pb::BatchGetProductsRequest {
            ids: vec!["x".into()],
            skus: vec!["?".into()],
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&bad), ["ids[0]", "skus[0]"]);
    let too_many = h
        .client
        .batch_get_products(pb::BatchGetProductsRequest {
            ids: vec![],
            skus: (0..201).map(|i| format!("S-{i}")).collect(),
        })
        .await
        .unwrap_err();
    assert_eq!(too_many.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn lists_filter_sort_search_and_page() {
    let mut h = start().await;
    h.create(product("TENT-2", "Dome Tent", 19900, "outdoor"))
        .await;
    h.create(product("TENT-1", "Tunnel Tent", 24900, "outdoor"))
        .await;
    h.create(product("MUG-1", "Camping Mug", 900, "outdoor"))
        .await;
    h.create(product("MUG-2", "Coffee Mug", 1200, "kitchen"))
        .await;
    h.create(product("PAN-1", "Camping Pan", 2900, "kitchen"))
        .await;

    let names =
        |products: &[pb::Product]| products.iter().map(|p| p.name.clone()).collect::<Vec<_>>();
    let outdoor = h
        .list_all(pb::ListProductsRequest {
            category: "Outdoor".into(),
            page_size: 2,
            ..Default::default()
        })
        .await;
    assert_eq!(names(&outdoor), ["Camping Mug", "Dome Tent", "Tunnel Tent"]);

    let by_price = h
        .list_all(pb::ListProductsRequest {
            sort: pb::ProductSort::PriceDesc as i32,
            page_size: 2,
            ..Default::default()
        })
        .await;
    assert_eq!(
        names(&by_price),
        [
            "Tunnel Tent",
            "Dome Tent",
            "Camping Pan",
            "Coffee Mug",
            "Camping Mug"
        ]
    );
    let newest = h
        .list_all(pb::ListProductsRequest {
            sort: pb::ProductSort::Newest as i32,
            page_size: 3,
            ..Default::default()
        })
        .await;
    assert_eq!(
        names(&newest),
        [
            "Camping Pan",
            "Coffee Mug",
            "Camping Mug",
            "Tunnel Tent",
            "Dome Tent"
        ]
    );

    // Every term must match some word of the name, description, SKU or category.
    let camping = h
        .list_all(pb::ListProductsRequest {
            search: "camp".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(names(&camping), ["Camping Mug", "Camping Pan"]);
    let camping_mug = h
        .list_all(pb::ListProductsRequest {
            search: "CAMP mu".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(names(&camping_mug), ["Camping Mug"]);
    let by_sku = h
        .list_all(pb::ListProductsRequest {
            search: "tent-1".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(names(&by_sku), ["Tunnel Tent"]);
    let kitchen_mugs = h
        .list_all(pb::ListProductsRequest {
            search: "mug".into(),
            category: "kitchen".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(names(&kitchen_mugs), ["Coffee Mug"]);
    assert!(
        h.list_all(pb::ListProductsRequest {
            search: "xylophone".into(),
            ..Default::default()
        })
        .await
        .is_empty()
    );

    // A token only continues the query it came from.
    let first = h
        .list(pb::ListProductsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .unwrap();
    let mismatched = h
        .list(pb::ListProductsRequest {
            page_size: 1,
            category: "kitchen".into(),
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&mismatched), ["page_token"]);
    let garbage = h
        .list(pb::ListProductsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&garbage), ["page_token"]);
    let negative = h
        .list(pb::ListProductsRequest {
            page_size: -1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&negative), ["page_size"]);
}

#[tokio::test]
async fn paging_is_complete_and_duplicate_free_while_products_are_added() {
    let mut h = start_with(0).await;
    for i in 0..30 {
        h.create(product(
            &format!("P-{i:03}"),
            &format!("Product {i:03}"),
            100 + i,
            "bulk",
        ))
        .await;
    }
    let mut seen = Vec::new();
    let mut request = pb::ListProductsRequest {
        page_size: 7,
        sort: pb::ProductSort::Name as i32,
        ..Default::default()
    };
    let mut inserted = 0;
    loop {
        let page = h.list(request.clone()).await.unwrap();
        seen.extend(page.products.iter().map(|p| p.name.clone()));
        // Between pages, add products both before and after the cursor in name order.
        for name in [
            format!("Product {inserted:03}a"),
            format!("AAA {inserted:03}"),
        ] {
            h.create(product(
                &format!("NEW-{}", name.replace(' ', "-")),
                &name,
                100,
                "bulk",
            ))
            .await;
        }
        inserted += 1;
        if page.next_page_token.is_empty() {
            break;
        }
        request.page_token = page.next_page_token;
    }
    let unique: HashSet<_> = seen.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        seen.len(),
        "no product appears twice: {seen:?}"
    );
    for i in 0..30 {
        assert!(
            unique.contains(&format!("Product {i:03}")),
            "Product {i:03} missing"
        );
    }
    let mut sorted = seen.clone();
    sorted.sort_by_key(|name| name.to_lowercase());
    assert_eq!(seen, sorted, "pages arrive in name order");
}

#[tokio::test]
async fn a_change_on_one_replica_reaches_the_cache_of_another() {
    let mut h = start_with(600).await;
    let (_replica, other) = spawn(config(&h.mongo, &h.amqp, 600)).await;
    let created = h.create(product("SYNC-1", "Old Name", 100, "misc")).await;
    let read = |mut client: ProductServiceClient<Channel>, id: String| async move {
        client
            .get_product(pb::GetProductRequest {
                key: Some(pb::get_product_request::Key::Id(id)),
            })
            .await
            .ok()
            .and_then(|r| r.into_inner().product)
    };
    // The other replica caches the product (for 10 minutes, by its TTL)...
    assert_eq!(
        read(other.clone(), created.id.clone()).await.unwrap().name,
        "Old Name"
    );
    // ...and a rename on the first replica still reaches it through product.changed.
    h.client
        .update_product(with_token(
            pb::UpdateProductRequest {
                product: Some(pb::Product {
                    id: created.id.clone(),
                    name: "New Name".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["name".into()],
                }),
                expected_version: 0,
            },
            &h.admin,
        ))
        .await
        .unwrap();
    wait_until(
        std::time::Duration::from_secs(10),
        "the other replica to see the rename",
        || {
            let other = other.clone();
            let id = created.id.clone();
            async move { (read(other, id).await?.name == "New Name").then_some(()) }
        },
    )
    .await
    .unwrap();
}

// --- Page tokens are hostile input ------------------------------------------------------

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(token: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("issued tokens are base64url")
}

/// A token an attacker writes by hand: the unsigned JSON cursor shape this service issued
/// before tokens were signed, with `key` set to whatever the attacker wants in the filter.
fn hand_written_token(key: serde_json::Value) -> String {
    b64(serde_json::json!({
        "sort": "Name",
        "category": "",
        "terms": [],
        "archived": false,
        "after": { "key": key, "id": uuid::Uuid::now_v7().to_string() },
    })
    .to_string()
    .as_bytes())
}

/// What is wrong with the answer to a bad token, if anything: it must be INVALID_ARGUMENT on
/// `page_token`, never INTERNAL and never an answer.
fn refusal_problem(
    result: Result<pb::ListProductsResponse, tonic::Status>,
    what: &str,
) -> Option<String> {
    match result {
        Ok(page) => Some(format!(
            "{what}: accepted, answered {} products",
            page.products.len()
        )),
        Err(status) if status.code() != Code::InvalidArgument => {
            Some(format!("{what}: {:?} {}", status.code(), status.message()))
        }
        Err(status) if violated_fields(&status) != ["page_token"] => Some(format!(
            "{what}: violations on {:?}",
            violated_fields(&status)
        )),
        Err(_) => None,
    }
}

#[track_caller]
fn assert_no_problems(problems: &[String]) {
    assert!(
        problems.is_empty(),
        "{} bad tokens not refused as INVALID_ARGUMENT on page_token:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

async fn seed_catalog(h: &mut Harness) {
    for (sku, name, price, category) in [
        ("TENT-2", "Dome Tent", 19900, "outdoor"),
        ("TENT-1", "Tunnel Tent", 24900, "outdoor"),
        ("MUG-1", "Camping Mug", 900, "outdoor"),
        ("MUG-2", "Coffee Mug", 1200, "kitchen"),
        ("PAN-1", "Camping Pan", 2900, "kitchen"),
    ] {
        h.create(product(sku, name, price, category)).await;
    }
}

#[tokio::test]
async fn a_cursor_key_written_as_a_mongo_operator_is_refused() {
    let mut h = start().await;
    seed_catalog(&mut h).await;
    let mut problems = Vec::new();
    for (what, key) in [
        ("$ne operator", serde_json::json!({ "$ne": null })),
        ("$gt operator", serde_json::json!({ "$gt": "" })),
        (
            "$regularExpression",
            serde_json::json!({ "$regularExpression": { "pattern": ".*", "options": "" } }),
        ),
        ("$where", serde_json::json!({ "$where": "sleep(1000)" })),
        ("plain string", serde_json::json!("camping")),
    ] {
        let forged = h
            .list(pb::ListProductsRequest {
                page_token: hand_written_token(key),
                ..Default::default()
            })
            .await;
        problems.extend(refusal_problem(forged, what));
    }
    assert_no_problems(&problems);
}

#[tokio::test]
async fn tampered_truncated_and_garbage_tokens_are_refused() {
    let mut h = start().await;
    seed_catalog(&mut h).await;
    let first = h
        .list(pb::ListProductsRequest {
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    let genuine = first.next_page_token;
    assert!(!genuine.is_empty());
    let bytes = unb64(&genuine);
    let mut problems = Vec::new();

    // Every single-bit flip, anywhere in the token.
    for index in 0..bytes.len() {
        for bit in [0x01u8, 0x20, 0x80] {
            let mut flipped = bytes.clone();
            flipped[index] ^= bit;
            let result = h
                .list(pb::ListProductsRequest {
                    page_size: 2,
                    page_token: b64(&flipped),
                    ..Default::default()
                })
                .await;
            problems.extend(refusal_problem(
                result,
                &format!("bit {bit:#x} of byte {index} flipped"),
            ));
        }
    }
    // Cut short, at the byte and at the text level, and lengthened.
    for keep in [0, 1, bytes.len() / 2, bytes.len() - 1] {
        let result = h
            .list(pb::ListProductsRequest {
                page_size: 2,
                page_token: b64(&bytes[..keep.max(1)]),
                ..Default::default()
            })
            .await;
        problems.extend(refusal_problem(
            result,
            &format!("truncated to {keep} bytes"),
        ));
    }
    let mut longer = bytes.clone();
    longer.push(b'}');
    for token in [
        genuine[..genuine.len() - 1].to_owned(),
        format!("{genuine}A"),
        b64(&longer),
        "garbage".into(),
        "%%%not base64%%%".into(),
        "e30".into(), // "{}"
        "A".repeat(100_000),
    ] {
        let result = h
            .list(pb::ListProductsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await;
        problems.extend(refusal_problem(result, &format!("token {token:.40}")));
    }
    assert_no_problems(&problems);
    // The genuine token still works after all that.
    let second = h
        .list(pb::ListProductsRequest {
            page_size: 2,
            page_token: genuine,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(second.products.len(), 2);
}

#[tokio::test]
async fn a_token_from_another_sort_or_search_is_foreign() {
    let mut h = start().await;
    seed_catalog(&mut h).await;
    let by_name = pb::ListProductsRequest {
        page_size: 1,
        ..Default::default()
    };
    let token = |request: &pb::ListProductsRequest| {
        let mut h_client = h.client.clone();
        let request = request.clone();
        async move {
            h_client
                .list_products(request)
                .await
                .unwrap()
                .into_inner()
                .next_page_token
        }
    };
    let name_token = token(&by_name).await;
    let camp_token = token(&pb::ListProductsRequest {
        search: "camp".into(),
        ..by_name.clone()
    })
    .await;
    let price_token = token(&pb::ListProductsRequest {
        sort: pb::ProductSort::PriceAsc as i32,
        ..by_name.clone()
    })
    .await;
    let mut problems = Vec::new();
    for (what, page_token, request) in [
        (
            "name token, price order",
            &name_token,
            pb::ListProductsRequest {
                sort: pb::ProductSort::PriceAsc as i32,
                ..by_name.clone()
            },
        ),
        (
            "name token, newest order",
            &name_token,
            pb::ListProductsRequest {
                sort: pb::ProductSort::Newest as i32,
                ..by_name.clone()
            },
        ),
        (
            "price-ascending token, price descending",
            &price_token,
            pb::ListProductsRequest {
                sort: pb::ProductSort::PriceDesc as i32,
                ..by_name.clone()
            },
        ),
        ("search token, no search", &camp_token, by_name.clone()),
        (
            "search token, other search",
            &camp_token,
            pb::ListProductsRequest {
                search: "mug".into(),
                ..by_name.clone()
            },
        ),
        (
            "unfiltered token, category",
            &name_token,
            pb::ListProductsRequest {
                category: "kitchen".into(),
                ..by_name.clone()
            },
        ),
    ] {
        let result = h
            .list(pb::ListProductsRequest {
                page_token: page_token.clone(),
                ..request
            })
            .await;
        problems.extend(refusal_problem(result, what));
    }
    assert_no_problems(&problems);
}

#[tokio::test]
async fn paging_walks_every_product_exactly_once_in_every_order() {
    let mut h = start_with(0).await;
    // Equal prices and names that differ only in case make the `_id` tie-break do the work.
    let mut expected = HashSet::new();
    for i in 0..23 {
        let name = if i % 2 == 0 {
            format!("Item {:02}", i / 3)
        } else {
            format!("ITEM {:02}", i / 3)
        };
        let created = h
            .create(product(
                &format!("W-{i:03}"),
                &name,
                500 + (i % 4) * 100,
                "bulk",
            ))
            .await;
        expected.insert(created.id);
    }
    for sort in [
        pb::ProductSort::Name,
        pb::ProductSort::PriceAsc,
        pb::ProductSort::PriceDesc,
        pb::ProductSort::Newest,
    ] {
        for page_size in [1, 4, 100] {
            let all = h
                .list_all(pb::ListProductsRequest {
                    page_size,
                    sort: sort as i32,
                    ..Default::default()
                })
                .await;
            let ids: Vec<String> = all.iter().map(|p| p.id.clone()).collect();
            let unique: HashSet<String> = ids.iter().cloned().collect();
            assert_eq!(unique.len(), ids.len(), "{sort:?}/{page_size}: duplicates");
            assert_eq!(unique, expected, "{sort:?}/{page_size}: every product");
            let prices: Vec<i64> = all
                .iter()
                .map(|p| p.price.as_ref().map_or(0, |m| m.amount_minor))
                .collect();
            match sort {
                pb::ProductSort::PriceAsc => assert!(prices.is_sorted(), "{prices:?}"),
                pb::ProductSort::PriceDesc => {
                    assert!(prices.iter().rev().is_sorted(), "{prices:?}")
                }
                _ => {}
            }
        }
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused_and_the_previous_key_still_works() {
    let mut h = start().await;
    seed_catalog(&mut h).await;
    let other_key = "another-deployment-page-token-key-0123456789";
    // A replica with another key over the same catalog: its tokens are well-formed and
    // signed, just not by us (the shape a forger with the format but not the key gets).
    let (_other, mut other) = spawn(ProductConfig {
        page_token_key: other_key.into(),
        ..config(&h.mongo, &h.amqp, 30)
    })
    .await;
    let request = pb::ListProductsRequest {
        page_size: 2,
        ..Default::default()
    };
    let foreign = other
        .list_products(request.clone())
        .await
        .unwrap()
        .into_inner()
        .next_page_token;
    let refused = h
        .list(pb::ListProductsRequest {
            page_token: foreign.clone(),
            ..request.clone()
        })
        .await;
    assert_no_problems(&Vec::from_iter(refusal_problem(
        refused,
        "token signed with another key",
    )));
    let refused = h
        .list(pb::ListProductsRequest {
            page_token: foreign.clone(),
            ..request.clone()
        })
        .await
        .unwrap_err();
    assert_eq!(
        refused
            .get_error_details()
            .error_info()
            .map(|info| info.reason.clone())
            .as_deref(),
        Some("INVALID_PAGE_TOKEN")
    );

    // Rotating to a new key with the other one as previous: its in-flight tokens go on.
    let (_rotated, mut rotated) = spawn(ProductConfig {
        page_token_key: "the-next-page-token-key-after-rotation-0123".into(),
        page_token_previous_key: Some(other_key.into()),
        ..config(&h.mongo, &h.amqp, 30)
    })
    .await;
    let continued = rotated
        .list_products(pb::ListProductsRequest {
            page_token: foreign,
            ..request
        })
        .await
        .expect("a token of the previous key continues")
        .into_inner();
    assert_eq!(continued.products.len(), 2);
}

#[tokio::test]
async fn production_refuses_the_development_page_token_key() {
    let mongo = TestMongo::create().await.expect("test mongo");
    let amqp = TestAmqp::create().await.expect("test amqp");
    let production = |key: &str, previous: Option<&str>| ProductConfig {
        env: shop_kit::config::Environment::production(),
        page_token_key: key.into(),
        page_token_previous_key: previous.map(str::to_owned),
        ..config(&mongo, &amqp, 30)
    };
    let dev_key = ProductConfig::default().page_token_key;
    for (what, config) in [
        ("dev key", production(&dev_key, None)),
        (
            "dev key as previous",
            production("a-real-secret-page-token-key-0123456789", Some(&dev_key)),
        ),
        ("short key", production("short", None)),
    ] {
        let Err(error) = App::build(config).await else {
            panic!("{what}: production started");
        };
        assert!(
            format!("{error:#}").contains("SHOP_PAGE_TOKEN"),
            "{what}: {error:#}"
        );
    }
    App::build(production("a-real-secret-page-token-key-0123456789", None))
        .await
        .expect("production starts with a real key");
}

#[tokio::test]
async fn a_catalog_query_over_its_time_limit_is_unavailable_not_internal() {
    use mongodb::bson::doc;
    let mongo = TestMongo::create().await.expect("test mongo");
    let amqp = TestAmqp::create().await.expect("test amqp");
    // Thousands of archived products that a public list has to walk past (nothing indexes
    // `archived`): far more work than 1 ms on any server.
    let now = mongodb::bson::DateTime::now();
    let archived: Vec<_> = (0..3000)
        .map(|i| {
            doc! {
                "_id": uuid::Uuid::now_v7().to_string(), "sku": format!("OLD-{i}"),
                "name": format!("Old {i}"), "name_sort": format!("old {i}"), "description": "",
                "price_minor": 1_i64, "currency": "EUR", "category": "old", "image_url": "",
                "attributes": {}, "archived": true, "created_at": now, "updated_at": now,
                "version": 1_i64, "words": ["old"], "creation_key": null,
            }
        })
        .collect();
    mongo
        .database
        .collection("products")
        .insert_many(archived)
        .await
        .expect("seed archived products");
    let (_service, mut client) = spawn(ProductConfig {
        catalog_query_max_time_ms: 1,
        ..config(&mongo, &amqp, 30)
    })
    .await;
    let status = client
        .list_products(pb::ListProductsRequest {
            sort: pb::ProductSort::PriceAsc as i32,
            ..Default::default()
        })
        .await
        .expect_err("a 1 ms budget cannot walk 3000 products");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");

    // The default budget serves the same query.
    let (_service, mut client) = spawn(config(&mongo, &amqp, 30)).await;
    let page = client
        .list_products(pb::ListProductsRequest {
            sort: pb::ProductSort::PriceAsc as i32,
            ..Default::default()
        })
        .await
        .expect("within the default budget")
        .into_inner();
    assert!(page.products.is_empty());
}

fn described(sku: &str, name: &str, description: &str, category: &str) -> pb::Product {
    pb::Product {
        description: description.into(),
        ..product(sku, name, 1000, category)
    }
}

fn names(products: &[pb::Product]) -> Vec<String> {
    products.iter().map(|p| p.name.clone()).collect()
}

impl Harness {
    async fn search(&mut self, search: &str) -> Vec<String> {
        names(
            &self
                .list_all(pb::ListProductsRequest {
                    search: search.into(),
                    ..Default::default()
                })
                .await,
        )
    }

    async fn categories(&mut self) -> Vec<(String, i32)> {
        self.client
            .list_categories(pb::ListCategoriesRequest {})
            .await
            .expect("list categories")
            .into_inner()
            .categories
            .into_iter()
            .map(|c| (c.slug, c.product_count))
            .collect()
    }

    async fn archive(&mut self, id: &str) {
        self.client
            .archive_product(with_token(
                pb::ArchiveProductRequest {
                    id: id.into(),
                    expected_version: 0,
                },
                &self.admin,
            ))
            .await
            .expect("archive");
    }
}

#[tokio::test]
async fn categories_count_listed_products_sorted_by_slug_and_follow_writes() {
    let mut h = start().await;
    assert!(h.categories().await.is_empty(), "an empty catalog");
    seed_catalog(&mut h).await;
    let lamp = h.create(product("LAMP-1", "Desk Lamp", 3900, "home")).await;
    assert_eq!(
        h.categories().await,
        [
            ("home".to_owned(), 1),
            ("kitchen".to_owned(), 2),
            ("outdoor".to_owned(), 3)
        ]
    );
    // Read again right after this replica's own writes (the answer is reused for a few
    // seconds otherwise): a new category appears, an archived product stops counting and
    // a category with only archived products is gone.
    h.create(product("SAW-1", "Pruning Saw", 2500, "garden"))
        .await;
    h.archive(&lamp.id).await;
    assert_eq!(
        h.categories().await,
        [
            ("garden".to_owned(), 1),
            ("kitchen".to_owned(), 2),
            ("outdoor".to_owned(), 3)
        ]
    );
}

#[tokio::test]
async fn search_matches_inside_words_and_forgives_one_typo() {
    let mut h = start().await;
    for product in [
        described(
            "HL-1",
            "Classic Headlamp",
            "Bright light for night hikes.",
            "outdoor",
        ),
        described(
            "ST-1",
            "Camping Stove",
            "Boils water fast at camp.",
            "outdoor",
        ),
        described(
            "KT-1",
            "Enamel Kettle",
            "Whistles when the water boils.",
            "kitchen",
        ),
        described("LP-1", "Desk Lamp", "Warm light for reading.", "home"),
    ] {
        h.create(product).await;
    }
    let mut problems = Vec::new();
    for (search, expected) in [
        // Inside a word, and only there: camping is one letter from "lamp", but a term
        // that matches as it is is not stretched to a typo.
        ("lamp", &["Classic Headlamp", "Desk Lamp"][..]),
        ("LAMP", &["Classic Headlamp", "Desk Lamp"]),
        ("dlam", &["Classic Headlamp"]),
        // One typo: an extra, a swapped, a missing and a wrong letter.
        ("lamps", &["Classic Headlamp", "Desk Lamp"]),
        ("haedlamp", &["Classic Headlamp"]),
        ("headlmap", &["Classic Headlamp"]),
        ("hedlamp", &["Classic Headlamp"]),
        ("kettel", &["Enamel Kettle"]),
        ("kettke", &["Enamel Kettle"]),
        // Description, SKU and category words.
        ("whistles", &["Enamel Kettle"]),
        ("hikes", &["Classic Headlamp"]),
        ("hl-1", &["Classic Headlamp"]),
        ("kitchen", &["Enamel Kettle"]),
        ("outdoor", &["Camping Stove", "Classic Headlamp"]),
        // Short terms begin words.
        ("de", &["Desk Lamp"]),
        // Terms AND together.
        ("water boils", &["Camping Stove", "Enamel Kettle"]),
        ("light desk", &["Desk Lamp"]),
        ("light kettle", &[]),
        ("boils camping", &["Camping Stove"]),
        // Unrelated words, and two typos, find nothing.
        ("xylophone", &[]),
        ("zzzz", &[]),
        ("haedlmap", &[]),
    ] {
        let found = h.search(search).await;
        if found != expected {
            problems.push(format!("{search:?}: {found:?}, expected {expected:?}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test]
async fn search_follows_updates_and_archiving_at_once() {
    let mut h = start().await;
    let lamp = h
        .create(described("LP-1", "Desk Lamp", "Warm light.", "home"))
        .await;
    assert_eq!(h.search("lamp").await, ["Desk Lamp"], "vocabulary read");
    // The vocabulary is reused for seconds; this replica's own writes join it at once.
    h.create(described("LP-2", "Wall Sconce", "Dimmable.", "home"))
        .await;
    assert_eq!(h.search("dimma").await, ["Wall Sconce"]);
    h.client
        .update_product(with_token(
            pb::UpdateProductRequest {
                product: Some(pb::Product {
                    id: lamp.id.clone(),
                    // Not "arm": one edit from "warm", which a vocabulary read after this
                    // change (on the update's own product.changed) forgives as a typo.
                    description: "Adjustable neck.".into(),
                    ..Default::default()
                }),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["description".into()],
                }),
                expected_version: 0,
            },
            &h.admin,
        ))
        .await
        .expect("update description");
    assert_eq!(h.search("adjusta").await, ["Desk Lamp"]);
    assert!(h.search("warm").await.is_empty(), "the old words are gone");
    h.archive(&lamp.id).await;
    assert!(h.search("lamp").await.is_empty());
    let archived = h
        .client
        .list_products(with_token(
            pb::ListProductsRequest {
                search: "adjusta".into(),
                include_archived: true,
                ..Default::default()
            },
            &h.admin,
        ))
        .await
        .expect("admin search")
        .into_inner()
        .products;
    assert_eq!(names(&archived), ["Desk Lamp"], "admins still find it");
}

#[tokio::test]
async fn paging_through_a_search_walks_every_match_once_and_tokens_stay_with_their_search() {
    let mut h = start_with(0).await;
    let mut expected = Vec::new();
    for i in 0..9 {
        let name = format!("Headlamp {i:02}");
        h.create(described(
            &format!("HL-{i:02}"),
            &name,
            "Bright.",
            "outdoor",
        ))
        .await;
        expected.push(name);
        h.create(described(
            &format!("CS-{i:02}"),
            &format!("Camping Stove {i:02}"),
            "Hot.",
            "outdoor",
        ))
        .await;
    }
    for search in ["lamp", "haedlamp", "lamps"] {
        for page_size in [1, 2, 4] {
            let found = h
                .list_all(pb::ListProductsRequest {
                    search: search.into(),
                    page_size,
                    ..Default::default()
                })
                .await;
            assert_eq!(
                names(&found),
                expected,
                "{search:?} in pages of {page_size}"
            );
        }
    }
    let first = h
        .list(pb::ListProductsRequest {
            search: "lamp".into(),
            page_size: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    for other in ["lamps", "haedlamp", "stove", ""] {
        let refused = h
            .list(pb::ListProductsRequest {
                search: other.into(),
                page_size: 2,
                page_token: first.next_page_token.clone(),
                ..Default::default()
            })
            .await
            .expect_err("a token of another search");
        assert_eq!(violated_fields(&refused), ["page_token"], "{other:?}");
    }
}

#[tokio::test]
async fn products_stored_before_search_words_get_them_at_start_up() {
    use mongodb::bson::doc;
    let mongo = TestMongo::create().await.expect("test mongo");
    let amqp = TestAmqp::create().await.expect("test amqp");
    let now = mongodb::bson::DateTime::now();
    // As the previous release stored them: edge n-gram keywords, no words. More than one
    // backfill batch.
    let legacy: Vec<_> = (0..shop_product::store::BACKFILL_BATCH + 20)
        .map(|i| {
            let (name, description) = if i == 7 {
                (
                    "Legacy Headlamp".to_owned(),
                    "Runs on batteries.".to_owned(),
                )
            } else {
                (format!("Legacy Item {i}"), String::new())
            };
            doc! {
                "_id": uuid::Uuid::now_v7().to_string(), "sku": format!("OLD-{i}"),
                "name_sort": name.to_lowercase(), "name": name, "description": description,
                "price_minor": 100_i64, "currency": "EUR", "category": "legacy",
                "image_url": "", "attributes": {}, "archived": false, "created_at": now,
                "updated_at": now, "version": 1_i64, "keywords": ["l", "le", "leg"],
                "creation_key": null,
            }
        })
        .collect();
    let products = mongo
        .database
        .collection::<mongodb::bson::Document>("products");
    products
        .insert_many(legacy)
        .await
        .expect("seed legacy products");

    let (_service, mut client) = spawn(config(&mongo, &amqp, 30)).await;
    for search in ["lamp", "batteries", "haedlamp"] {
        let found = client
            .list_products(pb::ListProductsRequest {
                search: search.into(),
                ..Default::default()
            })
            .await
            .expect("search")
            .into_inner()
            .products;
        assert_eq!(names(&found), ["Legacy Headlamp"], "{search:?}");
    }
    let without = products
        .count_documents(doc! { "words": { "$exists": false } })
        .await
        .expect("count");
    assert_eq!(without, 0, "every product has its words");
    // A second start (another replica, a restart) finds nothing left to do.
    let store = shop_product::store::Store::new(&mongo.database, std::time::Duration::ZERO);
    assert_eq!(store.backfill_words().await.expect("backfill"), 0);
    let (_again, _) = spawn(config(&mongo, &amqp, 30)).await;
}

#[tokio::test]
async fn another_replica_sees_new_words_and_categories_within_its_summary_ttl() {
    let mut h = start().await;
    h.create(described("LP-1", "Desk Lamp", "Warm light.", "home"))
        .await;
    let (_replica, other) = spawn(ProductConfig {
        search_summary_ttl_secs: 1,
        ..config(&h.mongo, &h.amqp, 30)
    })
    .await;
    let search = |mut client: ProductServiceClient<Channel>, text: &'static str| async move {
        let found = client
            .list_products(pb::ListProductsRequest {
                search: text.into(),
                ..Default::default()
            })
            .await
            .expect("search")
            .into_inner()
            .products;
        names(&found)
    };
    let categories = |mut client: ProductServiceClient<Channel>| async move {
        client
            .list_categories(pb::ListCategoriesRequest {})
            .await
            .expect("categories")
            .into_inner()
            .categories
            .into_iter()
            .map(|c| c.slug)
            .collect::<Vec<_>>()
    };
    // The other replica reads its vocabulary and category counts now...
    assert_eq!(search(other.clone(), "lamp").await, ["Desk Lamp"]);
    assert_eq!(categories(other.clone()).await, ["home"]);
    // ...so a product written on the first replica reaches them after at most its TTL.
    h.create(described("SC-1", "Wall Sconce", "Dimmable.", "lighting"))
        .await;
    wait_until(
        std::time::Duration::from_secs(5),
        "the other replica's vocabulary and categories",
        || {
            let other = other.clone();
            async move {
                (search(other.clone(), "dimma").await == ["Wall Sconce"]
                    && categories(other).await == ["home", "lighting"])
                .then_some(())
            }
        },
    )
    .await
    .expect("within the TTL");
    // A whole word needs no vocabulary at all.
    assert_eq!(search(other, "sconce").await, ["Wall Sconce"]);
}
