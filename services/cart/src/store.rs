//! Redis persistence for carts (fred). Persistence only: which limits apply, who may touch a
//! cart and what a line costs are decided in `domain` and `api`.
//!
//! # Layout
//!
//! Every key starts with the configured prefix `P` (default `shop:`; each test has its own).
//!
//! | key                               | type   | contents                                   |
//! |-----------------------------------|--------|--------------------------------------------|
//! | `P` `cart:g:<uuid>`               | hash   | a guest cart                               |
//! | `P` `cart:u:<user id>`            | hash   | a user cart                                |
//! | `P` `cart:<g:…/u:…>:idem:<key>`   | string | an applied AddItem: `"<SKU> <units>"`, 10 min |
//!
//! A cart is one hash, so one `PEXPIRE` and one `DEL` cover all of it:
//!
//! - `q:<SKU>` → quantity of the line (always ≥ 1; a line with 0 units is deleted),
//! - `o:<SKU>` → the sequence number the line got when first added ("lines in the order
//!   they were first added"; re-adding a removed line puts it at the end),
//! - `seq` → the last sequence number handed out,
//! - `updated_at` → Unix milliseconds of the last change to the lines.
//!
//! SKUs are `A-Z 0-9 - _ .` and user ids `A-Z a-z 0-9 - _`, so neither can contain the `:`
//! that separates the parts. A cart without lines is not stored: the write that removes the
//! last line deletes the key, so "empty" and "expired" are the same state.
//!
//! # Atomicity
//!
//! Every change is one Lua script (`src/lua/*.lua`, run by EVALSHA; ClearCart is a single
//! `DEL`), which Redis runs without interleaving any other command: the script reads the
//! line, checks the limits it is given, writes, bumps
//! `updated_at`, sets `PEXPIRE` and returns the resulting cart, all in one step. Rust never
//! reads, decides and writes back, so concurrent AddItem calls cannot lose updates, and a
//! reply always shows a state that really existed. The scripts are loaded at start-up and
//! reloaded if Redis forgets them (restart, failover, `SCRIPT FLUSH`). MergeCarts touches two
//! keys in one script, so it needs one Redis (or a replicated primary), not Redis Cluster.
//!
//! Commands are sent at most once (`max_command_attempts = 1`): fred would otherwise resend
//! an in-flight script after a reconnect and an AddItem could be applied twice. The caller
//! gets UNAVAILABLE instead and retries (AddItem with its idempotency key).

use std::time::Duration;

use fred::prelude::*;

use crate::domain::{CartRef, IdempotencyKey, Limits, Line};

/// Helpers shared by every script. Each script returns `snapshot(...)`:
/// `{status, detail, pttl, field1, value1, ...}` of the cart hash after the change.
const PRELUDE: &str = include_str!("lua/prelude.lua");

/// KEYS: cart. A consistent snapshot (lines, order, updated_at and TTL from one instant).
const GET: &str = include_str!("lua/get.lua");

/// KEYS: cart [, idempotency key]. ARGV: sku, units, max quantity, max lines, ttl ms,
/// now ms, idempotency ttl ms, request fingerprint.
const ADD: &str = include_str!("lua/add.lua");

/// KEYS: cart. ARGV: sku, quantity (≥ 1), max lines, ttl ms, now ms.
const SET: &str = include_str!("lua/set.lua");

/// KEYS: cart. ARGV: sku, ttl ms, now ms. Removing the last line deletes the cart; removing
/// an absent line changes nothing but the TTL of an existing cart.
const REMOVE: &str = include_str!("lua/remove.lua");

/// KEYS: guest cart, user cart. ARGV: max quantity, max lines, user ttl ms, now ms.
/// Guest lines are visited in their cart order: a SKU already in the user cart has the
/// quantities summed (capped at the per-line limit) and keeps its place; a new SKU is
/// appended while the user cart has room, and dropped (counted in `detail`) once it holds
/// max lines. Then the guest cart is deleted. A missing guest cart changes nothing.
const MERGE: &str = include_str!("lua/merge.lua");

