//! Scenario (d) of issue #9, exec→ready: how long each process takes from `exec` to its
//! readiness signal. A gRPC service is ready when its admin port's `/readyz` answers 200
//! (shop_kit sets it once the stores are connected and both ports serve, together with gRPC
//! health SERVING); the BFF when its admin `/readyz` answers 200 (every upstream accepts a
//! connection and its order feed consumes).
//!
//! Each process is measured as one more replica of a running one (`--process NAME=PID`): the
//! same binary (`/proc/PID/exe`), environment (`/proc/PID/environ`) and working directory,
//! with only its ports moved to `--port-base` and up, so it starts exactly as the stack's own
//! did, against the same databases and broker. It is started `--rounds` times, one process
//! at a time, polled every 2 ms, and stopped with SIGTERM after each round. What this does
//! not include: the very first start of a fresh database (migrations, index builds), which
//! `just bench` does once before; a restart is the common case this measures.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;

use super::args::Args;

/// Readiness poll interval: the measurement's resolution.
const POLL: Duration = Duration::from_millis(2);
/// The target for every process.
const TARGET_MS: f64 = 500.0;

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub process: String,
    pub ready_url: String,
    /// exec→ready of every round, in milliseconds.
    pub rounds_ms: Vec<f64>,
    pub median_ms: f64,
    pub max_ms: f64,
    /// RSS of the fresh replica when it turned ready (last round), in MB.
    pub rss_at_ready_mb: f64,
    pub met: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kind: &'static str,
    pub backend: String,
    pub rounds: usize,
    pub target_ms: f64,
    pub rows: Vec<Row>,
}

pub const VALUED: &[&str] = &[
    "process",
    "port-base",
    "rounds",
    "timeout",
    "log-dir",
    "json",
];
pub const SWITCHES: &[&str] = &[];

/// A running process to clone.
struct Model {
    name: String,
    exe: PathBuf,
    env: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Model {
    fn read(name: &str, pid: u32) -> anyhow::Result<Self> {
        let proc = PathBuf::from(format!("/proc/{pid}"));
        let exe = std::fs::read_link(proc.join("exe"))
            .with_context(|| format!("{name}: no process {pid} (or not ours)"))?;
        let environ = std::fs::read(proc.join("environ"))
            .with_context(|| format!("{name}: reading the environment of {pid}"))?;
        let env = environ
            .split(|&b| b == 0)
            .filter_map(|entry| {
                let entry = String::from_utf8_lossy(entry);
                let (key, value) = entry.split_once('=')?;
                Some((key.to_owned(), value.to_owned()))
            })
            .collect();
        let cwd = std::fs::read_link(proc.join("cwd"))
            .with_context(|| format!("{name}: working directory of {pid}"))?;
        Ok(Self {
            name: name.to_owned(),
            exe,
            env,
            cwd,
        })
    }

    /// The BFF serves HTTP (`SHOP_HTTP_ADDR`); every other process gRPC (`SHOP_GRPC_ADDR`).
    fn front_var(&self) -> &'static str {
        if self.name.starts_with("shop-bff") {
            "SHOP_HTTP_ADDR"
        } else {
            "SHOP_GRPC_ADDR"
        }
    }
}

