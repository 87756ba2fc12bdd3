//! Connecting a MongoDB-backed service. Production passes any MongoDB URI
//! (`SHOP_MONGODB_URI`); tests and `just up` use the SecantusDB stand-in, which speaks the
//! same wire protocol. Start-up fails fast (with the URI in the error) when the server is
//! unreachable, instead of timing out on the first request.
//!
//! Every command the client sends is counted in `shop_mongo_commands_total{command}` of the
//! service's registry: the database round trips an operation costs are a number on
//! `/metrics` (and the CI gate in `tests/system/tests/counts.rs` asserts them exactly,
//! docs/benchmarks.md "Counts per operation"). The driver's command monitoring reports
//! what the application sends (`find`, `update`, `getMore`, ...), not its own handshakes
//! and heartbeats, so the counter moves only with the service's work.

use std::time::Duration;

use mongodb::bson::doc;
use mongodb::event::EventHandler;
use mongodb::event::command::CommandEvent;
use prometheus::{IntCounterVec, Opts, Registry};

#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    #[error("invalid MongoDB URI: {0}")]
    Uri(#[source] mongodb::error::Error),
    #[error("cannot reach MongoDB: {0}")]
    Connect(#[source] mongodb::error::Error),
    #[error("cannot register the MongoDB command counter: {0}")]
    Metrics(#[source] prometheus::Error),
}

/// A client for `uri` and its database `database`, verified with a `ping`, whose commands
/// are counted in `registry` (the service's, `GrpcHost::metrics().registry()`).
pub async fn connect(
    uri: &str,
    database: &str,
    registry: &Registry,
) -> Result<mongodb::Database, MongoError> {
    let mut options = mongodb::options::ClientOptions::parse(uri)
        .await
        .map_err(MongoError::Uri)?;
    options.server_selection_timeout = Some(Duration::from_secs(5));
    options.connect_timeout = Some(Duration::from_secs(5));
    options.command_event_handler = Some(command_counter(registry)?);
    let client = mongodb::Client::with_options(options).map_err(MongoError::Uri)?;
    let database = client.database(database);
    database
        .run_command(doc! { "ping": 1 })
        .await
        .map_err(MongoError::Connect)?;
    Ok(database)
}

/// The handler that counts each command as it starts (a failed command was a round trip
/// too). Registered once per registry: a service connects once.
fn command_counter(registry: &Registry) -> Result<EventHandler<CommandEvent>, MongoError> {
    let commands = IntCounterVec::new(
        Opts::new(
            "mongo_commands_total",
            "MongoDB commands this process sent (round trips), by command name",
        ),
        &["command"],
    )
    .map_err(MongoError::Metrics)?;
    registry
        .register(Box::new(commands.clone()))
        .map_err(MongoError::Metrics)?;
    Ok(EventHandler::callback(move |event: CommandEvent| {
        if let CommandEvent::Started(started) = event {
            commands.with_label_values(&[&started.command_name]).inc();
        }
    }))
}

/// MongoDB's duplicate-key error (E11000), as raised by unique indexes.
pub fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == 11000,
        ErrorKind::Command(command) => command.code == 11000,
        ErrorKind::InsertMany(insert_many) => insert_many
            .write_errors
            .iter()
            .flatten()
            .any(|error| error.code == 11000),
        _ => error.to_string().contains("E11000"),
    }
}
