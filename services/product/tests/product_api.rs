//! The Product service over real gRPC against the MongoDB stand-in (a fresh database per
//! test).

use std::collections::HashSet;
use std::net::SocketAddr;

use shop_kit::auth::Role;
use shop_product::{App, ProductConfig};
use shop_proto::shop::common::v1::Money;
use shop_proto::shop::product::v1::{self as pb, product_service_client::ProductServiceClient};
use shop_testkit::{RunningService, TestAmqp, TestMongo, keys, token_for, wait_until, with_token};
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

fn config(mongo: &TestMongo, amqp: &TestAmqp, cache_ttl_secs: u64) -> ProductConfig {
    let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
    ProductConfig {
        grpc_addr: any_port,
        admin_addr: any_port,
        mongodb_uri: mongo.uri.clone(),
        mongodb_database: mongo.name.clone(),
        jwt_public_key_pem: Some(keys().public_pem.clone()),
        cache_ttl_secs,
        amqp: amqp.bus_config(),
        ..ProductConfig::default()
    }
}

async fn spawn(config: ProductConfig) -> (RunningService, ProductServiceClient<Channel>) {
    let app = App::build(config).await.expect("product service builds");
    let service = RunningService::spawn(app.grpc_addr(), app.admin_addr(), |shutdown| {
        app.run(shutdown)
    });
    let client = ProductServiceClient::new(service.channel().await.expect("serving"));
    (service, client)
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

fn eur(amount_minor: i64) -> Option<Money> {
    Some(Money {
        amount_minor,
        currency: "EUR".into(),
    })
}

fn product(sku: &str, name: &str, price: i64, category: &str) -> pb::Product {
    pb::Product {
        sku: sku.into(),
        name: name.into(),
        description: format!("{name}, a fine thing"),
        price: eur(price),
        category: category.into(),
        image_url: format!("/images/{}.jpg", sku.to_lowercase()),
        attributes: [("colour".to_owned(), "blue".to_owned())].into(),
        ..Default::default()
    }
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

fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_error_details()
        .bad_request()
        .map(|br| {
            br.field_violations
                .iter()
                .map(|v| v.field.clone())
                .collect()
        })
        .unwrap_or_default()
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

    // Every term must prefix some word of the name, SKU or category.
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