/// KEYS: cart, marker. ARGV: marker ttl ms, now ms, then `sku, units` pairs. Takes what an
/// order bought out of the cart (lines added since checkout stay) once per event: the
/// marker (SET NX) makes a redelivered `order.confirmed` a no-op.
const SUBTRACT_ORDERED: &str = include_str!("lua/subtract_ordered.lua");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The line is new and the cart already holds the maximum number of lines.
    #[error("the cart already has {max} lines")]
    TooManyLines { max: i64 },
    /// Adding would take the line over the per-line limit; it holds `current` units.
    #[error("the line already has {current} units")]
    LineLimit { current: i64 },
    /// The idempotency key was already used for a different item or quantity.
    #[error("idempotency key reused for a different request")]
    IdempotencyKeyReused,
    #[error("redis: {0}")]
    Redis(#[from] fred::error::Error),
    #[error("unexpected reply from a cart script: {0}")]
    Malformed(String),
}

impl StoreError {
    /// Redis being down, slow or reconnecting, as opposed to a bug: the caller may retry.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Redis(error) => matches!(
                error.kind(),
                ErrorKind::IO | ErrorKind::Timeout | ErrorKind::Canceled | ErrorKind::Backpressure
            ),
            _ => false,
        }
    }
}

/// A cart as stored, lines in the order they were first added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCart {
    pub lines: Vec<Line>,
    /// Unix milliseconds of the last change; `None` when the cart is not stored.
    pub updated_at_ms: Option<i64>,
    /// Time left before Redis drops the cart; `None` when it is not stored.
    pub ttl_ms: Option<i64>,
}

/// How a MergeCarts went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub cart: StoredCart,
    /// Guest lines left out because the user cart was full.
    pub dropped_lines: i64,
}

/// Whether an AddItem changed the cart or was a retry of one that already had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    pub cart: StoredCart,
    pub replayed: bool,
}

/// One script: its source and the SHA-1 Redis knows it by.
#[derive(Clone)]
struct Script {
    source: String,
    sha: String,
}

#[derive(Clone)]
struct Scripts {
    get: Script,
    add: Script,
    set: Script,
    remove: Script,
    merge: Script,
    subtract_ordered: Script,
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    prefix: String,
    scripts: Scripts,
}

/// What a write may do and how long it keeps the cart, decided by the caller per cart kind
/// and handed to the scripts, which enforce them atomically.
#[derive(Debug, Clone, Copy)]
pub struct WriteRules {
    pub limits: Limits,
    /// The cart's new time to live (guest or user).
    pub ttl: Duration,
    /// How long an AddItem idempotency key is remembered.
    pub idempotency_ttl: Duration,
    /// Becomes `updated_at`.
    pub now_ms: i64,
}

