//! The load generator behind `shop-load` (issue #9): the engine ([`driver`]), the read
//! scenarios that put the BFF beside raw gRPC and a peer GraphQL server ([`reads`]),
//! checkout through the public GraphQL API ([`checkout`]), each process's exec→ready time
//! ([`startup`]) and the catalog page as the catalog grows ([`growth`]).
//!
//! Everything here refuses a target that is not on loopback unless the caller passes
//! `--allow-remote`: a load test pointed at someone else's server by a typo is an attack.

pub mod args;
pub mod checkout;
pub mod driver;
pub mod graphql;
pub mod growth;
pub mod reads;
pub mod startup;

use std::net::IpAddr;

use anyhow::Context as _;

/// Refuses `url` unless its host is a loopback address or `localhost` (or `allow_remote`).
pub fn ensure_loopback(url: &str, allow_remote: bool) -> anyhow::Result<()> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("not a URL: {url}"))?;
    let host = parsed
        .host_str()
        .with_context(|| format!("no host in {url}"))?;
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = bare.eq_ignore_ascii_case("localhost")
        || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    anyhow::ensure!(
        loopback || allow_remote,
        "LOAD_TARGET_NOT_LOOPBACK: {url} is not on this machine; shop-load only loads \
         127.0.0.0/8, ::1 or localhost unless --allow-remote is given"
    );
    Ok(())
}

/// Which MongoDB served the run, as every table names it: `SHOP_BENCH_BACKEND` when the
/// bench script set it, else what `just up` runs.
pub fn backend() -> String {
    shop_tools::env_or(
        "SHOP_BENCH_BACKEND",
        "SecantusDB Python stand-in (not the Rust secantus-mdb)",
    )
}

/// Writes `value` as pretty JSON to `path` when one was given.
pub fn write_json(path: Option<&str>, value: &impl serde::Serialize) -> anyhow::Result<()> {
    if let Some(path) = path {
        let json = serde_json::to_string_pretty(value)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {path}"))?;
    }
    Ok(())
}

/// The "Errors seen" lines under a table: one per labelled run that had errors, with its
/// distinct messages; empty when no run had any.
pub fn errors_seen<'a>(runs: impl IntoIterator<Item = (String, &'a driver::Outcome)>) -> String {
    let lines: Vec<String> = runs
        .into_iter()
        .filter(|(_, outcome)| !outcome.error_samples.is_empty())
        .map(|(label, outcome)| format!("- {label}: {}", outcome.error_samples.join(" · ")))
        .collect();
    if lines.is_empty() {
        return String::new();
    }
    format!("\nErrors seen:\n{}\n", lines.join("\n"))
}

/// `a / b`, or NaN when there is no reference (printed as "n/a").
pub fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 { a / b } else { f64::NAN }
}

/// A ratio for a table cell, to three significant digits (a checkout rate over MariaDB's
/// commit rate is ~0.0002, which three decimals would print as 0.000).
pub fn show_ratio(value: f64) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    if value == 0.0 || value.abs() >= 1.0 {
        return format!("{value:.3}");
    }
    let decimals = (2 - value.abs().log10().floor() as i32).max(3) as usize;
    format!("{value:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_keep_three_significant_digits() {
        assert_eq!(show_ratio(0.000_170_4), "0.000170");
        assert_eq!(show_ratio(0.025), "0.0250");
        assert_eq!(show_ratio(0.902), "0.902");
        assert_eq!(show_ratio(5.5), "5.500");
        assert_eq!(show_ratio(f64::NAN), "n/a");
    }

    #[test]
    fn only_loopback_targets_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/graphql",
            "http://127.1.2.3:50052",
            "http://localhost:4000/",
            "http://[::1]:8080/graphql",
        ] {
            assert!(ensure_loopback(url, false).is_ok(), "{url}");
        }
        for url in [
            "http://10.0.0.1:8080/graphql",
            "https://shop.example.com/graphql",
        ] {
            let error = ensure_loopback(url, false).expect_err(url).to_string();
            assert!(error.starts_with("LOAD_TARGET_NOT_LOOPBACK"), "{error}");
            assert!(ensure_loopback(url, true).is_ok());
        }
        assert!(ensure_loopback("not a url", true).is_err());
    }
}
