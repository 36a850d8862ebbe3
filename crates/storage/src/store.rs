//! Connecting, migrating and dispatching to the backend.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Row};

use tessera_core::{Clock, SystemClock, UnixNanos};

use crate::error::{Error, Result};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database engine a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        })
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Run the same code against whichever pool the store holds.
///
/// The body is compiled once per backend, so one SQL string and one
/// binding sequence serve both: portable SQL is written once.
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            $crate::store::Pool::Sqlite($pool) => $body,
            $crate::store::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// One migration and whether it has been applied.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MigrationInfo {
    /// Version number (file prefix).
    pub version: i64,
    /// Description (file name after the number).
    pub description: String,
    /// Whether the database has it.
    pub applied: bool,
}

/// The repository: every read and write of Tessera's database goes through here.
///
/// Cheap to clone (pools are reference-counted).
#[derive(Clone, Debug)]
pub struct Store {
    pub(crate) pool: Pool,
    url_display: String,
    clock: Arc<dyn Clock>,
}

/// The URL with any password replaced by `***`, safe for logs and output.
#[must_use]
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &creds[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

impl Store {
    /// Connect to `url` (`sqlite://path/to/file.db`, `sqlite::memory:`,
    /// `postgres://user@host:port/db`) and apply pending migrations.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`], [`Error::Database`] or [`Error::Migrate`].
    pub async fn open(url: &str) -> Result<Self> {
        let store = Self::connect(url).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connect without migrating (for `db status`). A missing SQLite file or
    /// PostgreSQL database is created.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] or [`Error::Database`].
    pub async fn connect(url: &str) -> Result<Self> {
        let url_display = redact_url(url);
        let invalid = |reason: String| Error::InvalidUrl {
            url: url_display.clone(),
            reason,
        };
        let pool = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(|e| invalid(e.to_string()))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(30))
                .disable_statement_logging();
            let path = opts.get_filename();
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            let pool = SqlitePoolOptions::new()
                // An in-memory database lives in one connection; a file serves several readers beside one writer.
                .max_connections(if in_memory { 1 } else { 4 })
                .min_connections(if in_memory { 1 } else { 0 })
                .idle_timeout(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(600))
                })
                .max_lifetime(if in_memory {
                    None
                } else {
                    Some(Duration::from_secs(1800))
                })
                .connect_with(opts)
                .await?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let opts = PgConnectOptions::from_str(url)
                .map_err(|e| invalid(e.to_string()))?
                .disable_statement_logging();
            if !sqlx::Postgres::database_exists(url).await? {
                tracing::info!(url = %url_display, "creating PostgreSQL database");
                sqlx::Postgres::create_database(url).await?;
            }
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(opts)
                .await?;
            Pool::Postgres(pool)
        } else {
            return Err(invalid(
                "expected sqlite://PATH, sqlite::memory: or postgres://USER@HOST:PORT/DB"
                    .to_string(),
            ));
        };
        Ok(Self {
            pool,
            url_display,
            clock: Arc::new(SystemClock),
        })
    }

    /// Use `clock` for the `created_at` / `updated_at` stamps this store writes.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    pub(crate) fn now(&self) -> UnixNanos {
        self.clock.now()
    }

    /// The statement that opens a write transaction. On SQLite a transaction
    /// that reads first and writes later would fail with `database is locked`
    /// when another writer slipped in between (WAL cannot upgrade a reader),
    /// so write transactions take the write lock up front (`BEGIN IMMEDIATE`)
    /// and wait for it under the busy timeout instead.
    pub(crate) fn begin_write_sql(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "BEGIN IMMEDIATE",
            Pool::Postgres(_) => "BEGIN",
        }
    }

    /// Which backend this store uses.
    #[must_use]
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The URL, password redacted.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url_display
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
        }
    }

    /// Apply pending migrations; returns how many were applied.
    ///
    /// # Errors
    /// [`Error::Migrate`], e.g. when an applied migration was edited afterwards.
    pub async fn migrate(&self) -> Result<usize> {
        let before = self
            .migration_status()
            .await?
            .iter()
            .filter(|m| !m.applied)
            .count();
        on_pool!(self, |p| self.migrator().run(p).await)?;
        if before > 0 {
            tracing::info!(applied = before, backend = %self.backend(), "database migrated");
        }
        Ok(before)
    }

    /// Every known migration and whether it is applied.
    ///
    /// # Errors
    /// [`Error::Database`].
    pub async fn migration_status(&self) -> Result<Vec<MigrationInfo>> {
        let table_exists: bool = on_pool!(self, |p| {
            let sql = match self.backend() {
                Backend::Sqlite => {
                    "SELECT COUNT(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
                }
                Backend::Postgres => "SELECT to_regclass('_sqlx_migrations') IS NOT NULL",
            };
            sqlx::query_scalar(sql).fetch_one(p).await
        })?;
        let applied: Vec<i64> = if table_exists {
            on_pool!(self, |p| sqlx::query(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version"
            )
            .fetch_all(p)
            .await?
            .iter()
            .map(|r| r.try_get::<i64, _>(0))
            .collect::<std::result::Result<_, _>>())?
        } else {
            Vec::new()
        };
        Ok(self
            .migrator()
            .iter()
            .map(|m| MigrationInfo {
                version: m.version,
                description: m.description.to_string(),
                applied: applied.contains(&m.version),
            })
            .collect())
    }

    /// Close every connection (flushes SQLite's WAL on the last one).
    pub async fn close(&self) {
        on_pool!(self, |p| p.close().await);
    }

    /// Write a consistent copy of a SQLite database to the new file `dest`
    /// with `VACUUM INTO` (readers and writers may go on meanwhile). Used by
    /// the `backups` job; PostgreSQL is backed up with `pg_dump` instead.
    ///
    /// # Errors
    /// [`Error::Refused`] on PostgreSQL or when `dest` exists;
    /// [`Error::Database`] when SQLite cannot write the copy.
    pub async fn backup_sqlite_into(&self, dest: &std::path::Path) -> Result<()> {
        let Pool::Sqlite(pool) = &self.pool else {
            return Err(Error::Refused(
                "VACUUM INTO backs up SQLite only; use pg_dump for PostgreSQL".into(),
            ));
        };
        if dest.exists() {
            return Err(Error::Refused(format!(
                "backup file {} exists already",
                dest.display()
            )));
        }
        sqlx::query("VACUUM INTO ?")
            .bind(dest.display().to_string())
            .execute(pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_redact_url() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }

    #[tokio::test]
    async fn test_rejects_unknown_scheme() {
        let e = Store::connect("mysql://x").await.unwrap_err().to_string();
        assert!(e.contains("mysql://x") && e.contains("sqlite://"), "{e}");
    }
}
