//! Isolated databases and key spaces on the real servers.

use std::time::Duration;

use anyhow::Context as _;
use fred::prelude::*;
use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A short unique name usable as a database name or key prefix.
fn unique_name(kind: &str) -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t_{kind}_{}", &id[..16])
}

/// Runs async clean-up from `Drop`, which may happen inside or outside a runtime: a helper
/// thread with its own small runtime works in both cases.
fn block_on_cleanup<F>(what: String, cleanup: F)
where
    F: std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let outcome = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|runtime| runtime.block_on(cleanup))
    })
    .join();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(error)) => eprintln!("test clean-up of {what} failed: {error:#}"),
        Err(_) => eprintln!("test clean-up of {what} panicked"),
    }
}

/// A fresh MySQL database on the server of `SHOP_TEST_MYSQL_URL`
/// (default `mysql://root@127.0.0.1:3306`).
pub struct TestMysql {
    /// URL of the new database, to hand to a service's config.
    pub url: String,
    pub pool: MySqlPool,
    server_url: String,
    name: String,
}

impl TestMysql {
    pub async fn create() -> anyhow::Result<Self> {
        let server_url = env_or("SHOP_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306");
        let name = unique_name("db");
        let admin = MySqlPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&server_url)
            .await
            .with_context(|| format!("connecting to MySQL at {server_url} (is `just deps` up?)"))?;
        sqlx::query(&format!("CREATE DATABASE `{name}`"))
            .execute(&admin)
            .await?;
        admin.close().await;
        let url = format!("{}/{name}", server_url.trim_end_matches('/'));
        let pool = MySqlPoolOptions::new()
            .max_connections(5)
            .connect(&url)
            .await?;
        Ok(Self {
            url,
            pool,
            server_url,
            name,
        })
    }
}

impl Drop for TestMysql {
    fn drop(&mut self) {
        let server_url = self.server_url.clone();
        let name = self.name.clone();
        // The pool is not closed here: its connections belong to the test's runtime, which
        // this thread blocks. Idle connections hold no locks, so the drop goes through.
        block_on_cleanup(format!("MySQL database {name}"), async move {
            let admin = MySqlPoolOptions::new()
                .max_connections(1)
                .connect(&server_url)
                .await?;
            // A service under test may still hold a transaction open (its runtime is the one
            // this thread blocks), and DROP DATABASE would wait for its metadata lock
            // forever: end those connections first.
            let holders: Vec<i64> = sqlx::query_scalar(
                "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
            )
            .bind(&name)
            .fetch_all(&admin)
            .await?;
            for id in holders {
                let _ = sqlx::query(&format!("KILL {id}")).execute(&admin).await;
            }
            sqlx::query(&format!("DROP DATABASE IF EXISTS `{name}`"))
                .execute(&admin)
                .await?;
            admin.close().await;
            Ok(())
        });
    }
}

/// A fresh database on the MongoDB (or SecantusDB) server of `SHOP_TEST_MONGODB_URI`
/// (default `mongodb://127.0.0.1:27017/?directConnection=true`).
pub struct TestMongo {
    pub uri: String,
    pub client: mongodb::Client,
    pub database: mongodb::Database,
    pub name: String,
}

impl TestMongo {
    pub async fn create() -> anyhow::Result<Self> {
        let uri = env_or(
            "SHOP_TEST_MONGODB_URI",
            "mongodb://127.0.0.1:27017/?directConnection=true",
        );
        let mut options = mongodb::options::ClientOptions::parse(&uri).await?;
        options.server_selection_timeout = Some(Duration::from_secs(10));
        let client = mongodb::Client::with_options(options)?;
        client
            .database("admin")
            .run_command(mongodb::bson::doc! { "ping": 1 })
            .await
            .with_context(|| format!("pinging MongoDB at {uri} (is `just deps` up?)"))?;
        let name = unique_name("mongo");
        let database = client.database(&name);
        Ok(Self {
            uri,
            client,
            database,
            name,
        })
    }
}

impl TestMongo {
    /// A service's database settings for this database.
    pub fn config(&self) -> shop_kit::mongo::MongoConfig {
        shop_kit::mongo::MongoConfig::new(self.uri.clone(), self.name.clone())
    }

    /// Settings for the database `<name>_<service>`: a system test gives each service its
    /// own, and dropping this value drops them too.
    pub fn config_for(&self, service: &str) -> shop_kit::mongo::MongoConfig {
        shop_kit::mongo::MongoConfig::new(self.uri.clone(), format!("{}_{service}", self.name))
    }
}

