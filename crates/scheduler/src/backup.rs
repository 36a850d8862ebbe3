//! The `backups` job: a consistent copy of the database plus the local
//! artefacts folder, in a timestamped folder.
//!
//! Layout of one backup, `<destination>/<YYYYMMDDTHHMMSSZ>/`:
//! * `tessera.db`: SQLite, written by `VACUUM INTO` (a consistent snapshot
//!   taken while the platform keeps running), or `tessera.sql`: PostgreSQL,
//!   written by `pg_dump` (plain SQL, no owners) when it is on `PATH`;
//! * `artefacts/`: a copy of `<data_dir>/artefacts` (model files), when present;
//! * `manifest.json`: time, backend, files and bytes.
//!
//! The folder is written as `<name>.partial` and renamed when complete, so a
//! folder without that suffix is always a whole backup. `docs/scheduler.md`
//! gives the restore procedure.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tessera_storage::Backend;

use crate::builtin::BackupsParams;
use crate::registry::{BoxFuture, JobContext, JobError, JobHandler};

/// Handler of `backups`.
#[derive(Clone, Default)]
pub struct BackupsHandler {
    /// The PostgreSQL URL handed to `pg_dump` (with its password); when
    /// `None`, the store's redacted URL is used, which works for
    /// password-less (trust, `.pgpass`, `PGPASSWORD`) setups.
    pub database_url: Option<String>,
}

impl std::fmt::Debug for BackupsHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password: never print it.
        f.debug_struct("BackupsHandler")
            .field("database_url", &self.database_url.as_ref().map(|_| "…"))
            .finish()
    }
}

fn io(path: &Path, e: &std::io::Error) -> JobError {
    JobError::retryable(format!("{}: {e}", path.display()))
}