/// `shop-load startup --process shop-user=PID ... [--port-base 31100] [--rounds 3]`.
pub async fn main(raw: &[String]) -> anyhow::Result<()> {
    let args = Args::parse(raw, VALUED, SWITCHES)?;
    let rounds: usize = args.get("rounds", 3)?;
    anyhow::ensure!(
        (1..=20).contains(&rounds),
        "BAD_ARGUMENT: --rounds must be 1..=20"
    );
    let port_base: u16 = args.get("port-base", 31_100)?;
    let timeout = args.seconds("timeout", 30.0)?;
    let log_dir = PathBuf::from(args.value("log-dir").unwrap_or("."));
    let mut models = Vec::new();
    for spec in args.values("process") {
        let (name, pid) = spec
            .split_once('=')
            .with_context(|| format!("BAD_ARGUMENT: --process {spec:?} is not NAME=PID"))?;
        let pid: u32 = pid
            .parse()
            .with_context(|| format!("BAD_ARGUMENT: --process {spec:?}: PID is not a number"))?;
        models.push(Model::read(name, pid)?);
    }
    anyhow::ensure!(!models.is_empty(), "BAD_ARGUMENT: no --process to measure");
    anyhow::ensure!(
        u32::from(port_base) + 2 * models.len() as u32 <= u32::from(u16::MAX),
        "BAD_ARGUMENT: --port-base too high"
    );

    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()?;
    let mut rows = Vec::new();
    for (index, model) in models.iter().enumerate() {
        let front = port_base + 2 * index as u16;
        let admin = front + 1;
        let ready_url = format!("http://127.0.0.1:{admin}/readyz");
        let log_path = log_dir.join(format!("startup-{}.log", model.name));
        let mut times = Vec::new();
        let mut rss_mb = 0.0;
        for round in 0..rounds {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .with_context(|| format!("opening {}", log_path.display()))?;
            let mut command = tokio::process::Command::new(&model.exe);
            command
                .env_clear()
                .envs(model.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .env(model.front_var(), format!("127.0.0.1:{front}"))
                .env("SHOP_ADMIN_ADDR", format!("127.0.0.1:{admin}"))
                .current_dir(&model.cwd)
                .stdin(Stdio::null())
                .stdout(Stdio::from(log.try_clone()?))
                .stderr(Stdio::from(log))
                // A generator that dies mid-round must not leave a replica behind.
                .kill_on_drop(true);
            let started = Instant::now();
            let mut child = command
                .spawn()
                .with_context(|| format!("starting {}", model.exe.display()))?;
            let pid = child.id().context("child without a pid")?;
            let ready = loop {
                if let Some(status) = child.try_wait()? {
                    anyhow::bail!(
                        "{} exited ({status}) before it was ready; log: {}",
                        model.name,
                        log_path.display()
                    );
                }
                if started.elapsed() > timeout {
                    let _ = child.start_kill();
                    anyhow::bail!(
                        "{} not ready within {:.0} s ({ready_url}); log: {}",
                        model.name,
                        timeout.as_secs_f64(),
                        log_path.display()
                    );
                }
                if let Ok(reply) = http.get(&ready_url).send().await
                    && reply.status().is_success()
                {
                    break started.elapsed();
                }
                tokio::time::sleep(POLL).await;
            };
            rss_mb = rss_kb(pid).unwrap_or(0) as f64 / 1024.0;
            let ms = ready.as_secs_f64() * 1000.0;
            eprintln!(
                "shop-load: startup {} round {}: ready in {ms:.0} ms, RSS {rss_mb:.1} MB",
                model.name,
                round + 1
            );
            times.push(ms);
            stop(&mut child, pid).await;
        }
        let mut sorted = times.clone();
        sorted.sort_by(f64::total_cmp);
        let median_ms = sorted[sorted.len() / 2];
        let max_ms = sorted[sorted.len() - 1];
        rows.push(Row {
            process: model.name.clone(),
            ready_url,
            rounds_ms: times,
            median_ms,
            max_ms,
            rss_at_ready_mb: rss_mb,
            met: max_ms < TARGET_MS,
        });
    }
    let report = Report {
        kind: "startup",
        backend: super::backend(),
        rounds,
        target_ms: TARGET_MS,
        rows,
    };
    print!("{}", markdown(&report));
    super::write_json(args.value("json"), &report)
}

/// SIGTERM (the services drain and exit), then SIGKILL after 10 s.
async fn stop(child: &mut tokio::process::Child, pid: u32) {
    let _ = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await;
    if tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .is_err()
    {
        let _ = child.kill().await;
    }
}

/// VmRSS of `pid` in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
}

/// The exec→ready table.
pub fn markdown(report: &Report) -> String {
    let mut out = format!(
        "\n**exec→ready** (release replica of each running process, same binary and environment, own ports; {} starts each, readiness polled every {} ms) · backend: {}\n\n",
        report.rounds,
        POLL.as_millis(),
        report.backend
    );
    out.push_str("| process | ready signal | median ms | max ms | every start, ms | RSS at ready MB | < 500 ms |\n|---|---|---|---|---|---|---|\n");
    for row in &report.rows {
        out.push_str(&format!(
            "| {} | admin /readyz | {:.0} | {:.0} | {} | {:.1} | {} |\n",
            row.process,
            row.median_ms,
            row.max_ms,
            row.rounds_ms
                .iter()
                .map(|ms| format!("{ms:.0}"))
                .collect::<Vec<_>>()
                .join(", "),
            row.rss_at_ready_mb,
            if row.met { "yes" } else { "**no**" }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A running process is cloned from what /proc says about it: its binary, every
    /// variable of its environment and its working directory.
    #[test]
    fn a_model_is_read_from_proc() -> anyhow::Result<()> {
        let me = Model::read("shop-bff-like", std::process::id())?;
        assert_eq!(me.exe, std::env::current_exe()?);
        assert_eq!(me.cwd, std::env::current_dir()?);
        let path = std::env::var("PATH")?;
        assert!(me.env.iter().any(|(k, v)| k == "PATH" && *v == path));
        assert_eq!(me.front_var(), "SHOP_HTTP_ADDR");
        assert!(rss_kb(std::process::id()).is_some_and(|kb| kb > 0));
        let error = Model::read("gone", u32::MAX).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("no process")));
        Ok(())
    }
}
