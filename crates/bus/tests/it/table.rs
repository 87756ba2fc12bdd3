//! The permission table against the rest of the repository: the rendered files are current,
//! and the queues the services really declare are the ones the table grants (a renamed queue
//! fails here, not in production with ACCESS_REFUSED).

use std::path::PathBuf;

use shop_bus::permissions::{self, EXCHANGE};
use shop_bus::topology::{self, Participant};

fn repo(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|error| panic!("{}: {error}", file.display()))
}

#[test]
fn the_rendered_permission_files_are_current() {
    let regenerate = "regenerate: cargo run -p shop-bus --bin shop-rabbitmq -- permissions > \
                      deploy/rabbitmq/permissions.tsv; ... -- k8s > \
                      deploy/k8s/overlays/aks/rabbitmq-topology.yaml";
    assert!(
        repo("deploy/rabbitmq/permissions.tsv") == permissions::render_tsv(EXCHANGE),
        "deploy/rabbitmq/permissions.tsv is stale; {regenerate}"
    );
    assert!(
        repo("deploy/k8s/overlays/aks/rabbitmq-topology.yaml") == permissions::render_k8s(EXCHANGE),
        "rabbitmq-topology.yaml is stale; {regenerate}"
    );
}

#[test]
fn the_services_declare_the_queues_the_table_grants() {
    let saga_fn = |participant: Participant| match participant {
        Participant::Order => Some("order_saga"),
        Participant::Inventory => Some("inventory_orders"),
        Participant::Payment => Some("payment_orders"),
        Participant::Cart => Some("cart_orders"),
        Participant::Product | Participant::Bff => None,
    };
    for participant in Participant::ALL {
        if let Some(function) = saga_fn(participant) {
            let events = repo(&format!("services/{}/src/events.rs", participant.name()));
            assert!(
                events.contains(&format!("shop_bus::topology::{function}()")),
                "services/{}/src/events.rs no longer consumes topology::{function}(): update \
                 Participant::saga_queue and the permission table",
                participant.name()
            );
        }
    }
    // Per-replica queues: the code names the prefix, or the constant that holds it.
    for (file, spelled_out, constant, prefix) in [
        (
            "services/product/src/events.rs",
            format!("per_replica(\"{}\"", topology::PRODUCT_CACHE),
            "topology::PRODUCT_CACHE",
            topology::PRODUCT_CACHE,
        ),
        (
            "bff/src/feed.rs",
            format!("{}.{{}}", topology::BFF_FEED),
            "topology::BFF_FEED",
            topology::BFF_FEED,
        ),
    ] {
        let code = repo(file);
        assert!(
            code.contains(&spelled_out) || code.contains(constant),
            "{file}: its per-replica queue is no longer {prefix}.<uuid>: update {constant}"
        );
    }
    // The BFF binds what its topic read permission allows.
    let feed = repo("bff/src/feed.rs");
    for key in ["order.#", "payment.#"] {
        assert!(
            feed.contains(&format!("\"{key}\"")),
            "bff/src/feed.rs no longer binds {key}"
        );
    }
}
