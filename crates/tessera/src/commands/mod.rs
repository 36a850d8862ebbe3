//! Command implementations, one module per command group.

mod backtest;
mod bench;
mod bench_backtest;
mod bench_data;
mod data;
mod db;
mod handlers;
mod indicators;
mod instruments;
mod jobs;
mod model;
mod order_handler;
mod orders;
mod restore;
mod schedule;
mod serve;
mod tokens;
mod trade;
mod up;
mod worker;

use anyhow::{Context, Result};
use tessera_storage::Store;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command, GlobalArgs, LogFormat};
use crate::config::Config;

pub(crate) use indicators::IndicatorsCommand;
pub(crate) use jobs::JobsCommand;
pub(crate) use model::ModelCommand;
pub(crate) use restore::RestoreArgs;
pub(crate) use schedule::ScheduleCommand;
pub(crate) use serve::ServeArgs;
pub(crate) use tokens::TokensCommand;
pub(crate) use up::UpArgs;
pub(crate) use worker::WorkerArgs;

/// What every command gets: parsed global flags and the loaded configuration.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub(crate) global: GlobalArgs,
    pub(crate) config: Config,
}

impl Ctx {
    /// Open the configured database, migrating it on first use.
    pub(crate) async fn store(&self) -> Result<Store> {
        let url = self.config.database_url();
        Store::open(&url)
            .await
            .with_context(|| format!("cannot open database {}", tessera_storage::redact_url(&url)))
    }
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (only possible in tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Pretty => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Load config, set up logging and run the command on a tokio runtime.
pub(crate) fn run(cli: Cli) -> Result<()> {
    let config = Config::load(cli.global.config.as_deref())?;
    init_logging(cli.global.log_format, &config.log_level);
    let ctx = Ctx {
        global: cli.global,
        config,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        match cli.command {
            Command::Db(c) => db::run(&ctx, c).await,
            Command::Instruments(c) => instruments::run(&ctx, c).await,
            Command::Data(c) => data::run(&ctx, c).await,
            Command::Schedule(c) => schedule::run(&ctx, c).await,
            Command::Jobs(c) => jobs::run(&ctx, c).await,
            Command::Worker(a) => worker::run(&ctx, a).await,
            Command::Up(a) => up::run(&ctx, a).await,
            Command::Restore(a) => restore::run(&ctx, a).await,
            Command::Config => show_config(&ctx),
            Command::Model(c) => model::run(&ctx, c).await,
            Command::Serve(a) => serve::run(&ctx, a).await,
            Command::Tokens(c) => tokens::run(&ctx, c).await,
            Command::Indicators(c) => indicators::run(&ctx, c).await,
            Command::Bench(crate::cli::BenchCommand::Storage(a)) => bench::storage(&ctx, a).await,
            Command::Bench(crate::cli::BenchCommand::Data(a)) => bench_data::data(&ctx, a).await,
            Command::Bench(crate::cli::BenchCommand::Backtest(a)) => {
                bench_backtest::backtest(&ctx, &a)
            }
            Command::Backtest(a) => backtest::run(&ctx, a).await,
            Command::Sweep(a) => backtest::sweep(&ctx, a).await,
            Command::Walkforward(a) => backtest::walkforward(&ctx, a).await,
            Command::Trade(a) => trade::run(&ctx, a).await,
            Command::Orders(c) => orders::orders(&ctx, c).await,
            Command::Fills(crate::cli::FillsCommand::List) => orders::fills(&ctx).await,
            Command::Positions => orders::positions(&ctx).await,
            Command::Account => orders::account(&ctx).await,
            Command::KillSwitch { action } => orders::kill_switch(&ctx, action).await,
        }
    })
}

fn show_config(ctx: &Ctx) -> Result<()> {
    if ctx.global.json {
        crate::output::print_json(&ctx.config)
    } else {
        print!("{}", toml::to_string_pretty(&ctx.config)?);
        println!(
            "# database url in effect: {}",
            tessera_storage::redact_url(&ctx.config.database_url())
        );
        Ok(())
    }
}
