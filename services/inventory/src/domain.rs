//! Inventory values that can only hold valid data (a `Sku` is normalised, a `Quantity` is
//! positive, a set of `ReservationLines` names each SKU once) and the reservation state
//! machine as plain functions. Parsing happens once, at the edge; the reservation engine
//! and the store never re-check.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shop_kit::{FieldViolations, ServiceError};
use shop_proto::shop::inventory::v1 as pb;

/// The most units one request may name: far beyond any real stock, small enough that sums
/// of many of them cannot overflow an `i64`.
pub const MAX_UNITS: i64 = 1_000_000_000;
pub const ORDER_ID_MAX_LEN: usize = 64;
pub const REASON_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// The stock-keeping unit, parsed by the one rule Product, Cart and Order share (trimmed,
/// upper-cased, 2 to 64 characters of `A-Z 0-9 - _ .`, starting with a letter or digit).
pub use shop_kit::Sku;

/// Units to hold or sell: positive and at most [`MAX_UNITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity(i64);

impl Quantity {
    pub fn parse(raw: i64) -> Result<Self, Invalid> {
        if raw <= 0 {
            Err(Invalid("must be positive"))
        } else if raw > MAX_UNITS {
            Err(Invalid("must be at most 1000000000"))
        } else {
            Ok(Quantity(raw))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A physical count for SetStock: zero or more, at most [`MAX_UNITS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockCount(i64);

impl StockCount {
    pub fn parse(raw: i64) -> Result<Self, Invalid> {
        if raw < 0 {
            Err(Invalid("must not be negative"))
        } else if raw > MAX_UNITS {
            Err(Invalid("must be at most 1000000000"))
        } else {
            Ok(StockCount(raw))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// A change to a physical count for AdjustStock: non-zero, at most [`MAX_UNITS`] either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockDelta(i64);

impl StockDelta {
    pub fn parse(raw: i64) -> Result<Self, Invalid> {
        if raw == 0 {
            Err(Invalid("must not be zero"))
        } else if raw.unsigned_abs() > MAX_UNITS.unsigned_abs() {
            Err(Invalid("must be between -1000000000 and 1000000000"))
        } else {
            Ok(StockDelta(raw))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

/// The order a reservation belongs to. Order ids are UUIDs, but admin tools and tests may
/// use readable ones, so any short token of `A-Z a-z 0-9 . _ : -` is accepted as is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OrderId(String);

impl OrderId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let id = raw.trim();
        if id.is_empty() {
            return Err(Invalid("is required"));
        }
        if id.len() > ORDER_ID_MAX_LEN
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._:-".contains(c))
        {
            return Err(Invalid(
                "must be at most 64 characters of A-Z, a-z, 0-9, '.', '_', ':' or '-'",
            ));
        }
        Ok(OrderId(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client-chosen key that makes a relative change safe to retry (the rule every service
/// shares: printable ASCII without spaces, at most 128 characters).
pub use shop_kit::IdempotencyKey;

/// An admin's explanation for the ledger: trimmed, at most 200 characters, no control
/// characters. Empty is allowed where the caller does not require one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reason(String);

impl Reason {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let reason = raw.trim();
        if reason.chars().count() > REASON_MAX_CHARS {
            return Err(Invalid("must be at most 200 characters"));
        }
        if reason.chars().any(char::is_control) {
            return Err(Invalid("must not contain control characters"));
        }
        Ok(Reason(reason.to_owned()))
    }

    /// Like [`Reason::parse`], but an empty reason is refused.
    pub fn parse_required(raw: &str) -> Result<Self, Invalid> {
        let reason = Self::parse(raw)?;
        if reason.0.is_empty() {
            Err(Invalid("is required"))
        } else {
            Ok(reason)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub sku: Sku,
    pub quantity: Quantity,
}

/// The lines of one reservation: at least one, at most a configured number, each SKU once
/// (so "all or nothing" has one meaning per SKU), kept in the order they were requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReservationLines(Vec<Line>);

impl ReservationLines {
    /// Records every problem under `lines`, `lines[i].sku` or `lines[i].quantity`, so a
    /// caller learns all of them at once; `None` means "see the violations".
    pub fn parse<'a>(
        raw: impl IntoIterator<Item = (&'a str, i64)>,
        max_lines: usize,
        violations: &mut FieldViolations,
    ) -> Option<Self> {
        let raw: Vec<(&str, i64)> = raw.into_iter().collect();
        if raw.is_empty() {
            violations.add("lines", "at least one line is required");
            return None;
        }
        if raw.len() > max_lines {
            violations.add("lines", format!("at most {max_lines} lines are allowed"));
            return None;
        }
        let mut lines = Vec::with_capacity(raw.len());
        let mut first_index: HashMap<Sku, usize> = HashMap::new();
        let mut ok = true;
        for (index, (sku, quantity)) in raw.into_iter().enumerate() {
            let sku = violations.check(&format!("lines[{index}].sku"), Sku::parse(sku));
            let quantity = violations.check(
                &format!("lines[{index}].quantity"),
                Quantity::parse(quantity),
            );
            if let Some(sku) = &sku {
                if let Some(first) = first_index.get(sku) {
                    violations.add(
                        format!("lines[{index}].sku"),
                        format!("repeats the SKU of lines[{first}]; name each SKU once"),
                    );
                    ok = false;
                } else {
                    first_index.insert(sku.clone(), index);
                }
            }
            match (sku, quantity) {
                (Some(sku), Some(quantity)) => lines.push(Line { sku, quantity }),
                _ => ok = false,
            }
        }
        ok.then_some(ReservationLines(lines))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Line> {
        self.0.iter()
    }

    /// The lines in SKU order: the order stock is taken in, so two orders contending for
    /// the same SKUs meet on the first shared one instead of each grabbing a different one.
    pub fn in_sku_order(&self) -> Vec<&Line> {
        let mut lines: Vec<&Line> = self.0.iter().collect();
        lines.sort_by(|a, b| a.sku.cmp(&b.sku));
        lines
    }
}

/// How long a reservation holds its stock: the server default for an absent or zero TTL,
/// otherwise the requested one, which must be positive and within `max` (refused rather
/// than silently shortened, so a misconfigured caller finds out at once).
pub fn reservation_ttl(
    requested: Option<(i64, i32)>,
    default: Duration,
    max: Duration,
) -> Result<Duration, Invalid> {
    let (seconds, nanos) = requested.unwrap_or((0, 0));
    if seconds == 0 && nanos == 0 {
        return Ok(default);
    }
    if seconds < 0 || !(0..1_000_000_000).contains(&nanos) {
        return Err(Invalid("must be a positive duration"));
    }
    let ttl = Duration::new(seconds.unsigned_abs(), nanos.unsigned_abs());
    if ttl > max {
        return Err(Invalid("exceeds the server's maximum reservation TTL"));
    }
    // Stored with millisecond precision; never round a positive TTL down to nothing.
    Ok(ttl.max(Duration::from_millis(1)))
}

/// Where a reservation is in its life. `Pending` and `Abandoned` are internal: a Reserve is
/// in flight, or was interrupted and is being rolled back. Callers only ever see the other
/// four (see the proto's `ReservationStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    Pending,
    Reserved,
    Rejected,
    Committed,
    Released,
    Abandoned,
}

impl ReservationStatus {
    /// The stored form (equal to the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Reserved => "RESERVED",
            Self::Rejected => "REJECTED",
            Self::Committed => "COMMITTED",
            Self::Released => "RELEASED",
            Self::Abandoned => "ABANDONED",
        }
    }

    /// No further transition: the stock movement it implies is (or is being) applied.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Rejected | Self::Committed | Self::Released)
    }

