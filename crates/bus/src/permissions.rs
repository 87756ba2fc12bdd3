//! Least privilege on RabbitMQ: one user per participant (`shop-<service>`), allowed exactly
//! what its code does, derived from [`crate::topology`] so that a renamed queue or a new
//! event changes the grant with it. The one source for every environment:
//! `shop-rabbitmq permissions` renders `deploy/rabbitmq/permissions.tsv` (applied by
//! `scripts/deps.sh` with `rabbitmqctl`), and `shop-rabbitmq k8s` the AKS overlay's
//! messaging-topology objects; a test keeps both files equal to this table.
//!
//! What a user may do (RabbitMQ checks configure/write/read per resource, and topic
//! permissions per routing key on topic exchanges):
//! - no configure on anything durable: the exchanges, the saga queues with their retry and
//!   dead queues, and their bindings are provisioned by an administrator (`shop-rabbitmq
//!   declare`, or the operator's `Exchange`/`Queue`/`Binding` objects), so no service can
//!   delete, re-declare or re-bind another's queue (or its own, to dead-letter elsewhere);
//! - read (consume) only its own saga queue;
//! - write on `shop.events` only for publishers, with a topic permission listing the routing
//!   keys it owns (docs/architecture.md §5): Cart cannot publish `payment.succeeded`;
//! - write on the retry exchange ([`crate::consumer::retry_exchange`]) only with the names of
//!   its own retry and dead queues as routing keys; never write on the default exchange,
//!   which reaches every queue by name;
//! - Product and the BFF configure, bind (write) and read only their per-replica queues
//!   (`<prefix>.<32 hex>`), and read `shop.events` with a topic permission for the keys they
//!   bind. The BFF writes to no exchange at all.

use crate::consumer::{dead_queue, retry_exchange, retry_queue};
use crate::topology::Participant;

/// A user's permissions on one vhost: three regexes over resource names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub participant: Participant,
    pub user: String,
    pub configure: String,
    pub write: String,
    pub read: String,
    /// Per topic exchange: (exchange, write regex, read regex) over routing keys.
    pub topics: Vec<(String, String, String)>,
}

/// `^(a|b)$` over the literal names, or `^$` (matches no resource) when there are none.
fn exactly<S: AsRef<str>>(names: &[S]) -> String {
    if names.is_empty() {
        return "^$".to_owned();
    }
    let alternatives: Vec<String> = names
        .iter()
        .map(|name| regex::escape(name.as_ref()))
        .collect();
    format!("^({})$", alternatives.join("|"))
}

/// The names of a per-replica queue: `<prefix>.` and a simple UUID (32 lowercase hex).
fn per_replica_pattern(prefix: &str) -> String {
    format!("{}\\.[0-9a-f]{{32}}", regex::escape(prefix))
}

fn any_of(patterns: &[String]) -> String {
    if patterns.is_empty() {
        "^$".to_owned()
    } else {
        format!("^({})$", patterns.join("|"))
    }
}

/// The retry and dead queues of `queue`, i.e. where its consumer may forward a delivery.
pub fn parking_queues(spec: &crate::QueueSpec) -> Vec<String> {
    let mut names: Vec<String> = spec
        .retry_delays()
        .into_iter()
        .map(|delay| retry_queue(&spec.name, delay))
        .collect();
    names.push(dead_queue(&spec.name));
    names
}

/// The grant of one participant, for the events exchange `exchange` (`shop.events`).
pub fn grant(participant: Participant, exchange: &str) -> Grant {
    let retries = retry_exchange(exchange);
    let escaped = |name: &str| regex::escape(name);
    let mut configure = Vec::new();
    let mut write = Vec::new();
    let mut read = Vec::new();
    let mut topics = Vec::new();

    let publishes = participant.publishes();
    if !publishes.is_empty() {
        write.push(escaped(exchange));
    }
    let mut bound_keys: Vec<&str> = Vec::new();
    if let Some((prefix, bindings)) = participant.per_replica() {
        let own = per_replica_pattern(prefix);
        configure.push(own.clone());
        write.push(own.clone());
        read.push(own);
        read.push(escaped(exchange));
        bound_keys.extend_from_slice(bindings);
    }
    topics.push((
        exchange.to_owned(),
        exactly(&publishes),
        exactly(&bound_keys),
    ));
    if let Some(spec) = participant.saga_queue() {
        read.push(escaped(&spec.name));
        write.push(escaped(&retries));
        topics.push((
            retries.clone(),
            exactly(&parking_queues(&spec)),
            "^$".to_owned(),
        ));
    }
    Grant {
        participant,
        user: participant.user(),
        configure: any_of(&configure),
        write: any_of(&write),
        read: any_of(&read),
        topics,
    }
}