impl Store {
    /// Connects (failing fast when Redis is unreachable) and loads the scripts.
    pub async fn connect(
        url: &str,
        prefix: &str,
        command_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let config = Config::from_url(url)?;
        let client = Builder::from_config(config)
            .with_connection_config(|connection| {
                connection.connection_timeout = command_timeout.max(Duration::from_secs(1));
                connection.max_command_attempts = 1;
            })
            .with_performance_config(|performance| {
                performance.default_command_timeout = command_timeout;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()?;
        client.init().await?;
        let mut store = Self {
            client,
            prefix: prefix.to_owned(),
            scripts: Scripts {
                get: Script::new(GET),
                add: Script::new(ADD),
                set: Script::new(SET),
                remove: Script::new(REMOVE),
                merge: Script::new(MERGE),
                subtract_ordered: Script::new(SUBTRACT_ORDERED),
            },
        };
        store.load_scripts().await?;
        Ok(store)
    }

    async fn load_scripts(&mut self) -> Result<(), StoreError> {
        for script in [
            &mut self.scripts.get,
            &mut self.scripts.add,
            &mut self.scripts.set,
            &mut self.scripts.remove,
            &mut self.scripts.merge,
            &mut self.scripts.subtract_ordered,
        ] {
            script.sha = self.client.script_load(script.source.clone()).await?;
        }
        Ok(())
    }

    /// Closes the connection after in-flight commands have been answered.
    pub async fn close(&self) {
        if let Err(error) = self.client.quit().await {
            tracing::warn!(%error, "closing the Redis connection");
        }
    }

    fn key(&self, cart: &CartRef) -> String {
        match cart {
            CartRef::Guest(id) => format!("{}cart:g:{}", self.prefix, id.as_str()),
            CartRef::User(user) => format!("{}cart:u:{}", self.prefix, user.as_str()),
        }
    }

    fn idempotency_key(&self, cart: &CartRef, key: &IdempotencyKey) -> String {
        format!("{}:idem:{}", self.key(cart), key.as_str())
    }

    /// EVALSHA, loading the script again if Redis has forgotten it.
    async fn run(
        &self,
        script: &Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> Result<Snapshot, StoreError> {
        let reply: Result<Vec<Value>, _> = self
            .client
            .evalsha(script.sha.clone(), keys.clone(), args.clone())
            .await;
        let reply = match reply {
            Err(error) if error.details().starts_with("NOSCRIPT") => {
                tracing::info!("Redis lost the cart scripts; loading them again");
                let _: String = self.client.script_load(script.source.clone()).await?;
                self.client.evalsha(script.sha.clone(), keys, args).await?
            }
            other => other?,
        };
        Snapshot::parse(reply)
    }

    pub async fn get(&self, cart: &CartRef) -> Result<StoredCart, StoreError> {
        let snapshot = self
            .run(&self.scripts.get, vec![self.key(cart)], Vec::new())
            .await?;
        Ok(snapshot.cart)
    }

    /// Adds `units` of `sku`, unless the cart is full or the line would exceed the limit.
    /// With a key, the first call is recorded with a fingerprint of `sku` and `units`; a
    /// repeat within the idempotency TTL changes nothing (`replayed`), a different request
    /// under the same key is refused.
    pub async fn add(
        &self,
        cart: &CartRef,
        sku: &str,
        units: u32,
        key: Option<&IdempotencyKey>,
        rules: &WriteRules,
    ) -> Result<Added, StoreError> {
        let mut keys = vec![self.key(cart)];
        if let Some(key) = key {
            keys.push(self.idempotency_key(cart, key));
        }
        let args = vec![
            sku.to_owned(),
            units.to_string(),
            rules.limits.max_quantity_per_line.to_string(),
            rules.limits.max_lines.to_string(),
            millis(rules.ttl),
            rules.now_ms.to_string(),
            millis(rules.idempotency_ttl),
            format!("{sku} {units}"),
        ];
        let snapshot = self.run(&self.scripts.add, keys, args).await?;
        match snapshot.status.as_str() {
            "OK" => Ok(Added {
                cart: snapshot.cart,
                replayed: false,
            }),
            "REPLAYED" => Ok(Added {
                cart: snapshot.cart,
                replayed: true,
            }),
            _ => Err(snapshot.refusal()),
        }
    }

    /// Sets the line of `sku` to `units` (≥ 1), adding it if the cart has room.
    pub async fn set(
        &self,
        cart: &CartRef,
        sku: &str,
        units: u32,
        rules: &WriteRules,
    ) -> Result<StoredCart, StoreError> {
        let args = vec![
            sku.to_owned(),
            units.to_string(),
            rules.limits.max_lines.to_string(),
            millis(rules.ttl),
            rules.now_ms.to_string(),
        ];
        let snapshot = self
            .run(&self.scripts.set, vec![self.key(cart)], args)
            .await?;
        match snapshot.status.as_str() {
            "OK" => Ok(snapshot.cart),
            _ => Err(snapshot.refusal()),
        }
    }

    pub async fn remove(
        &self,
        cart: &CartRef,
        sku: &str,
        rules: &WriteRules,
    ) -> Result<StoredCart, StoreError> {
        let args = vec![sku.to_owned(), millis(rules.ttl), rules.now_ms.to_string()];
        let snapshot = self
            .run(&self.scripts.remove, vec![self.key(cart)], args)
            .await?;
        Ok(snapshot.cart)
    }

    /// Deletes the cart: one `DEL`, atomic on its own. Idempotency keys are left to expire,
    /// so a late retry of an AddItem from before the clear is still not applied.
    pub async fn clear(&self, cart: &CartRef) -> Result<(), StoreError> {
        let _: i64 = self.client.del(self.key(cart)).await?;
        Ok(())
    }

    /// Removes the units an order bought (`lines`) from the cart, once per `event_id`;
    /// returns false for a repeat. The marker outlives any redelivery (7 days).
    pub async fn subtract_ordered(
        &self,
        cart: &CartRef,
        lines: &[(String, i64)],
        event_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let marker = format!("{}:ordered:{event_id}", self.key(cart));
        let mut args = vec![
            millis(Duration::from_secs(7 * 24 * 3600)),
            now_ms.to_string(),
        ];
        for (sku, units) in lines {
            args.push(sku.clone());
            args.push(units.to_string());
        }
        let snapshot = self
            .run(
                &self.scripts.subtract_ordered,
                vec![self.key(cart), marker],
                args,
            )
            .await?;
        Ok(snapshot.status == "OK")
    }

    /// Moves the guest cart's lines into the user cart (see the MERGE script for the
    /// rules), with the user cart's rules; `rules.ttl` must be the user TTL.
    pub async fn merge(
        &self,
        guest: &CartRef,
        user: &CartRef,
        rules: &WriteRules,
    ) -> Result<Merged, StoreError> {
        let args = vec![
            rules.limits.max_quantity_per_line.to_string(),
            rules.limits.max_lines.to_string(),
            millis(rules.ttl),
            rules.now_ms.to_string(),
        ];
        let snapshot = self
            .run(
                &self.scripts.merge,
                vec![self.key(guest), self.key(user)],
                args,
            )
            .await?;
        Ok(Merged {
            cart: snapshot.cart,
            dropped_lines: snapshot.detail,
        })
    }
}

impl Script {
    fn new(body: &str) -> Self {
        Self {
            source: format!("{PRELUDE}\n{body}"),
            sha: String::new(),
        }
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().max(1).to_string()
}

/// Redis hands integers back as integers or as bulk strings, depending on where they came
/// from (`PTTL` or a hash field).
fn integer(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_string().and_then(|text| text.parse().ok()))
}

/// A script's reply: `{status, detail, pttl, hash fields...}`.
#[derive(Debug)]
struct Snapshot {
    status: String,
    detail: i64,
    cart: StoredCart,
}

impl Snapshot {
    fn parse(reply: Vec<Value>) -> Result<Self, StoreError> {
        let malformed = |what: &str| StoreError::Malformed(what.to_owned());
        let mut values = reply.into_iter();
        let status = values
            .next()
            .and_then(|value| value.as_string())
            .ok_or_else(|| malformed("missing status"))?;
        let detail = values
            .next()
            .as_ref()
            .and_then(integer)
            .ok_or_else(|| malformed("missing detail"))?;
        let pttl = values
            .next()
            .as_ref()
            .and_then(integer)
            .ok_or_else(|| malformed("missing pttl"))?;
        let mut lines: Vec<(i64, Line)> = Vec::new();
        let mut order = std::collections::HashMap::new();
        let mut updated_at_ms = None;
        while let Some(field) = values.next() {
            let field = field
                .as_string()
                .ok_or_else(|| malformed("non-string field"))?;
            let value = values
                .next()
                .as_ref()
                .and_then(integer)
                .ok_or_else(|| malformed(&format!("non-integer value of {field}")))?;
            if let Some(sku) = field.strip_prefix("q:") {
                lines.push((
                    0,
                    Line {
                        sku: sku.to_owned(),
                        quantity: value,
                    },
                ));
            } else if let Some(sku) = field.strip_prefix("o:") {
                order.insert(sku.to_owned(), value);
            } else if field == "updated_at" {
                updated_at_ms = Some(value);
            }
        }
        for (seq, line) in &mut lines {
            *seq = order.get(&line.sku).copied().unwrap_or(0);
        }
        lines.sort_by(|(a_seq, a), (b_seq, b)| a_seq.cmp(b_seq).then_with(|| a.sku.cmp(&b.sku)));
        let stored = !lines.is_empty() && pttl != -2;
        Ok(Self {
            status,
            detail,
            cart: StoredCart {
                lines: lines.into_iter().map(|(_, line)| line).collect(),
                updated_at_ms: updated_at_ms.filter(|_| stored),
                ttl_ms: Some(pttl).filter(|ttl| stored && *ttl >= 0),
            },
        })
    }

    /// The error a script's non-OK status stands for.
    fn refusal(&self) -> StoreError {
        match self.status.as_str() {
            "TOO_MANY_LINES" => StoreError::TooManyLines { max: self.detail },
            "LINE_LIMIT" => StoreError::LineLimit {
                current: self.detail,
            },
            "KEY_REUSED" => StoreError::IdempotencyKeyReused,
            other => StoreError::Malformed(format!("unknown status {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_redis_over_tls_is_one_url_away() {
        // Azure Cache for Redis and most managed offers only speak TLS (port 6380).
        let config = Config::from_url("rediss://:secret@shop.redis.cache.windows.net:6380/0")
            .expect("a rediss:// URL is accepted");
        assert!(config.tls.is_some(), "rediss:// turns TLS on");
        let plain = Config::from_url("redis://127.0.0.1:6379").expect("plain URL");
        assert!(plain.tls.is_none());
    }

    fn text(s: &str) -> Value {
        Value::String(s.into())
    }

    #[test]
    fn snapshots_list_lines_in_first_added_order() {
        let reply = vec![
            text("OK"),
            Value::Integer(3),
            Value::Integer(5_000),
            text("seq"),
            text("3"),
            text("q:B"),
            text("1"),
            text("o:B"),
            text("3"),
            text("q:A"),
            text("2"),
            text("o:A"),
            text("1"),
            text("updated_at"),
            text("1700000000000"),
        ];
        let snapshot = Snapshot::parse(reply).unwrap();
        assert_eq!(snapshot.status, "OK");
        assert_eq!(snapshot.detail, 3);
        let skus: Vec<_> = snapshot
            .cart
            .lines
            .iter()
            .map(|l| (l.sku.as_str(), l.quantity))
            .collect();
        assert_eq!(skus, [("A", 2), ("B", 1)]);
        assert_eq!(snapshot.cart.updated_at_ms, Some(1_700_000_000_000));
        assert_eq!(snapshot.cart.ttl_ms, Some(5_000));
    }

    #[test]
    fn a_missing_cart_is_empty_and_garbage_is_refused() {
        let missing = Snapshot::parse(vec![text("OK"), Value::Integer(0), Value::Integer(-2)])
            .unwrap()
            .cart;
        assert_eq!(missing, StoredCart::default());
        assert!(Snapshot::parse(vec![text("OK")]).is_err());
        assert!(
            Snapshot::parse(vec![
                text("OK"),
                Value::Integer(0),
                Value::Integer(1),
                text("q:A"),
                text("many"),
            ])
            .is_err()
        );
    }
}
