//! `tessera tokens create|list|revoke`: API tokens. A token is printed once,
//! at creation; only its hash is stored.

use anyhow::{Result, bail};
use clap::Subcommand;
use serde::Serialize;
use tessera_api::Scope;
use tessera_storage::NewApiToken;

use super::Ctx;
use crate::output::{print_json, print_table};

/// `tessera tokens …`
#[derive(Debug, Subcommand)]
pub(crate) enum TokensCommand {
    /// Create a token and print it (once: it cannot be shown again).
    Create {
        /// read, trade or admin (admin ⊃ trade ⊃ read).
        #[arg(long, value_name = "S")]
        scope: String,
        /// A label to recognise it by in listings.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List tokens (prefix, scope, dates; never the token).
    List,
    /// Revoke a token by id.
    Revoke {
        /// Token id from `tokens list`.
        id: i64,
    },
}

#[derive(Serialize)]
struct Created<'a> {
    id: i64,
    name: &'a str,
    scope: &'a str,
    prefix: &'a str,
    token: &'a str,
}

pub(crate) async fn run(ctx: &Ctx, cmd: TokensCommand) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        TokensCommand::Create { scope, name } => {
            let Ok(scope) = scope.parse::<Scope>() else {
                bail!("--scope {scope:?}: expected read, trade or admin");
            };
            let g = tessera_api::generate_token()?;
            let t = store
                .create_api_token(NewApiToken {
                    name: &name,
                    prefix: &g.prefix,
                    token_hash: &g.hash,
                    scope: scope.as_str(),
                })
                .await?;
            if ctx.global.json {
                print_json(&Created {
                    id: t.id,
                    name: &t.name,
                    scope: &t.scope,
                    prefix: &t.prefix,
                    token: &g.secret,
                })?;
            } else {
                println!("{}", g.secret);
                eprintln!(
                    "token {} (scope {scope}) created; it is shown only now — store it safely",
                    t.id
                );
            }
        }
        TokensCommand::List => {
            let tokens = store.list_api_tokens().await?;
            if ctx.global.json {
                print_json(&tokens)?;
            } else {
                let rows: Vec<Vec<String>> = tokens
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.name.clone(),
                            format!("{}…", t.prefix),
                            t.scope.clone(),
                            t.created_at.to_rfc3339(),
                            t.revoked_at.map_or_else(String::new, |r| r.to_rfc3339()),
                        ]
                    })
                    .collect();
                print_table(
                    &["id", "name", "prefix", "scope", "created", "revoked"],
                    &rows,
                );
            }
        }
        TokensCommand::Revoke { id } => {
            store.revoke_api_token(id).await?;
            println!("token {id} revoked");
        }
    }
    store.close().await;
    Ok(())
}
