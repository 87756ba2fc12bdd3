//! The load engine: closed loop (N workers, each sends when its previous call returned) and
//! open loop (calls start at a fixed arrival rate whatever the system does), both bounded in
//! time and in count, with latencies in an HdrHistogram.
//!
//! In the open loop a call's latency runs from its *intended* start (start + i / rate), not
//! from when the generator got round to sending it. A system that stalls therefore shows the
//! stall in every call scheduled during it, instead of the generator quietly waiting and
//! recording one slow call (coordinated omission). The in-flight cap bounds the generator's
//! memory; a call held back by it is still timed from its intended start.
//!
//! An operation may report when it really completed ([`Done`]): checkout learns that an
//! order was confirmed by polling, and the order's own `updatedAt` (same machine, same clock)
//! says when, to the microsecond, so the poll interval does not blur the latency.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Semaphore;

/// Highest latency the histograms hold (longer ones are clamped to it): one minute.
const MAX_LATENCY_US: u64 = 60_000_000;
/// Distinct error messages kept per run, so a failing run says why without flooding.
const ERROR_SAMPLES: usize = 5;

/// What an operation returns: `Some(t)` when it knows the wall-clock moment it really
/// completed (earlier than its return), `None` to be timed by its return.
pub type Done = Option<SystemTime>;

/// One call of an operation, boxed so scenarios can return different futures per target.
pub type BoxedCall = std::pin::Pin<Box<dyn Future<Output = anyhow::Result<Done>> + Send>>;

/// How calls are started.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Mode {
    /// `concurrency` workers, each with one call in flight.
    Closed { concurrency: usize },
    /// Calls start at `rate` per second (infinite: all at once, a burst), at most
    /// `max_in_flight` outstanding.
    Open { rate: f64, max_in_flight: usize },
}

impl Mode {
    /// "closed x16", "open 50/s", "burst".
    pub fn label(&self) -> String {
        match self {
            Mode::Closed { concurrency } => format!("closed x{concurrency}"),
            Mode::Open { rate, .. } if rate.is_infinite() => "burst".to_owned(),
            Mode::Open { rate, .. } => format!("open {rate:.0}/s"),
        }
    }
}

/// One run's bounds.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub mode: Mode,
    /// No call starts (open: is scheduled) after this.
    pub duration: Duration,
    /// No more than this many calls in all.
    pub max_calls: u64,
    /// How long calls still in flight at the end may take before they count as errors.
    pub drain: Duration,
}

/// A run's figures, in milliseconds and calls per second.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub mode: Mode,
    pub calls: u64,
    pub ok: u64,
    pub errors: u64,
    /// Open loop only: calls never started because the drain deadline passed first.
    pub abandoned: u64,
    pub elapsed_s: f64,
    /// Successful calls per second of the run (first start to last completion).
    pub ok_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub error_samples: Vec<String>,
}

/// Latencies and errors, shared by the tasks of one run.
struct Recorder {
    histogram: Histogram<u64>,
    ok: u64,
    errors: u64,
    error_samples: Vec<String>,
}

impl Recorder {
    fn new() -> anyhow::Result<Self> {
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)?,
            ok: 0,
            errors: 0,
            error_samples: Vec::new(),
        })
    }

    fn record(&mut self, latency: Duration, result: anyhow::Result<Done>) {
        match result {
            Ok(_) => {
                let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                self.histogram
                    .saturating_record(micros.clamp(1, MAX_LATENCY_US));
                self.ok += 1;
            }
            Err(error) => {
                self.errors += 1;
                let message = format!("{error:#}");
                if self.error_samples.len() < ERROR_SAMPLES
                    && !self.error_samples.contains(&message)
                {
                    self.error_samples.push(message);
                }
            }
        }
    }

    fn outcome(&self, mode: Mode, calls: u64, abandoned: u64, elapsed: Duration) -> Outcome {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let quantile = |q: f64| {
            if self.histogram.is_empty() {
                0.0
            } else {
                ms(self.histogram.value_at_quantile(q))
            }
        };
        let elapsed_s = elapsed.as_secs_f64().max(1e-9);
        Outcome {
            mode,
            calls,
            ok: self.ok,
            errors: self.errors,
            abandoned,
            elapsed_s,
            ok_per_s: self.ok as f64 / elapsed_s,
            p50_ms: quantile(0.50),
            p90_ms: quantile(0.90),
            p99_ms: quantile(0.99),
            p999_ms: quantile(0.999),
            max_ms: ms(self.histogram.max()),
            error_samples: self.error_samples.clone(),
        }
    }
}

