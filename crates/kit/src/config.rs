//! Layered, typed configuration: struct defaults < `config/<SHOP_ENV>.toml` < `SHOP_*` env.
//!
//! Each service declares one `Deserialize + Default` struct, mostly flat, so an operator can
//! override any field as `SHOP_<FIELD>` (e.g. `SHOP_GRPC_ADDR`); a shared section such as
//! `amqp` is reached with a double underscore (`SHOP_AMQP__URL`). Secrets come only from
//! the environment (or files it names).

use std::path::Path;

use serde::de::DeserializeOwned;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(#[from] config::ConfigError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// The deployment environment, `SHOP_ENV`: `production` (or `prod`) turns on the strict
/// settings and refuses development defaults; any other name (`dev`, `compose`, `ci`, ...)
/// is a non-production environment whose only effect is which `config/<env>.toml` is read.
/// Every service config carries it as its `env` field, so a test can set it explicitly
/// instead of through the process environment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Environment(String);

impl Environment {
    pub fn production() -> Self {
        Self("production".to_owned())
    }

    pub fn is_production(&self) -> bool {
        matches!(self.0.as_str(), "production" | "prod")
    }

    /// Refuses to start in production while any of `settings` still holds its development
    /// default (`(SHOP_ variable, still the default)`): a forgotten secret must stop the
    /// deploy, not ship.
    pub fn refuse_dev_defaults(&self, settings: &[(&str, bool)]) -> Result<(), ConfigError> {
        if !self.is_production() {
            return Ok(());
        }
        let left: Vec<&str> = settings
            .iter()
            .filter(|(_, is_default)| *is_default)
            .map(|(name, _)| *name)
            .collect();
        if left.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Invalid(config::ConfigError::Message(format!(
            "SHOP_ENV=production but these settings are missing or still hold their \
             development default: {}",
            left.join(", ")
        ))))
    }
}

impl serde::Serialize for Environment {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let name = if self.0.is_empty() { "dev" } else { &self.0 };
        serializer.serialize_str(name)
    }
}

impl<'de> serde::Deserialize<'de> for Environment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(Self(name.trim().to_lowercase()))
    }
}

/// Loads `T` for the environment named by `SHOP_ENV` (default `dev`), from the optional file
/// `config/<env>.toml` under the working directory and then `SHOP_*` variables.
pub fn load<T: DeserializeOwned + Default + serde::Serialize>() -> Result<T, ConfigError> {
    let env = std::env::var("SHOP_ENV").unwrap_or_else(|_| "dev".to_owned());
    load_from(
        Path::new("config").join(format!("{env}.toml")).as_path(),
        std::env::vars(),
    )
}

/// The testable core of [`load`]: a file path (optional on disk) and an explicit environment.
pub fn load_from<T: DeserializeOwned + Default + serde::Serialize>(
    file: &Path,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let vars: config::Map<String, String> = vars
        .into_iter()
        .filter(|(key, _)| key.starts_with("SHOP_"))
        .collect();
    let settings = config::Config::builder()
        .add_source(config::Config::try_from(&T::default())?)
        .add_source(config::File::from(file).required(false))
        .add_source(
            config::Environment::with_prefix("SHOP")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(vars)),
        )
        .build()?;
    Ok(settings.try_deserialize()?)
}

/// An optional setting as given: unset and blank are the same (a variable set to "" in a
/// manifest must not count as a value).
pub fn given(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.trim().is_empty())
}