/// Every participant's grant.
pub fn table(exchange: &str) -> Vec<Grant> {
    Participant::ALL
        .iter()
        .map(|participant| grant(*participant, exchange))
        .collect()
}

/// The production exchange (`SHOP_AMQP__EXCHANGE` in deploy/k8s/base/config.env).
pub const EXCHANGE: &str = "shop.events";

/// `deploy/rabbitmq/permissions.tsv`: one `permissions` line per user and one `topic` line
/// per (user, topic exchange), tab-separated, for `rabbitmqctl set_permissions` and
/// `set_topic_permissions`.
pub fn render_tsv(exchange: &str) -> String {
    let mut out = String::from(
        "# RabbitMQ least privilege, one user per service (vhost /). GENERATED from crates/bus\n\
         # (permissions.rs, topology.rs): cargo run -p shop-bus --bin shop-rabbitmq -- permissions\n\
         # Used by scripts/deps.sh; the AKS overlay's rabbitmq-topology.yaml is rendered from\n\
         # the same table. Columns (tab-separated):\n\
         #   permissions USER CONFIGURE WRITE READ       (rabbitmqctl set_permissions)\n\
         #   topic       USER EXCHANGE WRITE READ        (rabbitmqctl set_topic_permissions)\n",
    );
    for grant in table(exchange) {
        out.push_str(&format!(
            "permissions\t{}\t{}\t{}\t{}\n",
            grant.user, grant.configure, grant.write, grant.read
        ));
        for (topic_exchange, write, read) in &grant.topics {
            out.push_str(&format!(
                "topic\t{}\t{topic_exchange}\t{write}\t{read}\n",
                grant.user
            ));
        }
    }
    out
}

