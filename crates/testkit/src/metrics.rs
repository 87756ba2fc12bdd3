//! Reading a service's counters from its admin `/metrics`, as Prometheus would: the one
//! parser behind every test that asserts a count (calls served, commands sent, deliveries).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;

/// One scrape of a service's `/metrics`: every sample, by its name and labels.
#[derive(Clone, Debug, Default)]
pub struct Scrape {
    /// `name{labels}` (exactly as exposed) → value.
    samples: BTreeMap<String, f64>,
}

impl Scrape {
    /// Scrapes the admin port at `admin_addr` (a [`crate::RunningService::admin_addr`]).
    pub async fn of(admin_addr: SocketAddr) -> anyhow::Result<Self> {
        let (status, text) = crate::http_get(admin_addr, "/metrics").await?;
        anyhow::ensure!(status == 200, "/metrics of {admin_addr} answered {status}");
        Self::parse(&text).with_context(|| format!("/metrics of {admin_addr}"))
    }

    /// The Prometheus text format (0.0.4): comments skipped, `series value` per line.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let value = value
                .parse::<f64>()
                .with_context(|| format!("sample value in {line:?}"))?;
            samples.insert(series.to_owned(), value);
        }
        Ok(Self { samples })
    }

    /// The sum of `name`'s samples whose labels include every `(label, value)` of
    /// `labels` (0 when none has been recorded yet, as a counter that was never touched).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.series(name)
            .filter(|(series, _)| {
                labels
                    .iter()
                    .all(|(label, value)| series.contains(&format!("{label}=\"{value}\"")))
            })
            .map(|(_, value)| value)
            .sum::<f64>() as u64
    }

    /// `name`'s samples by the value of its label `by`, summed over the other labels.
    pub fn by(&self, name: &str, by: &str) -> BTreeMap<String, u64> {
        let mut totals = BTreeMap::new();
        for (series, value) in self.series(name) {
            let key = label(series, by).unwrap_or_default();
            *totals.entry(key).or_insert(0.0) += value;
        }
        totals
            .into_iter()
            .map(|(key, value)| (key, value as u64))
            .collect()
    }

    /// What grew from `before` to `self`, per [`Scrape::by`] key; keys that did not grow
    /// are left out, so a whole map can be compared with the expected counts.
    pub fn growth(&self, before: &Scrape, name: &str, by: &str) -> BTreeMap<String, u64> {
        let earlier = before.by(name, by);
        self.by(name, by)
            .into_iter()
            .filter_map(|(key, now)| {
                let grown = now.saturating_sub(earlier.get(&key).copied().unwrap_or(0));
                (grown > 0).then_some((key, grown))
            })
            .collect()
    }

    fn series<'a>(&'a self, name: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
        let prefix = format!("{name}{{");
        self.samples
            .iter()
            .filter(move |(series, _)| series.starts_with(&prefix) || *series == name)
            .map(|(series, value)| (series.as_str(), *value))
    }
}

/// The value of label `name` in a series `metric{a="1",b="2"}` (values with a `",` inside
/// are not expected: shopmesh labels are names and codes).
fn label(series: &str, name: &str) -> Option<String> {
    let inner = series.split_once('{')?.1.strip_suffix('}')?;
    inner.split("\",").find_map(|pair| {
        let (key, value) = pair.split_once("=\"")?;
        (key == name).then(|| value.trim_end_matches('"').to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP shop_grpc_server_handled_total gRPC calls completed on the server
# TYPE shop_grpc_server_handled_total counter
shop_grpc_server_handled_total{app="inventory",grpc_code="OK",grpc_method="Reserve",grpc_service="shop.inventory.v1.InventoryService"} 2
shop_grpc_server_handled_total{app="inventory",grpc_code="NotFound",grpc_method="Reserve",grpc_service="shop.inventory.v1.InventoryService"} 1
shop_grpc_server_handled_total{app="inventory",grpc_code="OK",grpc_method="GetStock",grpc_service="shop.inventory.v1.InventoryService"} 5
shop_mongo_commands_total{app="inventory",command="find"} 7
"#;

    #[test]
    fn sums_by_labels_and_groups_by_one() {
        let scrape = Scrape::parse(TEXT).unwrap();
        let handled = "shop_grpc_server_handled_total";
        assert_eq!(scrape.sum(handled, &[("grpc_method", "Reserve")]), 3);
        assert_eq!(
            scrape.sum(handled, &[("grpc_method", "Reserve"), ("grpc_code", "OK")]),
            2
        );
        assert_eq!(scrape.sum(handled, &[]), 8);
        assert_eq!(
            scrape.sum("shop_mongo_commands_total", &[("command", "insert")]),
            0
        );
        let by_method = scrape.by(handled, "grpc_method");
        assert_eq!(by_method.get("Reserve"), Some(&3));
        assert_eq!(by_method.get("GetStock"), Some(&5));
    }

    #[test]
    fn growth_leaves_out_what_did_not_move() {
        let before = Scrape::parse(TEXT).unwrap();
        let after = Scrape::parse(&TEXT.replace("} 7", "} 9")).unwrap();
        let grown = after.growth(&before, "shop_mongo_commands_total", "command");
        assert_eq!(grown, BTreeMap::from([("find".to_owned(), 2)]));
        assert!(
            after
                .growth(&before, "shop_grpc_server_handled_total", "grpc_method")
                .is_empty()
        );
    }
}