    /// A Reserve owns the reservation right now; others wait for its outcome.
    pub fn is_in_flight(self) -> bool {
        matches!(self, Self::Pending | Self::Abandoned)
    }

    /// What leaving this state does to the stock each line holds.
    pub fn settlement(self) -> Settlement {
        match self {
            Self::Committed => Settlement::Sell,
            Self::Rejected | Self::Released | Self::Abandoned => Settlement::ReturnToAvailable,
            Self::Pending | Self::Reserved => Settlement::KeepHeld,
        }
    }
}

/// The stock movement a status implies for units still held by the reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Still live: nothing to do.
    KeepHeld,
    /// Sold: on_hand and reserved both drop.
    Sell,
    /// Given back: reserved drops, available rises.
    ReturnToAvailable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReleaseReason {
    OrderCancelled,
    Expired,
    Admin,
}

impl ReleaseReason {
    /// The stored form (equal to the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCancelled => "ORDER_CANCELLED",
            Self::Expired => "EXPIRED",
            Self::Admin => "ADMIN",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectionCode {
    OutOfStock,
    UnknownSku,
}

/// What Commit does, given the reservation's current status (`None`: no reservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitStep {
    /// RESERVED: move it to COMMITTED and sell the held units.
    Commit,
    /// Already COMMITTED: a no-op (retries and redeliveries land here).
    AlreadyDone,
    /// A Reserve is still deciding: wait for its outcome.
    Wait,
    /// REJECTED or RELEASED: there is nothing to sell.
    NotActive,
    NotFound,
}

