//! `tessera db migrate|status`

use anyhow::{Context, Result};
use serde::Serialize;
use tessera_storage::{MigrationInfo, Store};

use super::Ctx;
use crate::cli::DbCommand;
use crate::output::{print_json, print_table};

#[derive(Serialize)]
struct Status<'a> {
    backend: String,
    url: &'a str,
    current_version: Option<i64>,
    applied: Vec<&'a MigrationInfo>,
    pending: Vec<&'a MigrationInfo>,
}

pub(crate) async fn run(ctx: &Ctx, cmd: DbCommand) -> Result<()> {
    let url = ctx.config.database_url();
    let store = Store::connect(&url)
        .await
        .with_context(|| format!("cannot connect to {}", tessera_storage::redact_url(&url)))?;
    match cmd {
        DbCommand::Migrate => {
            let n = store.migrate().await.context("migration failed")?;
            let status = store.migration_status().await?;
            if ctx.global.json {
                print_json(&serde_json::json!({
                    "backend": store.backend().to_string(),
                    "url": store.url(),
                    "applied_now": n,
                    "current_version": status.iter().filter(|m| m.applied).map(|m| m.version).max(),
                }))?;
            } else {
                println!(
                    "{} migration(s) applied to {} ({})",
                    n,
                    store.url(),
                    store.backend()
                );
            }
        }
        DbCommand::Status => {
            let all = store.migration_status().await?;
            let status = Status {
                backend: store.backend().to_string(),
                url: store.url(),
                current_version: all.iter().filter(|m| m.applied).map(|m| m.version).max(),
                applied: all.iter().filter(|m| m.applied).collect(),
                pending: all.iter().filter(|m| !m.applied).collect(),
            };
            if ctx.global.json {
                print_json(&status)?;
            } else {
                println!("backend:  {}", status.backend);
                println!("database: {}", status.url);
                println!(
                    "version:  {}",
                    status
                        .current_version
                        .map_or_else(|| "none (empty database)".to_string(), |v| v.to_string())
                );
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|m| {
                        vec![
                            m.version.to_string(),
                            m.description.clone(),
                            if m.applied { "applied" } else { "pending" }.to_string(),
                        ]
                    })
                    .collect();
                print_table(&["VERSION", "DESCRIPTION", "STATE"], &rows);
            }
        }
    }
    store.close().await;
    Ok(())
}