/// Copy a folder tree; returns (files, bytes).
fn copy_tree(from: &Path, to: &Path) -> std::result::Result<(u64, u64), JobError> {
    std::fs::create_dir_all(to).map_err(|e| io(to, &e))?;
    let (mut files, mut bytes) = (0, 0);
    for entry in std::fs::read_dir(from).map_err(|e| io(from, &e))? {
        let entry = entry.map_err(|e| io(from, &e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ty = entry.file_type().map_err(|e| io(&src, &e))?;
        if ty.is_dir() {
            let (f, b) = copy_tree(&src, &dst)?;
            files += f;
            bytes += b;
        } else if ty.is_file() {
            bytes += std::fs::copy(&src, &dst).map_err(|e| io(&src, &e))?;
            files += 1;
        }
        // Symbolic links and special files are not artefacts: skipped.
    }
    Ok((files, bytes))
}

/// Whether `name` is a finished backup folder (`YYYYMMDDTHHMMSSZ`).
fn is_backup_name(name: &str) -> bool {
    name.len() == 16
        && name.ends_with('Z')
        && name.as_bytes()[8] == b'T'
        && name
            .chars()
            .enumerate()
            .all(|(i, c)| i == 8 || i == 15 || c.is_ascii_digit())
}

async fn dump_postgres(url: &str, file: &Path) -> std::result::Result<(), JobError> {
    let out = tokio::process::Command::new("pg_dump")
        .arg("--no-owner")
        .arg("--no-privileges")
        .arg("--file")
        .arg(file)
        .arg("--dbname")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                JobError::permanent(
                    "PostgreSQL backup needs pg_dump on PATH (install the PostgreSQL client tools, \
                     version ≥ the server's)",
                )
            } else {
                JobError::retryable(format!("cannot start pg_dump: {e}"))
            }
        })?;
    if !out.status.success() {
        return Err(JobError::retryable(format!(
            "pg_dump failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

impl BackupsHandler {
    async fn backup(&self, ctx: &JobContext, p: BackupsParams) -> Result<Value, JobError> {
        let dest = p
            .destination
            .map_or_else(|| ctx.data_dir().join("backups"), PathBuf::from);
        let stamp: String = ctx
            .now()
            .to_rfc3339()
            .chars()
            .filter(char::is_ascii_digit)
            .take(14)
            .collect();
        let name = format!("{}T{}Z", &stamp[..8], &stamp[8..]);
        let partial = dest.join(format!("{name}.partial"));
        let done = dest.join(&name);
        if done.exists() {
            return Err(JobError::retryable(format!(
                "{} exists already (two backups in one second); retrying",
                done.display()
            )));
        }
        if partial.exists() {
            // Left by an attempt that died; it is incomplete by construction.
            std::fs::remove_dir_all(&partial).map_err(|e| io(&partial, &e))?;
        }
        std::fs::create_dir_all(&partial).map_err(|e| io(&partial, &e))?;
        let store = ctx.store();
        let backend = store.backend();
        let db_file = match backend {
            Backend::Sqlite => {
                let f = partial.join("tessera.db");
                ctx.info(&format!("VACUUM INTO {}", f.display())).await;
                store.backup_sqlite_into(&f).await?;
                f
            }
            Backend::Postgres => {
                let f = partial.join("tessera.sql");
                let url = self.database_url.as_deref().unwrap_or(store.url());
                ctx.info(&format!("pg_dump {} > {}", store.url(), f.display()))
                    .await;
                dump_postgres(url, &f).await?;
                f
            }
        };
        let db_bytes = std::fs::metadata(&db_file)
            .map_err(|e| io(&db_file, &e))?
            .len();
        ctx.info(&format!(
            "database copied: {} ({db_bytes} bytes)",
            db_file.display()
        ))
        .await;
        let artefacts = ctx.data_dir().join("artefacts");
        let (files, bytes) = if artefacts.is_dir() {
            let to = partial.join("artefacts");
            let src = artefacts.clone();
            tokio::task::spawn_blocking(move || copy_tree(&src, &to))
                .await
                .map_err(|e| JobError::retryable(format!("copying artefacts: {e}")))??
        } else {
            (0, 0)
        };
        ctx.info(&format!(
            "artefacts copied: {files} files, {bytes} bytes from {}",
            artefacts.display()
        ))
        .await;
        let manifest = json!({
            "created_at": ctx.now().to_rfc3339(),
            "backend": match backend { Backend::Sqlite => "sqlite", Backend::Postgres => "postgres" },
            "database": store.url(),
            "database_file": db_file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "database_bytes": db_bytes,
            "artefact_files": files,
            "artefact_bytes": bytes,
            "job": ctx.job_id(),
        });
        let mf = partial.join("manifest.json");
        std::fs::write(
            &mf,
            serde_json::to_string_pretty(&manifest).unwrap_or_default(),
        )
        .map_err(|e| io(&mf, &e))?;
        std::fs::rename(&partial, &done).map_err(|e| io(&done, &e))?;
        ctx.info(&format!("backup complete: {}", done.display()))
            .await;
        let mut removed = Vec::new();
        if let Some(keep) = p.keep {
            let mut all: Vec<String> = std::fs::read_dir(&dest)
                .map_err(|e| io(&dest, &e))?
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| is_backup_name(n))
                .collect();
            all.sort();
            let excess = all.len().saturating_sub(keep as usize);
            for old in all.into_iter().take(excess) {
                let path = dest.join(&old);
                std::fs::remove_dir_all(&path).map_err(|e| io(&path, &e))?;
                ctx.info(&format!("removed old backup {}", path.display()))
                    .await;
                removed.push(old);
            }
        }
        Ok(json!({
            "path": done.display().to_string(),
            "database_file": db_file.file_name().map(|n| n.to_string_lossy().into_owned()),
            "database_bytes": db_bytes,
            "artefact_files": files,
            "artefact_bytes": bytes,
            "removed": removed,
        }))
    }
}

impl JobHandler for BackupsHandler {
    fn run<'a>(
        &'a self,
        ctx: &'a JobContext,
        v: &'a Value,
    ) -> BoxFuture<'a, std::result::Result<Value, JobError>> {
        Box::pin(async move {
            let p: BackupsParams = serde_json::from_value(v.clone())
                .map_err(|e| JobError::permanent(format!("parameters: {e}")))?;
            self.backup(ctx, p).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_is_backup_name() {
        assert!(is_backup_name("20261122T183000Z"));
        assert!(!is_backup_name("20261122T183000Z.partial"));
        assert!(!is_backup_name("notes"));
    }
}
