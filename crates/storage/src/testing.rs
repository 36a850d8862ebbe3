//! Throwaway databases for tests: a fresh SQLite file or PostgreSQL database each.
//!
//! Every storage test runs on both backends:
//!
//! ```ignore
//! for db in TestDb::all().await { let store = db.store(); … }
//! ```
//!
//! PostgreSQL comes from `TESSERA_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached,
//! the test fails under `CI=true` and otherwise prints a loud SKIPPED line
//! and runs on SQLite alone.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::store::{Backend, Store};

/// Default server for PostgreSQL tests.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database that exists for one test and is dropped with it.
#[derive(Debug)]
pub struct TestDb {
    store: Store,
    url: String,
    pg_admin_url: Option<String>,
    pg_name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

fn postgres_server_url() -> String {
    std::env::var("TESSERA_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_URL.to_string())
}

impl TestDb {
    /// A migrated store in a new SQLite file.
    ///
    /// # Panics
    /// When the file cannot be created (a broken test machine).
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = Store::open(&url).await.expect("open sqlite test database");
        Self {
            store,
            url,
            pg_admin_url: None,
            pg_name: None,
            _dir: Some(dir),
        }
    }

    /// A migrated store in a new PostgreSQL database, or `None` (after a loud
    /// message) when the server is unreachable outside CI.
    ///
    /// # Panics
    /// Under `CI=true` when PostgreSQL is unreachable.
    pub async fn postgres() -> Option<Self> {
        let admin = postgres_server_url();
        let name = format!(
            "tessera_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let url = crate::postgres_url_with_database(&admin, &name);
        match Store::open(&url).await {
            Ok(store) => Some(Self {
                store,
                url,
                pg_admin_url: Some(admin),
                pg_name: Some(name),
                _dir: None,
            }),
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
                    panic!("PostgreSQL at {admin} is required under CI=true but failed: {e}");
                }
                eprintln!(
                    "\n*** SKIPPED PostgreSQL half of this test: {admin} unreachable ({e}); set TESSERA_TEST_POSTGRES_URL ***\n"
                );
                None
            }
        }
    }

    /// SQLite, then PostgreSQL when reachable.
    pub async fn all() -> Vec<Self> {
        let mut v = vec![Self::sqlite().await];
        v.extend(Self::postgres().await);
        v
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The database URL (for spawning processes against the same database).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Which backend.
    #[must_use]
    pub fn backend(&self) -> Backend {
        self.store.backend()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (Some(admin), Some(name)) = (self.pg_admin_url.clone(), self.pg_name.clone()) else {
            return;
        };
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread with
        // its own runtime drops the database. It must not touch the test's pool (closing it needs the
        // test's runtime, which is blocked here: a deadlock on current-thread runtimes); `WITH (FORCE)`
        // ends those connections instead.
        let handle = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Err(e) = crate::drop_postgres_database(&admin, &name).await {
                    eprintln!("warning: could not drop test database {name}: {e}");
                }
            });
        });
        // A failed drop leaves a stray test database, never a failed test.
        let _ = handle.join();
    }
}
