//! shop-testkit: every integration test gets its own real backends and its own service
//! instances, so the whole suite runs in parallel against one MariaDB, one Redis and one
//! MongoDB without tests seeing each other's data.
//!
//! - [`TestMysql`]: a fresh database, dropped when the value is dropped.
//! - [`TestMongo`]: a fresh Mongo database, dropped likewise.
//! - [`TestRedis`]: a unique key prefix whose keys are deleted on drop.
//! - [`RunningService`]: a service spawned on port 0 with a stop handle, and [`connect`] for a
//!   channel that is only returned once the service reports SERVING.
//! - [`wait_until`]: poll a condition with a deadline instead of sleeping.
//! - [`EventWatch`]: what the services published, seen through a private queue.
//! - [`Scrape`]: a service's counters from its `/metrics`, for exact-count assertions.
//! - [`keys`] / [`token_for`]: one signing key pair per test process, to act as any user.
//! - [`violated_fields`] / [`reason`]: what a refusal says, for assertions.
//! - [`init_tracing`]: test logs plus real trace ids, once per process (every started service
//!   calls it); [`span_in_trace`] continues a given trace, to prove propagation.

mod backends;
mod events;
mod metrics;
mod services;
mod tracing_setup;

pub use backends::{TestAmqp, TestMongo, TestMysql, TestRedis};
pub use events::{EVENT_DEADLINE, EventWatch};
pub use metrics::Scrape;
pub use services::{
    RunningService, assert_reflects, connect, http_get, keys, reflected_services, reflection_knows,
    test_host, token_for, wait_until, with_token,
};
pub use shop_kit::error::reason;
pub use tracing_setup::{init_tracing, span_in_trace};

/// The fields an INVALID_ARGUMENT names, in its order (sort them to compare as a set).
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    shop_kit::error::field_violations(status)
        .into_iter()
        .map(|violation| violation.field)
        .collect()
}
