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

use anyhow::Context as _;
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

/// A MongoDB service's database settings, flattened into its configuration
/// (`#[serde(flatten)] mongo: MongoConfig`), so they stay `SHOP_MONGODB_URI` and
/// `SHOP_MONGODB_DATABASE` in every service (as `shop_kit::mysql::DatabaseConfig` does for MySQL).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct MongoConfig {
    /// Any MongoDB URI; the SecantusDB stand-in locally.
    pub mongodb_uri: String,
    pub mongodb_database: String,
}

impl MongoConfig {
    pub fn new(mongodb_uri: impl Into<String>, mongodb_database: impl Into<String>) -> Self {
        Self {
            mongodb_uri: mongodb_uri.into(),
            mongodb_database: mongodb_database.into(),
        }
    }

    /// The local stand-in (`just up`, `just deps`) with database `database`.
    pub fn local(database: &str) -> Self {
        Self::new("mongodb://127.0.0.1:27017/?directConnection=true", database)
    }

    /// [`connect`] with these settings; an error names `service`'s database. Bind the host
    /// first: the client counts its commands in that host's `registry`.
    pub async fn connect(
        &self,
        service: &str,
        registry: &Registry,
    ) -> anyhow::Result<mongodb::Database> {
        connect(&self.mongodb_uri, &self.mongodb_database, registry)
            .await
            .with_context(|| format!("{service} database"))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, serde::Serialize)]
    #[serde(default)]
    struct Service {
        #[serde(flatten)]
        mongo: MongoConfig,
    }

    impl Default for Service {
        fn default() -> Self {
            Self {
                mongo: MongoConfig::local("shop_default"),
            }
        }
    }

    /// Deployments set `SHOP_MONGODB_URI` / `SHOP_MONGODB_DATABASE`: flattening must keep
    /// those names.
    #[test]
    fn flattened_settings_keep_their_shop_mongodb_names() {
        let missing = std::path::Path::new("/nonexistent/shop.toml");
        let loaded: Service = crate::config::load_from(missing, Vec::new()).unwrap();
        assert_eq!(loaded.mongo.mongodb_database, "shop_default");
        let vars = [
            (
                "SHOP_MONGODB_URI".to_owned(),
                "mongodb://db:27017".to_owned(),
            ),
            ("SHOP_MONGODB_DATABASE".to_owned(), "shop_x".to_owned()),
        ];
        let loaded: Service = crate::config::load_from(missing, vars).unwrap();
        assert_eq!(loaded.mongo.mongodb_uri, "mongodb://db:27017");
        assert_eq!(loaded.mongo.mongodb_database, "shop_x");
    }
}