fn lock(recorder: &Mutex<Recorder>) -> std::sync::MutexGuard<'_, Recorder> {
    // A task that panicked while recording leaves consistent counters behind.
    recorder
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The latency of a call that started at `start` (both clocks read together) and returned
/// at `returned`, or completed at `done` by its own account.
fn latency(start: Instant, start_wall: SystemTime, returned: Instant, done: Done) -> Duration {
    match done {
        Some(done) => done.duration_since(start_wall).unwrap_or_default(),
        None => returned.saturating_duration_since(start),
    }
}

/// Runs `op(call_index)` as the plan says and measures it.
pub async fn run<F, Fut>(plan: Plan, op: F) -> anyhow::Result<Outcome>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Done>> + Send + 'static,
{
    anyhow::ensure!(plan.max_calls > 0, "max calls must be positive");
    let recorder = Arc::new(Mutex::new(Recorder::new()?));
    let op = Arc::new(op);
    match plan.mode {
        Mode::Closed { concurrency } => closed(plan, concurrency, op, recorder).await,
        Mode::Open {
            rate,
            max_in_flight,
        } => open(plan, rate, max_in_flight, op, recorder).await,
    }
}

async fn closed<F, Fut>(
    plan: Plan,
    concurrency: usize,
    op: Arc<F>,
    recorder: Arc<Mutex<Recorder>>,
) -> anyhow::Result<Outcome>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Done>> + Send + 'static,
{
    anyhow::ensure!(concurrency > 0, "concurrency must be positive");
    let started = Instant::now();
    let deadline = started + plan.duration;
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (op, next, recorder) = (op.clone(), next.clone(), recorder.clone());
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    let call = next.fetch_add(1, Ordering::Relaxed);
                    if call >= plan.max_calls {
                        break;
                    }
                    let (sent, sent_wall) = (Instant::now(), SystemTime::now());
                    let result =
                        match tokio::time::timeout(plan.drain.max(plan.duration), op(call)).await {
                            Ok(result) => result,
                            Err(_) => Err(anyhow::anyhow!("timed out")),
                        };
                    let done = result.as_ref().ok().copied().flatten();
                    let took = latency(sent, sent_wall, Instant::now(), done);
                    lock(&recorder).record(took, result);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await?;
    }
    let calls = next.load(Ordering::Relaxed).min(plan.max_calls);
    let outcome = lock(&recorder).outcome(plan.mode, calls, 0, started.elapsed());
    Ok(outcome)
}

async fn open<F, Fut>(
    plan: Plan,
    rate: f64,
    max_in_flight: usize,
    op: Arc<F>,
    recorder: Arc<Mutex<Recorder>>,
) -> anyhow::Result<Outcome>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Done>> + Send + 'static,
{
    anyhow::ensure!(rate > 0.0, "rate must be positive");
    anyhow::ensure!(max_in_flight > 0, "max in flight must be positive");
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let (started, started_wall) = (Instant::now(), SystemTime::now());
    let schedule_end = started + plan.duration;
    let drain_deadline = schedule_end + plan.drain;
    let last_done = Arc::new(Mutex::new(started));
    let mut tasks = tokio::task::JoinSet::new();
    let mut calls = 0;
    let mut abandoned = 0;
    while calls < plan.max_calls {
        let offset = if rate.is_infinite() {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(calls as f64 / rate)
        };
        if !rate.is_infinite() && offset >= plan.duration {
            break;
        }
        let intended = started + offset;
        tokio::time::sleep_until(intended.into()).await;
        // Held back by the cap: still timed from `intended`, but never past the drain.
        let permit =
            match tokio::time::timeout_at(drain_deadline.into(), slots.clone().acquire_owned())
                .await
            {
                Ok(Ok(permit)) => permit,
                _ => {
                    abandoned = scheduled_calls(plan, rate).saturating_sub(calls);
                    break;
                }
            };
        let (op, recorder, last_done) = (op.clone(), recorder.clone(), last_done.clone());
        let call = calls;
        tasks.spawn(async move {
            let result = match tokio::time::timeout_at(drain_deadline.into(), op(call)).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!("still running at the drain deadline")),
            };
            let done = result.as_ref().ok().copied().flatten();
            let took = latency(intended, started_wall + offset, Instant::now(), done);
            lock(&recorder).record(took, result);
            // When it completed on the generator's clock, for the run's elapsed time.
            let done = intended + took;
            if let Ok(mut last) = last_done.lock()
                && done > *last
            {
                *last = done;
            }
            drop(permit);
        });
        calls += 1;
        // Reap finished tasks as we go, so a long run does not hold every handle.
        while tasks.try_join_next().is_some() {}
    }
    while let Some(joined) = tasks.join_next().await {
        joined?;
    }
    let elapsed = last_done
        .lock()
        .map(|last| last.saturating_duration_since(started))
        .unwrap_or_default();
    let outcome = lock(&recorder).outcome(plan.mode, calls, abandoned, elapsed);
    Ok(outcome)
}

