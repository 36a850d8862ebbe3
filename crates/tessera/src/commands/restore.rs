//! `tessera restore FROM_DIR [--yes]`: put a backup written by the `backups`
//! job back in place, with the platform stopped.
//!
//! * SQLite (`tessera.db` in the backup): the file is copied beside the
//!   configured database and renamed over it (the old `-wal`/`-shm` files are
//!   removed), so a failed copy never leaves half a database. A database that
//!   another process holds open is refused: leaving WAL mode needs every
//!   other connection gone, so it doubles as an "is `tessera up` running?"
//!   check that cannot be fooled by a stale process row.
//! * PostgreSQL (`tessera.sql`): `psql` (on `PATH`, else a clear error)
//!   empties the configured database's `public` schema and replays the dump
//!   in one transaction; a database with other sessions connected is refused.
//! * `artefacts/` replaces `<data_dir>/artefacts`.
//!
//! An existing database (or artefacts folder) is replaced only with `--yes`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::Value;
use sqlx::Connection;

use super::Ctx;

/// `tessera restore`.
#[derive(Debug, Args)]
pub(crate) struct RestoreArgs {
    /// A backup folder written by the `backups` job (`<destination>/<YYYYMMDDTHHMMSSZ>`, holding `manifest.json`).
    pub(crate) from_dir: PathBuf,
    /// Replace the configured database and artefacts when they exist.
    #[arg(long)]
    pub(crate) yes: bool,
}

/// The file path of a `sqlite://PATH[?options]` URL.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Refuse when another process has the SQLite database at `path` open.
async fn sqlite_not_in_use(path: &Path) -> Result<()> {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(std::time::Duration::from_millis(500));
    let mut conn = sqlx::SqliteConnection::connect_with(&opts)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    // Leaving WAL mode needs every other connection closed; the database is replaced anyway.
    let r: std::result::Result<(String,), _> = sqlx::query_as("PRAGMA journal_mode=DELETE")
        .fetch_one(&mut conn)
        .await;
    // Closing only releases the connection; its error changes nothing.
    let _ = conn.close().await;
    match r {
        Ok((mode,)) if mode.eq_ignore_ascii_case("delete") => Ok(()),
        Ok((mode,)) => bail!(
            "{} is in use by another process (journal mode stays {mode}): stop tessera up, workers and other tessera commands first",
            path.display()
        ),
        Err(e) => bail!(
            "{} is in use by another process ({e}): stop tessera up, workers and other tessera commands first",
            path.display()
        ),
    }
}

async fn restore_sqlite(backup: &Path, url: &str, yes: bool) -> Result<PathBuf> {
    let target = sqlite_path(url).with_context(|| {
        format!("the backup is SQLite but the configured database is {url}: set database.url to a sqlite:// file")
    })?;
    if target.exists() {
        if !yes {
            bail!(
                "{} exists: pass --yes to replace it with the backup",
                target.display()
            );
        }
        sqlite_not_in_use(&target).await?;
    }
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let tmp = sibling(&target, ".restoring");
    std::fs::copy(backup, &tmp)
        .with_context(|| format!("copying {} to {}", backup.display(), tmp.display()))?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let f = sibling(&target, suffix);
        if f.exists() {
            std::fs::remove_file(&f).with_context(|| format!("removing {}", f.display()))?;
        }
    }
    std::fs::rename(&tmp, &target)
        .with_context(|| format!("renaming {} to {}", tmp.display(), target.display()))?;
    Ok(target)
}