pub fn commit_step(status: Option<ReservationStatus>) -> CommitStep {
    use ReservationStatus::*;
    match status {
        None => CommitStep::NotFound,
        Some(Reserved) => CommitStep::Commit,
        Some(Committed) => CommitStep::AlreadyDone,
        Some(Pending | Abandoned) => CommitStep::Wait,
        Some(Rejected | Released) => CommitStep::NotActive,
    }
}

/// What Release does, given the reservation's current status (`None`: no reservation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseStep {
    /// RESERVED: move it to RELEASED and return the held units.
    Release,
    /// No reservation yet: record a RELEASED tombstone, so a late Reserve holds nothing.
    Tombstone,
    /// RELEASED or REJECTED: nothing is held; a no-op.
    AlreadyDone,
    Wait,
    /// COMMITTED: the goods are sold (returns go through AdjustStock).
    Committed,
}

pub fn release_step(status: Option<ReservationStatus>) -> ReleaseStep {
    use ReservationStatus::*;
    match status {
        None => ReleaseStep::Tombstone,
        Some(Reserved) => ReleaseStep::Release,
        Some(Released | Rejected) => ReleaseStep::AlreadyDone,
        Some(Pending | Abandoned) => ReleaseStep::Wait,
        Some(Committed) => ReleaseStep::Committed,
    }
}

/// A SetStock request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStock {
    pub sku: Sku,
    pub on_hand: StockCount,
    pub reason: Reason,
}

impl SetStock {
    pub fn parse(request: &pb::SetStockRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let sku = violations.check("sku", Sku::parse(&request.sku));
        let on_hand = violations.check("on_hand", StockCount::parse(request.on_hand));
        let reason = violations.check("reason", Reason::parse(&request.reason));
        violations.finish(|| {
            Some(SetStock {
                sku: sku?,
                on_hand: on_hand?,
                reason: reason?,
            })
        })
    }
}

/// An AdjustStock request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustStock {
    pub sku: Sku,
    pub delta: StockDelta,
    pub reason: Reason,
    pub key: IdempotencyKey,
}

impl AdjustStock {
    pub fn parse(request: &pb::AdjustStockRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let sku = violations.check("sku", Sku::parse(&request.sku));
        let delta = violations.check("delta", StockDelta::parse(request.delta));
        let reason = violations.check("reason", Reason::parse_required(&request.reason));
        let key = violations.check(
            "idempotency_key",
            IdempotencyKey::parse(&request.idempotency_key),
        );
        violations.finish(|| {
            Some(AdjustStock {
                sku: sku?,
                delta: delta?,
                reason: reason?,
                key: key?,
            })
        })
    }
}

/// The reservation limits a Reserve request is checked against.
#[derive(Debug, Clone, Copy)]
pub struct ReserveLimits {
    pub max_lines: usize,
    pub default_ttl: Duration,
    pub max_ttl: Duration,
}

/// A Reserve request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserve {
    pub order_id: OrderId,
    pub lines: ReservationLines,
    pub ttl: Duration,
}

impl Reserve {
    pub fn parse(
        request: &pb::ReserveRequest,
        limits: ReserveLimits,
    ) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let order_id = violations.check("order_id", OrderId::parse(&request.order_id));
        let lines = ReservationLines::parse(
            request
                .lines
                .iter()
                .map(|line| (line.sku.as_str(), line.quantity)),
            limits.max_lines,
            &mut violations,
        );
        let ttl = violations.check(
            "ttl",
            reservation_ttl(
                request.ttl.map(|ttl| (ttl.seconds, ttl.nanos)),
                limits.default_ttl,
                limits.max_ttl,
            ),
        );
        violations.finish(|| {
            Some(Reserve {
                order_id: order_id?,
                lines: lines?,
                ttl: ttl?,
            })
        })
    }
}

