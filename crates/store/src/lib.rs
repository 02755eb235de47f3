//! Haven persistence: one [`Store`] over SQLite (the embedded default) or
//! PostgreSQL, with the same schema and migration names on both.
//!
//! Every write runs in one transaction together with its audit event, and the
//! audit chain head is locked for the append so concurrent writers keep the
//! chain linear. SQL lives only in this crate.

mod alerts;
mod audit;
mod bulk;
mod clients;
mod community;
mod drugchecks;
mod emergencies;
mod floor;
mod journey;
mod raw;
mod referrals;
mod services;
mod sessions;
mod sites;
mod supplies;
mod ts;
mod users;
mod visits;

pub use alerts::AlertRow;
pub use audit::{AuditCtx, AuditRow, verify as verify_audit};
pub use bulk::{
    BulkAftercare, BulkCare, BulkCheck, BulkClient, BulkEmergency, BulkEmergencyEntry, BulkEpisode, BulkHandoverNote,
    BulkReferral, BulkReferralEvent, BulkSample, BulkService, BulkTestResult, BulkVisit,
};
pub use clients::{ClientRow, IdentityRow, MergeRow, NewClientRecord};
pub use community::{CommunityAuditRow, CommunityFilter, MonthlyZoneRow, NeedleImport, NeedleReportRow};
pub use drugchecks::{DrugResultRow, SampleRow};
pub use emergencies::{AmendmentRow, CloseEmergencyRecord, EmergencyRow, EntryRow, NewEmergencyRecord};
pub use floor::{
    AftercareRow, BoardSpaceRow, CheckRow, EpisodeRow, HandoverNoteRow, NewCheckRecord, NewEpisodeRecord, SpaceMark,
    WaitingRow,
};
pub use journey::{JourneyRecords, JourneySupplyLineRow, JourneySupplyRow};
pub use referrals::{ReferralEventRow, ReferralRow};
pub use services::{ServiceRow, TestResultRow};
pub use sessions::{SessionRow, TokenRow};
pub use sites::{SiteRow, SpaceRow};
pub use supplies::{BulkSupplyTx, DiscrepancyRow, StockRow, SupplyLineRow, SupplyTx, SupplyTxRow};
pub use users::{RoleRow, UserRow};
pub use visits::{Created, NewVisitRecord, VisitRow};

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// Store errors. `Conflict` and `NotFound` are expected outcomes the caller
/// maps to 409/404; `Database` is a fault.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such record (in this site).
    #[error("not found")]
    NotFound,
    /// A uniqueness or state conflict.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data that does not parse (a bug or a tampered database).
    #[error("corrupt data: {0}")]
    Corrupt(String),
}

/// Result alias.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// SQLite: one writer connection (writes start with `BEGIN IMMEDIATE`, so they
/// queue instead of failing with SQLITE_BUSY) and a pool of readers.
#[derive(Clone, Debug)]
pub struct SqliteDb {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// PostgreSQL: one pool.
#[derive(Clone, Debug)]
pub struct PgDb {
    pool: PgPool,
}

/// The store, on one of the two backends.
#[derive(Clone, Debug)]
pub enum Store {
    /// Embedded SQLite file.
    Sqlite(SqliteDb),
    /// PostgreSQL server.
    Postgres(PgDb),
}

/// Runs `$body` with `$c` bound to a read pool of either backend.
macro_rules! read {
    ($store:expr, |$c:ident| $body:expr) => {
        match $store {
            $crate::Store::Sqlite(db) => {
                let $c = &db.reader;
                $body
            }
            $crate::Store::Postgres(db) => {
                let $c = &db.pool;
                $body
            }
        }
    };
}

/// Runs `$body` inside one write transaction; `$tx` is `&mut Transaction`,
/// `$pg` tells the backend for the few statements that differ. An early
/// return (`?`) drops the transaction, which rolls it back.
macro_rules! write_tx {
    ($store:expr, |$tx:ident, $pg:ident| $body:block) => {
        match $store {
            $crate::Store::Sqlite(db) => {
                let mut t = db.writer.begin_with("BEGIN IMMEDIATE").await?;
                #[allow(unused_variables)]
                let $pg = false;
                let $tx = &mut t;
                let out = $body;
                t.commit().await?;
                out
            }
            $crate::Store::Postgres(db) => {
                let mut t = db.pool.begin().await?;
                #[allow(unused_variables)]
                let $pg = true;
                let $tx = &mut t;
                let out = $body;
                t.commit().await?;
                out
            }
        }
    };
}
pub(crate) use read;
pub(crate) use write_tx;

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file in this directory (`haven.db`).
    SqliteDir(std::path::PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Store {
    /// Opens (creating if needed) and migrates.
    pub async fn open(loc: &Location) -> Result<Self> {
        let store = Self::connect(loc).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Opens without migrating: for an application role that may not change
    /// the schema (migrations then run separately with `haven migrate`).
    pub async fn connect(loc: &Location) -> Result<Self> {
        match loc {
            Location::SqliteDir(dir) => Self::open_sqlite(dir).await,
            Location::Postgres(url) => Self::open_postgres(url).await,
        }
    }

    /// Opens the SQLite file `haven.db` in `dir`, in WAL mode with
    /// `synchronous=FULL` so an acknowledged commit survives power loss
    /// (architecture principle 2; security-reliability §4.1).
    pub async fn open_sqlite(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join("haven.db");
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            // SQLite's default page cache is 2 MB; a year of visits is hundreds.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts.read_only(true))
            .await?;
        Ok(Store::Sqlite(SqliteDb { writer, reader }))
    }

    /// Connects to PostgreSQL. Commits are durable with the server default
    /// `synchronous_commit=on`, which Haven does not change.
    pub async fn open_postgres(url: &str) -> Result<Self> {
        let opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        Ok(Store::Postgres(PgDb { pool }))
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Store::Sqlite(db) => sqlx::migrate!("./migrations/sqlite").run(&db.writer).await?,
            Store::Postgres(db) => sqlx::migrate!("./migrations/postgres").run(&db.pool).await?,
        }
        Ok(())
    }

    /// Which backend, for logs and the status page.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Closes the pools.
    pub async fn close(&self) {
        match self {
            Store::Sqlite(db) => {
                db.reader.close().await;
                db.writer.close().await;
            }
            Store::Postgres(db) => db.pool.close().await,
        }
    }

    /// SQLite `PRAGMA integrity_check` (`ok` when sound); PostgreSQL: `ok`.
    pub async fn integrity_check(&self) -> Result<String> {
        match self {
            Store::Sqlite(db) => Ok(sqlx::query_scalar::<_, String>("PRAGMA integrity_check")
                .fetch_one(&db.writer)
                .await?),
            Store::Postgres(_) => Ok("ok".into()),
        }
    }
}

/// A new UUIDv7 as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Creates a database (PostgreSQL only): for test fixtures.
    #[doc(hidden)]
    pub async fn create_database_for_tests(&self, name: &str) -> Result<()> {
        if let Store::Postgres(db) = self {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Conflict("bad database name".into()));
            }
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&db.pool)
                .await?;
        }
        Ok(())
    }

    /// Drops a database (PostgreSQL only): for test fixtures.
    #[doc(hidden)]
    pub async fn drop_database_for_tests(&self, name: &str) -> Result<()> {
        if let Store::Postgres(db) = self {
            if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(StoreError::Conflict("bad database name".into()));
            }
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&db.pool)
            .await?;
        }
        Ok(())
    }
}