impl Drop for TestMongo {
    /// Drops the database and every one named `<name>_...` (a system test gives each
    /// service its own): left behind, they pile up in the in-memory stand-in and slow every
    /// later test down.
    fn drop(&mut self) {
        let uri = self.uri.clone();
        let name = self.name.clone();
        block_on_cleanup(format!("Mongo databases {name}*"), async move {
            let client = mongodb::Client::with_uri_str(&uri).await?;
            let derived = format!("{name}_");
            for database in client.list_database_names().await? {
                if database == name || database.starts_with(&derived) {
                    client.database(&database).drop().await?;
                }
            }
            Ok(())
        });
    }
}

/// A connected Redis client and a key prefix no other test uses
/// (server from `SHOP_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub struct TestRedis {
    pub url: String,
    /// Every key the test (or the service under test) writes must start with this.
    pub prefix: String,
    pub client: Client,
}

impl TestRedis {
    pub async fn create() -> anyhow::Result<Self> {
        let url = env_or("SHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379");
        let client = Builder::from_config(Config::from_url(&url)?).build()?;
        client
            .init()
            .await
            .with_context(|| format!("connecting to Redis at {url} (is `just deps` up?)"))?;
        Ok(Self {
            url,
            prefix: format!("{}:", unique_name("redis")),
            client,
        })
    }

    /// Keys under this test's prefix, for assertions.
    pub async fn keys(&self) -> anyhow::Result<Vec<String>> {
        let pattern = format!("{}*", self.prefix);
        let mut keys = Vec::new();
        let mut cursor = "0".to_owned();
        loop {
            let (next, batch): (String, Vec<String>) = self
                .client
                .custom(
                    fred::cmd!("SCAN"),
                    vec![
                        cursor.clone(),
                        "MATCH".into(),
                        pattern.clone(),
                        "COUNT".into(),
                        "500".into(),
                    ],
                )
                .await?;
            keys.extend(batch);
            if next == "0" {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let url = self.url.clone();
        let prefix = self.prefix.clone();
        block_on_cleanup(format!("Redis prefix {prefix}"), async move {
            let redis = TestRedis {
                url: url.clone(),
                prefix,
                client: Builder::from_config(Config::from_url(&url)?).build()?,
            };
            redis.client.init().await?;
            let keys = redis.keys().await?;
            if !keys.is_empty() {
                let _: i64 = redis.client.del(keys).await?;
            }
            // Skip this value's own Drop: the prefix is already clean.
            std::mem::forget(redis);
            Ok(())
        });
    }
}

/// A private corner of the RabbitMQ at `SHOP_TEST_AMQP_URL` (default
/// `amqp://guest:guest@127.0.0.1:5672/%2f`): a unique exchange name and queue prefix, so
/// tests can share one broker and one vhost. Queues should be declared with an `x-expires`
/// (they vanish once idle); the exchange and its retry exchange are deleted on drop.
pub struct TestAmqp {
    pub url: String,
    pub exchange: String,
    pub queue_prefix: String,
}

impl TestAmqp {
    pub async fn create() -> anyhow::Result<Self> {
        let url = env_or(
            "SHOP_TEST_AMQP_URL",
            "amqp://guest:guest@127.0.0.1:5672/%2f",
        );
        let connection = lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
            .await
            .with_context(|| format!("connecting to RabbitMQ at {url} (is `just deps` up?)"))?;
        let _ = connection.close(0, "probe".into()).await;
        let name = unique_name("amqp");
        Ok(Self {
            url,
            exchange: format!("{name}.events"),
            queue_prefix: format!("{name}."),
        })
    }
}

impl TestAmqp {
    /// The bus configuration of a service under test: this test's exchange and prefix, and
    /// queues that delete themselves a minute after the test stops consuming.
    pub fn bus_config(&self) -> shop_bus::BusConfig {
        shop_bus::BusConfig {
            url: self.url.clone(),
            exchange: self.exchange.clone(),
            queue_prefix: self.queue_prefix.clone(),
            queue_expires_secs: 60,
            declare_topology: true,
        }
    }
}

impl Drop for TestAmqp {
    fn drop(&mut self) {
        let url = self.url.clone();
        let exchange = self.exchange.clone();
        block_on_cleanup(format!("exchange {exchange}"), async move {
            let connection =
                lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await?;
            let channel = connection.create_channel().await?;
            let retries = shop_bus::consumer::retry_exchange(&exchange);
            channel
                .exchange_delete(
                    exchange.into(),
                    lapin::options::ExchangeDeleteOptions::default(),
                )
                .await?;
            // The consumers' retry exchange too (shop_bus::consumer::retry_exchange), on a
            // channel of its own: a test without consumers has none to delete.
            let channel = connection.create_channel().await?;
            let _ = channel
                .exchange_delete(
                    retries.into(),
                    lapin::options::ExchangeDeleteOptions::default(),
                )
                .await;
            let _ = connection.close(0, "test done".into()).await;
            Ok(())
        });
    }
}