/// The items of a list setting: one comma-separated string (so one `SHOP_*` variable can set
/// it), each item trimmed, empty ones dropped.
pub fn list(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// Reads a PEM either given inline or from a file, so keys can come from a Kubernetes secret
/// mounted as a file or from an environment variable in development.
pub fn pem_from(
    inline: Option<&str>,
    file: Option<&str>,
    what: &str,
) -> Result<String, ConfigError> {
    if let Some(pem) = given(inline) {
        return Ok(pem.to_owned());
    }
    let path = file.filter(|path| !path.is_empty()).ok_or_else(|| {
        ConfigError::Invalid(config::ConfigError::Message(format!(
            "{what} is required: set SHOP_{}_PEM or SHOP_{}_FILE",
            what.to_uppercase(),
            what.to_uppercase()
        )))
    })?;
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};
    use std::net::SocketAddr;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(default)]
    struct Sample {
        grpc_addr: SocketAddr,
        database_url: String,
        pool_size: u32,
        bootstrap_admin_email: Option<String>,
        nested: Nested,
    }

    #[derive(Debug, Deserialize, Serialize, PartialEq, Default)]
    #[serde(default)]
    struct Nested {
        url: String,
        expires_secs: u64,
    }

    impl Default for Sample {
        fn default() -> Self {
            Self {
                grpc_addr: "0.0.0.0:50051".parse().unwrap(),
                database_url: "mysql://default".into(),
                pool_size: 5,
                bootstrap_admin_email: None,
                nested: Nested::default(),
            }
        }
    }

    #[test]
    fn env_overrides_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("shopkit-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("test.toml");
        std::fs::write(&file, "database_url = \"mysql://file\"\npool_size = 7\n").unwrap();

        let vars = [
            ("SHOP_POOL_SIZE".to_owned(), "9".to_owned()),
            ("SHOP_BOOTSTRAP_ADMIN_EMAIL".to_owned(), "a@b.c".to_owned()),
            ("OTHER_POOL_SIZE".to_owned(), "1".to_owned()),
            ("SHOP_NESTED__URL".to_owned(), "amqp://x".to_owned()),
            ("SHOP_NESTED__EXPIRES_SECS".to_owned(), "60".to_owned()),
        ];
        let loaded: Sample = load_from(&file, vars).unwrap();
        assert_eq!(loaded.grpc_addr, "0.0.0.0:50051".parse().unwrap());
        assert_eq!(loaded.database_url, "mysql://file");
        assert_eq!(loaded.pool_size, 9);
        assert_eq!(loaded.bootstrap_admin_email.as_deref(), Some("a@b.c"));
        assert_eq!(loaded.nested.url, "amqp://x");
        assert_eq!(loaded.nested.expires_secs, 60);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn production_refuses_development_defaults() {
        let dev = Environment::default();
        assert!(!dev.is_production());
        assert!(dev.refuse_dev_defaults(&[("SHOP_X", true)]).is_ok());
        let prod = Environment::production();
        assert!(prod.refuse_dev_defaults(&[("SHOP_X", false)]).is_ok());
        let error = prod
            .refuse_dev_defaults(&[("SHOP_X", true), ("SHOP_Y", false), ("SHOP_Z", true)])
            .unwrap_err()
            .to_string();
        assert!(error.contains("SHOP_X, SHOP_Z"), "{error}");
        assert!(!error.contains("SHOP_Y"), "{error}");
    }

    #[test]
    fn the_environment_comes_from_shop_env() {
        #[derive(Deserialize, Serialize, Default)]
        #[serde(default)]
        struct WithEnv {
            env: Environment,
        }
        let missing = Path::new("/nonexistent/shop.toml");
        let loaded: WithEnv =
            load_from(missing, [("SHOP_ENV".to_owned(), "Production".to_owned())]).unwrap();
        assert!(loaded.env.is_production());
        let loaded: WithEnv = load_from(missing, Vec::new()).unwrap();
        assert!(!loaded.env.is_production());
    }

    #[test]
    fn a_blank_optional_setting_is_not_given() {
        assert_eq!(given(Some(" pem ")), Some(" pem "));
        assert_eq!(given(Some("  ")), None);
        assert_eq!(given(None), None);
    }

    #[test]
    fn a_list_setting_is_its_trimmed_non_empty_items() {
        assert_eq!(list(" a, b ,,c,"), ["a", "b", "c"]);
        assert!(list(" , ").is_empty());
    }

    #[test]
    fn a_missing_file_is_fine_and_bad_values_are_reported() {
        let missing = Path::new("/nonexistent/shop.toml");
        let loaded: Sample = load_from(missing, Vec::new()).unwrap();
        assert_eq!(loaded, Sample::default());
        let bad = [("SHOP_GRPC_ADDR".to_owned(), "not-an-address".to_owned())];
        assert!(load_from::<Sample>(missing, bad).is_err());
    }
}
