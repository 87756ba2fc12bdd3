//! Connecting a MongoDB-backed service. Production passes any MongoDB URI
//! (`SHOP_MONGODB_URI`); tests and `just up` use the SecantusDB stand-in, which speaks the
//! same wire protocol. Start-up fails fast (with the URI in the error) when the server is
//! unreachable, instead of timing out on the first request.

use std::time::Duration;

use mongodb::bson::doc;

#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    #[error("invalid MongoDB URI: {0}")]
    Uri(#[source] mongodb::error::Error),
    #[error("cannot reach MongoDB: {0}")]
    Connect(#[source] mongodb::error::Error),
}

/// A client for `uri` and its database `database`, verified with a `ping`.
pub async fn connect(uri: &str, database: &str) -> Result<mongodb::Database, MongoError> {
    let mut options = mongodb::options::ClientOptions::parse(uri)
        .await
        .map_err(MongoError::Uri)?;
    options.server_selection_timeout = Some(Duration::from_secs(5));
    options.connect_timeout = Some(Duration::from_secs(5));
    let client = mongodb::Client::with_options(options).map_err(MongoError::Uri)?;
    let database = client.database(database);
    database
        .run_command(doc! { "ping": 1 })
        .await
        .map_err(MongoError::Connect)?;
    Ok(database)
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