async fn restore_postgres(dump: &Path, url: &str, yes: bool) -> Result<()> {
    if !url.starts_with("postgres") {
        bail!(
            "the backup is PostgreSQL but the configured database is {url}: set database.url to the postgres:// database to restore into"
        );
    }
    let psql_found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("psql").is_file()));
    if !psql_found {
        bail!(
            "restoring a PostgreSQL backup needs psql on PATH (install the PostgreSQL client), or run: psql --dbname URL --file {}",
            dump.display()
        );
    }
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .context("cannot connect to the configured PostgreSQL database")?;
    let (others,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await?;
    let (tables,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&mut conn)
    .await?;
    // Closing only releases the connection; its error changes nothing.
    let _ = conn.close().await;
    if others > 0 {
        bail!(
            "the database has {others} other session(s) connected: stop tessera up, workers and other tessera commands first"
        );
    }
    if tables > 0 && !yes {
        bail!(
            "the configured database holds {tables} tables: pass --yes to replace them with the backup"
        );
    }
    let run = |args: &[&str]| -> Result<()> {
        let out = std::process::Command::new("psql")
            .args([
                "--quiet",
                "--no-psqlrc",
                "-v",
                "ON_ERROR_STOP=1",
                "--dbname",
                url,
            ])
            .args(args)
            .output()
            .context("cannot run psql")?;
        if !out.status.success() {
            bail!(
                "psql failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    };
    run(&[
        "--command",
        "DROP SCHEMA public CASCADE; CREATE SCHEMA public;",
    ])?;
    let file = dump.display().to_string();
    run(&["--single-transaction", "--file", &file])
}

/// Copy a folder tree.
fn copy_tree(from: &Path, to: &Path) -> Result<u64> {
    std::fs::create_dir_all(to).with_context(|| format!("cannot create {}", to.display()))?;
    let mut files = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let dst = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            files += copy_tree(&entry.path(), &dst)?;
        } else {
            std::fs::copy(entry.path(), &dst)
                .with_context(|| format!("copying {}", entry.path().display()))?;
            files += 1;
        }
    }
    Ok(files)
}

/// `tessera restore FROM_DIR [--yes]`.
///
/// # Errors
/// No manifest, a backend that differs from the configured one, an existing
/// database without `--yes`, a database in use, copy or `psql` failures.
pub(crate) async fn run(ctx: &Ctx, a: RestoreArgs) -> Result<()> {
    let mf = a.from_dir.join("manifest.json");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&mf).with_context(|| {
            format!(
                "{} is not a backup folder (no manifest.json)",
                a.from_dir.display()
            )
        })?)
        .with_context(|| format!("reading {}", mf.display()))?;
    let backend = manifest["backend"].as_str().unwrap_or_default();
    let url = ctx.config.database_url();
    let database = match backend {
        "sqlite" => {
            let file = a.from_dir.join("tessera.db");
            restore_sqlite(&file, &url, a.yes)
                .await?
                .display()
                .to_string()
        }
        "postgres" => {
            let file = a.from_dir.join("tessera.sql");
            restore_postgres(&file, &url, a.yes).await?;
            tessera_storage::redact_url(&url)
        }
        other => bail!("{}: unknown backend {other:?}", mf.display()),
    };
    let from = a.from_dir.join("artefacts");
    let to = ctx.config.data_dir.join("artefacts");
    let mut artefact_files = 0;
    if from.is_dir() {
        if to.exists() {
            if !a.yes {
                bail!("{} exists: pass --yes to replace it", to.display());
            }
            std::fs::remove_dir_all(&to).with_context(|| format!("removing {}", to.display()))?;
        }
        artefact_files = copy_tree(&from, &to)?;
    }
    // Open it once: migrations newer than the backup are applied now, and a bad copy shows here.
    let store = ctx.store().await.context("opening the restored database")?;
    let instruments = store.list_instruments().await?.len();
    store.close().await;
    if ctx.global.json {
        return crate::output::print_json(&serde_json::json!({
            "database": database,
            "backend": backend,
            "artefact_files": artefact_files,
            "instruments": instruments,
        }));
    }
    println!(
        "restored {} into {database} ({instruments} instruments) and {artefact_files} artefact files into {}",
        a.from_dir.display(),
        to.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_sqlite_path_forms() {
        assert_eq!(
            sqlite_path("sqlite://a/b.db"),
            Some(PathBuf::from("a/b.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:///x.db?mode=rwc"),
            Some(PathBuf::from("/x.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://u@h/db"), None);
    }
}
