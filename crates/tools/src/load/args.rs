//! `--name value` / `--name=value` options and `--switch`es, checked against what a
//! subcommand accepts, so a misspelt option is an error instead of a silently default run.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context as _;

pub struct Args {
    values: HashMap<String, Vec<String>>,
    switches: Vec<String>,
}

impl Args {
    /// Parses `raw` allowing the options in `valued` (which take a value) and `switches`.
    pub fn parse(raw: &[String], valued: &[&str], switches: &[&str]) -> anyhow::Result<Self> {
        let mut args = Args {
            values: HashMap::new(),
            switches: Vec::new(),
        };
        let mut rest = raw.iter();
        while let Some(arg) = rest.next() {
            let name = arg.strip_prefix("--").with_context(|| {
                format!("BAD_ARGUMENT: unexpected {arg:?} (options are --name value)")
            })?;
            let (name, inline) = match name.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (name, None),
            };
            if switches.contains(&name) && inline.is_none() {
                args.switches.push(name.to_owned());
            } else if valued.contains(&name) {
                let value = match inline {
                    Some(value) => value,
                    None => rest
                        .next()
                        .cloned()
                        .with_context(|| format!("BAD_ARGUMENT: --{name} needs a value"))?,
                };
                args.values.entry(name.to_owned()).or_default().push(value);
            } else {
                let mut known: Vec<String> = valued.iter().map(|n| format!("--{n} V")).collect();
                known.extend(switches.iter().map(|n| format!("--{n}")));
                anyhow::bail!(
                    "BAD_ARGUMENT: unknown option --{name}; this command takes {}",
                    known.join(", ")
                );
            }
        }
        Ok(args)
    }

    pub fn switch(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }

    /// The last value given for `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|values| values.last())
            .map(String::as_str)
    }

    /// Every value given for a repeatable option.
    pub fn values(&self, name: &str) -> &[String] {
        self.values.get(name).map_or(&[], Vec::as_slice)
    }

    /// `name` parsed, or `default` when absent.
    pub fn get<T: FromStr>(&self, name: &str, default: T) -> anyhow::Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.value(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse()
                .map_err(|e| anyhow::anyhow!("BAD_ARGUMENT: --{name} {raw:?}: {e}")),
        }
    }

    /// A positive number of seconds (fractions allowed).
    pub fn seconds(&self, name: &str, default: f64) -> anyhow::Result<Duration> {
        let seconds: f64 = self.get(name, default)?;
        anyhow::ensure!(
            seconds.is_finite() && seconds > 0.0 && seconds <= 3600.0,
            "BAD_ARGUMENT: --{name} must be between 0 and 3600 seconds"
        );
        Ok(Duration::from_secs_f64(seconds))
    }

    /// A comma-separated list, e.g. `--rates 20,50,100`.
    pub fn list<T>(&self, name: &str, default: &[T]) -> anyhow::Result<Vec<T>>
    where
        T: FromStr + Clone,
        T::Err: std::fmt::Display,
    {
        match self.value(name) {
            None => Ok(default.to_vec()),
            Some(raw) => raw
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| {
                    item.parse()
                        .map_err(|e| anyhow::anyhow!("BAD_ARGUMENT: --{name} item {item:?}: {e}"))
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(raw: &[&str]) -> Vec<String> {
        raw.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn options_switches_and_lists() -> anyhow::Result<()> {
        let args = Args::parse(
            &strings(&[
                "--rate=50",
                "--target",
                "bff=http://127.0.0.1:8080/graphql",
                "--target",
                "apollo=http://127.0.0.1:4000/graphql",
                "--allow-remote",
                "--rates",
                "20, 50,100",
            ]),
            &["rate", "target", "rates"],
            &["allow-remote"],
        )?;
        assert_eq!(args.get("rate", 0.0)?, 50.0);
        assert_eq!(args.values("target").len(), 2);
        assert!(args.switch("allow-remote"));
        assert_eq!(args.list("rates", &[1u32])?, vec![20, 50, 100]);
        assert_eq!(args.get("missing", 7u32)?, 7);
        Ok(())
    }

    #[test]
    fn bad_input_is_a_coded_error() {
        let bad = |raw: &[&str]| {
            Args::parse(&strings(raw), &["rate"], &[])
                .and_then(|args| args.seconds("rate", 1.0))
                .expect_err("refused")
                .to_string()
        };
        assert!(bad(&["--rte", "5"]).contains("unknown option --rte"));
        assert!(bad(&["--rate"]).contains("needs a value"));
        assert!(bad(&["--rate", "fast"]).starts_with("BAD_ARGUMENT"));
        assert!(bad(&["--rate", "-1"]).contains("between 0 and 3600"));
        assert!(bad(&["stray"]).starts_with("BAD_ARGUMENT"));
    }
}