/// A YAML double-quoted string (regexes carry backslashes).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A k8s object name (DNS subdomain) for a RabbitMQ name.
fn object_name(parts: &[&str]) -> String {
    parts
        .join(".")
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// The AKS overlay's `rabbitmq-topology.yaml`: RabbitMQ messaging-topology operator objects
/// for every user (credentials imported from the Secret `rabbitmq-user-<service>`, which the
/// service's SecretProviderClass syncs from Key Vault), its permissions and topic permissions,
/// and the topology the services no longer declare themselves.
pub fn render_k8s(exchange: &str) -> String {
    const CLUSTER: &str = "  rabbitmqClusterReference: { name: rabbitmq }\n";
    let mut docs: Vec<String> = Vec::new();
    for grant in table(exchange) {
        let name = grant.participant.name();
        docs.push(format!(
            "apiVersion: rabbitmq.com/v1beta1\nkind: User\nmetadata:\n  name: {user}\nspec:\n{CLUSTER}  tags: []\n  importCredentialsSecret: {{ name: rabbitmq-user-{name} }}\n",
            user = grant.user
        ));
        docs.push(format!(
            "apiVersion: rabbitmq.com/v1beta1\nkind: Permission\nmetadata:\n  name: {user}\nspec:\n{CLUSTER}  vhost: \"/\"\n  userReference: {{ name: {user} }}\n  permissions:\n    configure: {}\n    write: {}\n    read: {}\n",
            quoted(&grant.configure),
            quoted(&grant.write),
            quoted(&grant.read),
            user = grant.user
        ));
        for (topic_exchange, write, read) in &grant.topics {
            docs.push(format!(
                "apiVersion: rabbitmq.com/v1beta1\nkind: TopicPermission\nmetadata:\n  name: {}\nspec:\n{CLUSTER}  vhost: \"/\"\n  userReference: {{ name: {user} }}\n  permissions:\n    exchange: {topic_exchange}\n    write: {}\n    read: {}\n",
                object_name(&[&grant.user, topic_exchange]),
                quoted(write),
                quoted(read),
                user = grant.user
            ));
        }
    }
    let retries = retry_exchange(exchange);
    for name in [exchange, retries.as_str()] {
        docs.push(format!(
            "apiVersion: rabbitmq.com/v1beta1\nkind: Exchange\nmetadata:\n  name: {}\nspec:\n{CLUSTER}  name: {name}\n  vhost: \"/\"\n  type: topic\n  durable: true\n  autoDelete: false\n",
            object_name(&[name])
        ));
    }
    let binding = |source: &str, destination: &str, key: &str| {
        format!(
            "apiVersion: rabbitmq.com/v1beta1\nkind: Binding\nmetadata:\n  name: {}\nspec:\n{CLUSTER}  vhost: \"/\"\n  source: {source}\n  destination: {destination}\n  destinationType: queue\n  routingKey: {key}\n",
            object_name(&["bind", destination, key])
        )
    };
    for spec in crate::topology::saga_queues() {
        let queue = |name: &str, arguments: &str| {
            format!(
                "apiVersion: rabbitmq.com/v1beta1\nkind: Queue\nmetadata:\n  name: {}\nspec:\n{CLUSTER}  name: {name}\n  vhost: \"/\"\n  durable: true\n  autoDelete: false\n{arguments}",
                object_name(&[name])
            )
        };
        docs.push(queue(&spec.name, ""));
        for key in &spec.bindings {
            docs.push(binding(exchange, &spec.name, key));
        }
        for delay in spec.retry_delays() {
            let retry = retry_queue(&spec.name, delay);
            docs.push(queue(
                &retry,
                &format!(
                    "  arguments:\n    x-dead-letter-exchange: \"\"\n    x-dead-letter-routing-key: {}\n    x-message-ttl: {}\n",
                    spec.name,
                    delay.as_millis()
                ),
            ));
            docs.push(binding(&retries, &retry, &retry));
        }
        let dead = dead_queue(&spec.name);
        docs.push(queue(&dead, ""));
        docs.push(binding(&retries, &dead, &dead));
    }
    let mut out = String::from(
        "# GENERATED from crates/bus (permissions.rs, topology.rs); do not edit:\n\
         #   cargo run -p shop-bus --bin shop-rabbitmq -- k8s > deploy/k8s/overlays/aks/rabbitmq-topology.yaml\n\
         # RabbitMQ messaging-topology operator objects (install: deploy/README.md): one user per\n\
         # service with least privilege (crates/bus/src/permissions.rs says what each may do), and\n\
         # the exchanges, saga queues (with retry and dead queues) and bindings, which the\n\
         # services only check, never declare. No guest user exists in the cluster.\n",
    );
    out.push_str(&docs.join("---\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn matches(pattern: &str, name: &str) -> bool {
        Regex::new(pattern).expect("a valid regex").is_match(name)
    }

    #[test]
    fn every_saga_queue_is_readable_by_its_owner_only() {
        let table = table(EXCHANGE);
        for spec in crate::topology::saga_queues() {
            let readers: Vec<_> = table
                .iter()
                .filter(|grant| matches(&grant.read, &spec.name))
                .map(|grant| grant.participant)
                .collect();
            assert_eq!(readers.len(), 1, "{}: readers {readers:?}", spec.name);
            for parked in parking_queues(&spec) {
                for grant in &table {
                    assert!(
                        !matches(&grant.read, &parked),
                        "{} reads {parked}",
                        grant.user
                    );
                    assert!(
                        !matches(&grant.configure, &parked),
                        "{} configures {parked}",
                        grant.user
                    );
                }
            }
            for grant in &table {
                assert!(!matches(&grant.configure, &spec.name));
                assert!(!matches(&grant.write, &spec.name));
            }
        }
    }

    #[test]
    fn nobody_writes_the_default_exchange_and_only_publishers_write_events() {
        for grant in table(EXCHANGE) {
            assert!(!matches(&grant.write, "amq.default"), "{}", grant.user);
            assert!(!matches(&grant.write, ""), "{}", grant.user);
            assert_eq!(
                matches(&grant.write, EXCHANGE),
                !grant.participant.publishes().is_empty(),
                "{}",
                grant.user
            );
        }
        let bff = grant(Participant::Bff, EXCHANGE);
        assert!(!matches(&bff.write, EXCHANGE));
        assert!(!matches(&bff.write, &retry_exchange(EXCHANGE)));
    }

    #[test]
    fn per_replica_queues_are_their_owners() {
        let product = crate::QueueSpec::per_replica(crate::topology::PRODUCT_CACHE, &[]);
        let bff_feed = format!(
            "{}.{}",
            crate::topology::BFF_FEED,
            uuid::Uuid::new_v4().simple()
        );
        for grant in table(EXCHANGE) {
            let owns_product = grant.participant == Participant::Product;
            let owns_feed = grant.participant == Participant::Bff;
            assert_eq!(matches(&grant.configure, &product.name), owns_product);
            assert_eq!(matches(&grant.read, &product.name), owns_product);
            assert_eq!(matches(&grant.configure, &bff_feed), owns_feed);
            assert_eq!(matches(&grant.read, &bff_feed), owns_feed);
        }
    }

    #[test]
    fn each_routing_key_has_one_publisher() {
        for (key, owner) in crate::topology::ALL_ROUTING_KEYS {
            for grant in table(EXCHANGE) {
                let (_, write, _) = &grant.topics[0];
                assert_eq!(
                    matches(write, key),
                    grant.participant == owner,
                    "{key}: {}",
                    grant.user
                );
            }
        }
    }
}
