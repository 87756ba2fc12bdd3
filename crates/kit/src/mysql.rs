//! Connecting a MySQL-backed service: create its database when missing (so a fresh MariaDB
//! needs no manual step), then apply its embedded sqlx migrations before serving.

use std::time::Duration;

use anyhow::Context as _;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

#[derive(Debug, thiserror::Error)]
pub enum MysqlError {
    #[error("cannot reach MySQL: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// SQLSTATE of "Deadlock found when trying to get lock; try restarting transaction".
const DEADLOCK: &str = "40001";

/// InnoDB picked this transaction as a deadlock victim and rolled it back: running it again
/// from the start is the documented remedy (concurrent inserts into one index range, e.g.
/// checkouts of many users at once, can lock each other in a circle).
pub fn is_deadlock(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(db) if db.code().as_deref() == Some(DEADLOCK))
}

/// A MySQL service's database settings, flattened into its configuration
/// (`#[serde(flatten)] database: DatabaseConfig`), so they stay `SHOP_DATABASE_URL` and
/// `SHOP_DATABASE_MAX_CONNECTIONS` in every service.
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
pub struct DatabaseConfig {
    pub database_url: String,
    /// The pool's size: every replica holds up to this many of the server's connections.
    pub database_max_connections: u32,
}

impl DatabaseConfig {
    pub fn new(database_url: impl Into<String>, database_max_connections: u32) -> Self {
        Self {
            database_url: database_url.into(),
            database_max_connections,
        }
    }

    /// [`connect_and_migrate`] with these settings; an error names `service`'s database.
    pub async fn connect(&self, service: &str, migrator: &Migrator) -> anyhow::Result<MySqlPool> {
        connect_and_migrate(&self.database_url, self.database_max_connections, migrator)
            .await
            .with_context(|| format!("{service} database"))
    }
}

pub async fn connect_and_migrate(
    url: &str,
    max_connections: u32,
    migrator: &Migrator,
) -> Result<MySqlPool, MysqlError> {
    if !sqlx::MySql::database_exists(url)
        .await
        .map_err(MysqlError::Connect)?
    {
        // Two replicas racing here is fine: the loser's "exists" error is ignored and both
        // go on to migrate, which sqlx serialises with a lock.
        if let Err(error) = sqlx::MySql::create_database(url).await {
            tracing::warn!(%error, "create database (another instance may have won)");
        }
    }
    let pool = MySqlPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
        .map_err(MysqlError::Connect)?;
    migrator.run(&pool).await?;
    Ok(pool)
}

/// A stored value this build cannot read (e.g. a status [`text_column!`] does not know):
/// the row will read the same way next time, so retrying cannot help; an event that needs
/// the row is dead-lettered, an RPC is `INTERNAL`.
pub fn is_unreadable(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::ColumnDecode { .. })
}

#[doc(hidden)]
pub use sqlx as __sqlx;

/// Makes an enum a `sqlx` column type stored as the text it has always had in a `VARCHAR`
/// column (sqlx's derive only matches MySQL `ENUM` columns, and changing the columns would
/// need a migration of every row). The enum provides `fn as_str(self) -> &'static str` and
/// `fn parse(&str) -> Option<Self>`, and can then also be compared with its stored text
/// (`status == "CANCELLED"`), as code and tests that read the column as text did.
///
/// One rule for unknown values: text the enum does not know is a decode error, so the read
/// fails (and the RPC is an `INTERNAL`, logged): it is our own data, and guessing a status
/// for it would act on an order or a payment in a state nobody put it in.
#[macro_export]
macro_rules! text_column {
    ($ty:ty) => {
        impl PartialEq<&str> for $ty {
            fn eq(&self, text: &&str) -> bool {
                self.as_str() == *text
            }
        }

        impl $crate::mysql::__sqlx::Type<$crate::mysql::__sqlx::MySql> for $ty {
            fn type_info() -> $crate::mysql::__sqlx::mysql::MySqlTypeInfo {
                <str as $crate::mysql::__sqlx::Type<$crate::mysql::__sqlx::MySql>>::type_info()
            }

            fn compatible(ty: &$crate::mysql::__sqlx::mysql::MySqlTypeInfo) -> bool {
                <str as $crate::mysql::__sqlx::Type<$crate::mysql::__sqlx::MySql>>::compatible(ty)
            }
        }

        impl<'q> $crate::mysql::__sqlx::Encode<'q, $crate::mysql::__sqlx::MySql> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut Vec<u8>,
            ) -> Result<
                $crate::mysql::__sqlx::encode::IsNull,
                $crate::mysql::__sqlx::error::BoxDynError,
            > {
                <&str as $crate::mysql::__sqlx::Encode<'q, $crate::mysql::__sqlx::MySql>>::encode(
                    self.as_str(),
                    buf,
                )
            }
        }

        impl<'r> $crate::mysql::__sqlx::Decode<'r, $crate::mysql::__sqlx::MySql> for $ty {
            fn decode(
                value: $crate::mysql::__sqlx::mysql::MySqlValueRef<'r>,
            ) -> Result<Self, $crate::mysql::__sqlx::error::BoxDynError> {
                let text = <&str as $crate::mysql::__sqlx::Decode<
                    'r,
                    $crate::mysql::__sqlx::MySql,
                >>::decode(value)?;
                <$ty>::parse(text).ok_or_else(|| {
                    format!("unknown {} {text:?} in the database", stringify!($ty)).into()
                })
            }
        }
    };
}