/// A Release request that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub order_id: OrderId,
    pub reason: ReleaseReason,
}

impl Release {
    pub fn parse(request: &pb::ReleaseRequest) -> Result<Self, ServiceError> {
        let mut violations = FieldViolations::new();
        let order_id = violations.check("order_id", OrderId::parse(&request.order_id));
        let reason = violations.check("reason", ReleaseReason::from_proto(request.reason));
        violations.finish(|| {
            Some(Release {
                order_id: order_id?,
                reason: reason?,
            })
        })
    }
}

impl ReleaseReason {
    /// What a caller may ask for: EXPIRED is the sweeper's alone.
    fn from_proto(raw: i32) -> Result<Self, Invalid> {
        match pb::ReleaseReason::try_from(raw) {
            Ok(pb::ReleaseReason::OrderCancelled) => Ok(ReleaseReason::OrderCancelled),
            Ok(pb::ReleaseReason::Admin) => Ok(ReleaseReason::Admin),
            Ok(pb::ReleaseReason::Expired) => {
                Err(Invalid("EXPIRED is set only by the expiry sweeper"))
            }
            _ => Err(Invalid("must be ORDER_CANCELLED or ADMIN")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_counts_have_bounds() {
        assert!(Quantity::parse(0).is_err());
        assert!(Quantity::parse(-1).is_err());
        assert!(Quantity::parse(MAX_UNITS + 1).is_err());
        assert_eq!(Quantity::parse(3).unwrap().get(), 3);
        assert!(StockCount::parse(-1).is_err());
        assert_eq!(StockCount::parse(0).unwrap().get(), 0);
        assert!(StockDelta::parse(0).is_err());
        assert!(StockDelta::parse(i64::MIN).is_err());
        assert_eq!(StockDelta::parse(-MAX_UNITS).unwrap().get(), -MAX_UNITS);
    }

    #[test]
    fn ids_keys_and_reasons() {
        assert_eq!(OrderId::parse(" ord-1 ").unwrap().as_str(), "ord-1");
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("a b").is_err());
        assert!(OrderId::parse(&"o".repeat(65)).is_err());
        assert!(IdempotencyKey::parse("  ").is_err());
        assert!(IdempotencyKey::parse("has space").is_err());
        assert_eq!(IdempotencyKey::parse(" k-1 ").unwrap().as_str(), "k-1");
        assert_eq!(Reason::parse("  ").unwrap().as_str(), "");
        assert!(Reason::parse_required("  ").is_err());
        assert!(Reason::parse("a\nb").is_err());
        assert!(Reason::parse(&"r".repeat(201)).is_err());
    }

    #[test]
    fn reservation_lines_report_every_problem() {
        let mut violations = FieldViolations::new();
        let lines = ReservationLines::parse(
            [("a-1", 1), ("bad sku", 1), ("A-1", 2), ("b-1", 0)],
            10,
            &mut violations,
        );
        assert!(lines.is_none());
        let fields: Vec<_> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(
            fields,
            ["lines[1].sku", "lines[2].sku", "lines[3].quantity"]
        );

        let mut violations = FieldViolations::new();
        assert!(ReservationLines::parse([], 10, &mut violations).is_none());
        assert_eq!(violations.iter().next().unwrap().field, "lines");

        let mut violations = FieldViolations::new();
        let lines = ReservationLines::parse([("zz", 1), ("aa", 2)], 10, &mut violations)
            .expect("valid lines");
        assert!(violations.is_empty());
        let skus: Vec<_> = lines
            .in_sku_order()
            .iter()
            .map(|l| l.sku.as_str())
            .collect();
        assert_eq!(skus, ["AA", "ZZ"]);
        let requested: Vec<_> = lines.iter().map(|l| l.sku.as_str()).collect();
        assert_eq!(requested, ["ZZ", "AA"]);

        let mut violations = FieldViolations::new();
        assert!(ReservationLines::parse([("aa", 1), ("bb", 1)], 1, &mut violations).is_none());
    }

    #[test]
    fn ttls_default_and_are_bounded() {
        let default = Duration::from_secs(900);
        let max = Duration::from_secs(3600);
        assert_eq!(reservation_ttl(None, default, max).unwrap(), default);
        assert_eq!(
            reservation_ttl(Some((0, 0)), default, max).unwrap(),
            default
        );
        assert_eq!(
            reservation_ttl(Some((60, 0)), default, max).unwrap(),
            Duration::from_secs(60)
        );
        assert_eq!(
            reservation_ttl(Some((0, 1)), default, max).unwrap(),
            Duration::from_millis(1)
        );
        assert!(reservation_ttl(Some((-1, 0)), default, max).is_err());
        assert!(reservation_ttl(Some((3601, 0)), default, max).is_err());
    }

    #[test]
    fn the_state_machine() {
        use ReservationStatus::*;
        assert_eq!(commit_step(Some(Reserved)), CommitStep::Commit);
        assert_eq!(commit_step(Some(Committed)), CommitStep::AlreadyDone);
        assert_eq!(commit_step(Some(Pending)), CommitStep::Wait);
        assert_eq!(commit_step(Some(Released)), CommitStep::NotActive);
        assert_eq!(commit_step(Some(Rejected)), CommitStep::NotActive);
        assert_eq!(commit_step(None), CommitStep::NotFound);

        assert_eq!(release_step(Some(Reserved)), ReleaseStep::Release);
        assert_eq!(release_step(None), ReleaseStep::Tombstone);
        assert_eq!(release_step(Some(Rejected)), ReleaseStep::AlreadyDone);
        assert_eq!(release_step(Some(Released)), ReleaseStep::AlreadyDone);
        assert_eq!(release_step(Some(Abandoned)), ReleaseStep::Wait);
        assert_eq!(release_step(Some(Committed)), ReleaseStep::Committed);

        assert_eq!(Committed.settlement(), Settlement::Sell);
        assert_eq!(Released.settlement(), Settlement::ReturnToAvailable);
        assert_eq!(Abandoned.settlement(), Settlement::ReturnToAvailable);
        assert_eq!(Reserved.settlement(), Settlement::KeepHeld);
        assert!(Rejected.is_final() && !Reserved.is_final() && Pending.is_in_flight());
    }

    #[test]
    fn stored_names_match_serde() {
        use ReservationStatus::*;
        for status in [Pending, Reserved, Rejected, Committed, Released, Abandoned] {
            let stored = mongodb::bson::to_bson(&status).unwrap();
            assert_eq!(stored.as_str(), Some(status.as_str()));
        }
        for reason in [
            ReleaseReason::OrderCancelled,
            ReleaseReason::Expired,
            ReleaseReason::Admin,
        ] {
            let stored = mongodb::bson::to_bson(&reason).unwrap();
            assert_eq!(stored.as_str(), Some(reason.as_str()));
        }
    }

    fn violated(error: ServiceError) -> Vec<String> {
        let ServiceError::InvalidArgument(violations) = error else {
            panic!("{error:?} is not INVALID_ARGUMENT")
        };
        violations.iter().map(|v| v.field.clone()).collect()
    }

    #[test]
    fn requests_are_parsed_into_commands_with_every_violation() {
        let limits = ReserveLimits {
            max_lines: 2,
            default_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(600),
        };
        let reserve = Reserve::parse(
            &pb::ReserveRequest {
                order_id: " order-1 ".into(),
                lines: vec![pb::ReservationLine {
                    sku: "sku-a".into(),
                    quantity: 2,
                }],
                ttl: None,
            },
            limits,
        )
        .unwrap();
        assert_eq!(reserve.order_id.as_str(), "order-1");
        assert_eq!(reserve.ttl, Duration::from_secs(60));
        let bad = Reserve::parse(
            &pb::ReserveRequest {
                order_id: "has space".into(),
                lines: vec![],
                ttl: None,
            },
            limits,
        );
        assert_eq!(violated(bad.unwrap_err()), ["order_id", "lines"]);

        let adjust = AdjustStock::parse(&pb::AdjustStockRequest::default());
        assert_eq!(
            violated(adjust.unwrap_err()),
            ["sku", "delta", "reason", "idempotency_key"]
        );
        let release = Release::parse(&pb::ReleaseRequest {
            order_id: "order-1".into(),
            reason: pb::ReleaseReason::Expired as i32,
        });
        assert_eq!(violated(release.unwrap_err()), ["reason"]);
    }
}
