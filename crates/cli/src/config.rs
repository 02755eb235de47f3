//! Configuration: defaults, then an optional TOML file (`--config` or
//! `HAVEN_CONFIG`; unknown keys are rejected), then `HAVEN_*` environment
//! variables and flags. Secrets are redacted in `Debug`.

use std::{fmt, path::PathBuf, time::Duration};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

/// Flags shared by every command.
#[derive(clap::Args, Debug)]
pub struct GlobalArgs {
    /// TOML configuration file.
    #[arg(long, global = true, env = "HAVEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory for the embedded SQLite database (default ./haven-data).
    #[arg(long, global = true, env = "HAVEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL (postgres://…); when set, SQLite is not used.
    #[arg(long, global = true, env = "HAVEN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// The configuration file's keys.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    listen: Option<String>,
    behind_tls: Option<bool>,
    session_idle_minutes: Option<u64>,
    session_absolute_hours: Option<u64>,
    login_attempts: Option<u32>,
    migrate_on_start: Option<bool>,
}

/// The effective configuration.
#[derive(Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub listen: String,
    pub behind_tls: bool,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub login_attempts: u32,
    /// `serve` applies pending migrations at start (turn off when the
    /// application role may not change the schema; run `haven migrate` instead).
    pub migrate_on_start: bool,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("data_dir", &self.data_dir)
            .field("database_url", &self.database_url.as_ref().map(|_| "<redacted>"))
            .field("listen", &self.listen)
            .field("behind_tls", &self.behind_tls)
            .field("session_idle", &self.session_idle)
            .field("session_absolute", &self.session_absolute)
            .field("login_attempts", &self.login_attempts)
            .field("migrate_on_start", &self.migrate_on_start)
            .finish()
    }
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Result<Option<T>> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .map(Some)
            .map_err(|_| anyhow::anyhow!("{name}: cannot parse `{v}`")),
        Err(_) => Ok(None),
    }
}

impl Config {
    /// Loads file, environment and flags.
    pub fn load(args: &GlobalArgs) -> Result<Config> {
        let file: FileConfig = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
                toml::from_str(&text).with_context(|| format!("in {}", p.display()))?
            }
            None => FileConfig::default(),
        };
        let database_url = args
            .database_url
            .clone()
            .or(file.database_url)
            .filter(|u| !u.is_empty());
        if let Some(u) = &database_url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            bail!("HAVEN_DATABASE_URL must start with postgres:// (SQLite is configured with --data-dir)");
        }
        let idle = env_parse::<u64>("HAVEN_SESSION_IDLE_MINUTES")?
            .or(file.session_idle_minutes)
            .unwrap_or(30);
        let absolute = env_parse::<u64>("HAVEN_SESSION_ABSOLUTE_HOURS")?
            .or(file.session_absolute_hours)
            .unwrap_or(12);
        if idle == 0 || absolute == 0 {
            bail!("session timeouts must be positive");
        }
        Ok(Config {
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("haven-data")),
            database_url,
            listen: std::env::var("HAVEN_LISTEN")
                .ok()
                .or(file.listen)
                .unwrap_or_else(|| "127.0.0.1:8080".into()),
            behind_tls: env_parse::<bool>("HAVEN_BEHIND_TLS")?
                .or(file.behind_tls)
                .unwrap_or(false),
            session_idle: Duration::from_secs(idle * 60),
            session_absolute: Duration::from_secs(absolute * 3600),
            login_attempts: env_parse::<u32>("HAVEN_LOGIN_ATTEMPTS")?
                .or(file.login_attempts)
                .unwrap_or(10),
            migrate_on_start: env_parse::<bool>("HAVEN_MIGRATE_ON_START")?
                .or(file.migrate_on_start)
                .unwrap_or(true),
        })
    }

    /// Where the data lives.
    pub fn location(&self) -> haven_store::Location {
        match &self.database_url {
            Some(u) => haven_store::Location::Postgres(u.clone()),
            None => haven_store::Location::SqliteDir(self.data_dir.clone()),
        }
    }

    /// For messages, without secrets.
    pub fn describe_location(&self) -> String {
        match &self.database_url {
            Some(_) => "PostgreSQL".into(),
            None => format!("SQLite in {}", self.data_dir.join("haven.db").display()),
        }
    }

    /// Web settings.
    pub fn web(&self) -> haven_web::WebConfig {
        haven_web::WebConfig {
            sessions: haven_app::auth::SessionPolicy {
                idle: time::Duration::seconds(i64::try_from(self.session_idle.as_secs()).unwrap_or(1800)),
                absolute: time::Duration::seconds(i64::try_from(self.session_absolute.as_secs()).unwrap_or(43_200)),
            },
            behind_tls: self.behind_tls,
            login_attempts: self.login_attempts,
            ..Default::default()
        }
    }
}