/// `plan` after an unmeasured warm-up of `warmup` with the same load, so first-call costs
/// (connections, pools, caches) are not in the figures; `make` gives each run its operation.
pub async fn run_after_warmup<F, Fut>(
    plan: Plan,
    warmup: Duration,
    make: impl Fn() -> F,
) -> anyhow::Result<Outcome>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<Done>> + Send + 'static,
{
    let warm = Plan {
        duration: warmup,
        ..plan
    };
    run(warm, make()).await?;
    run(plan, make()).await
}

/// How many calls an open-loop plan schedules in all.
fn scheduled_calls(plan: Plan, rate: f64) -> u64 {
    if rate.is_infinite() {
        return plan.max_calls;
    }
    let in_time = (plan.duration.as_secs_f64() * rate).ceil() as u64;
    in_time.min(plan.max_calls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(mode: Mode, duration_ms: u64, max_calls: u64) -> Plan {
        Plan {
            mode,
            duration: Duration::from_millis(duration_ms),
            max_calls,
            drain: Duration::from_secs(5),
        }
    }

    /// The count bound stops a closed loop before its time is up.
    #[tokio::test]
    async fn closed_loop_stops_at_the_count() -> anyhow::Result<()> {
        let outcome = run(
            plan(Mode::Closed { concurrency: 4 }, 10_000, 100),
            |_| async { Ok(None) },
        )
        .await?;
        assert_eq!((outcome.calls, outcome.ok, outcome.errors), (100, 100, 0));
        assert!(outcome.elapsed_s < 5.0);
        Ok(())
    }

    /// A stall in the system shows in every call scheduled during it: one call that takes
    /// 500 ms at 100/s, with one call in flight, holds back the ~50 calls scheduled behind
    /// it, which then took 490, 480, ... ms from their intended starts: the p90 is hundreds
    /// of ms. A generator timing from the actual send would see one slow call and a p90 of
    /// about 0, hiding the queue.
    #[tokio::test]
    async fn open_loop_times_from_the_intended_start() -> anyhow::Result<()> {
        let mode = Mode::Open {
            rate: 100.0,
            max_in_flight: 1,
        };
        let outcome = run(plan(mode, 1_000, 100), |call| async move {
            if call == 0 {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Ok(None)
        })
        .await?;
        assert_eq!(outcome.ok, 100);
        assert!(
            outcome.p90_ms > 200.0,
            "p90 {} ms hides the stall",
            outcome.p90_ms
        );
        assert!(outcome.max_ms >= 500.0);
        Ok(())
    }

    /// A burst starts every call at once and times each from that instant.
    #[tokio::test]
    async fn burst_starts_everything_at_once() -> anyhow::Result<()> {
        let mode = Mode::Open {
            rate: f64::INFINITY,
            max_in_flight: 1_000,
        };
        let outcome = run(plan(mode, 1_000, 50), |call| async move {
            anyhow::ensure!(call % 10 != 0, "every tenth call fails");
            tokio::time::sleep(Duration::from_millis(100)).await;
            Ok(None)
        })
        .await?;
        assert_eq!((outcome.calls, outcome.ok, outcome.errors), (50, 45, 5));
        assert_eq!(outcome.error_samples, vec!["every tenth call fails"]);
        assert!(outcome.elapsed_s < 1.0, "calls ran concurrently");
        Ok(())
    }

    /// An operation that learns late when it completed (a poll) is timed by its own account:
    /// it returns after 300 ms but reports completing 50 ms in, so p50 is ~50 ms, not 300.
    #[tokio::test]
    async fn a_reported_completion_time_wins_over_the_return() -> anyhow::Result<()> {
        for mode in [
            Mode::Closed { concurrency: 2 },
            Mode::Open {
                rate: 20.0,
                max_in_flight: 100,
            },
        ] {
            let outcome = run(plan(mode, 2_000, 10), |_| async {
                let completed = SystemTime::now() + Duration::from_millis(50);
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(Some(completed))
            })
            .await?;
            assert_eq!(outcome.ok, 10);
            assert!(
                (40.0..150.0).contains(&outcome.p50_ms),
                "{}: p50 {} ms",
                mode.label(),
                outcome.p50_ms
            );
        }
        Ok(())
    }
}
