//! `tessera model …`: train, list, show, promote, importance, predict, import-onnx, serve.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use tessera_core::{SystemClock, TimeRange, UnixNanos};
use tessera_indicators::features::{FeatureSet, SymbolBars, Target};
use tessera_ml::artefact::{ArtefactConfig, ArtefactStore};
use tessera_ml::dataset::{Dataset, read_features_csv, read_ohlcv_csv};
use tessera_ml::registry::{Registry, TrainMeta, metrics_json, panel_from_store, parse_ref};
use tessera_ml::train::{task_for, train};
use tessera_ml::{Kind, Params, Prediction, SplitSpec, Task};
use tessera_storage::MlModel;

use super::Ctx;
use crate::output::{print_json, print_table};

/// `tessera model`: the ML model registry.
#[derive(Debug, Subcommand)]
pub(crate) enum ModelCommand {
    /// Train a model on features of bars, evaluate it, and register it as the next version.
    Train(TrainArgs),
    /// List registered models (every version).
    List,
    /// Show a model: metadata, parameters, features, metrics per evaluation, importance.
    Show {
        /// `NAME` (production, else latest version) or `NAME@VERSION`.
        reference: String,
    },
    /// Put `NAME@VERSION` in production (the previous production version is archived).
    Promote {
        /// `NAME@VERSION`.
        reference: String,
    },
    /// Feature importance: model-native and permutation, per ticker.
    Importance {
        /// `NAME` or `NAME@VERSION`.
        reference: String,
    },
    /// Predict with a model and write `timestamp,prediction[,prob_<class>…]` CSV.
    Predict(PredictArgs),
    /// Register a model trained elsewhere from its ONNX file.
    ImportOnnx(ImportOnnxArgs),
    /// Run the prediction service: score each new closed bar with every production model.
    Serve(ServeArgs),
}

/// Where bars come from: a CSV file or the database.
#[derive(Debug, Args, Clone)]
pub(crate) struct DataArgs {
    /// OHLCV CSV file with header `timestamp,open,high,low,close,volume`.
    #[arg(long, value_name = "FILE", conflicts_with = "venue")]
    pub(crate) csv: Option<PathBuf>,
    /// Symbol(s) to read from the database (repeat, or comma list); names the CSV's symbol.
    #[arg(long = "symbol", value_name = "SYMBOL", value_delimiter = ',')]
    pub(crate) symbols: Vec<String>,
    /// Venue of the symbols in the database.
    #[arg(long)]
    pub(crate) venue: Option<String>,
    /// Bar interval in the database (`1m`, `1h`, `1d`).
    #[arg(long)]
    pub(crate) interval: Option<String>,
    /// First bar time included (indicators still warm up on earlier bars).
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// First bar time excluded.
    #[arg(long)]
    pub(crate) to: Option<String>,
}

/// `tessera model train`.
#[derive(Debug, Args)]
pub(crate) struct TrainArgs {
    /// Model name (versions are numbered per name).
    #[arg(long)]
    pub(crate) name: String,
    /// ridge | logistic | kmeans | gbt.
    #[arg(long)]
    pub(crate) kind: String,
    /// Feature specs, comma separated (a comma followed by a digit continues the previous
    /// spec: `rsi:14,macd:12,26,9,ret:1`); may be repeated.
    #[arg(long, required = true)]
    pub(crate) features: Vec<String>,
    /// fwd_ret:H (regression) or fwd_sign:H (classification); optional for kmeans.
    #[arg(long)]
    pub(crate) target: Option<String>,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Model parameter KEY=VALUE (repeat).
    #[arg(long = "param", value_name = "K=V")]
    pub(crate) params: Vec<String>,
    /// Hold out the last fraction of the time grid for testing (default 0.2).
    #[arg(long, conflicts_with = "walk_forward")]
    pub(crate) test_fraction: Option<f64>,
    /// Walk-forward folds: TRAIN,TEST window lengths in bars.
    #[arg(long, value_name = "TRAIN,TEST")]
    pub(crate) walk_forward: Option<String>,
    /// Embargo in bars after each test window (default: the target horizon).
    #[arg(long)]
    pub(crate) embargo: Option<usize>,
}

/// `tessera model predict`.
#[derive(Debug, Args)]
pub(crate) struct PredictArgs {
    /// `NAME` or `NAME@VERSION`.
    pub(crate) reference: String,
    /// CSV with a `timestamp` column and one column per model feature.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["csv", "venue"])]
    pub(crate) features_csv: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) data: DataArgs,
    /// Output CSV file.
    #[arg(long, value_name = "FILE")]
    pub(crate) output: PathBuf,
}

/// `tessera model import-onnx`.
#[derive(Debug, Args)]
pub(crate) struct ImportOnnxArgs {
    /// The .onnx file.
    pub(crate) file: PathBuf,
    /// Model name.
    #[arg(long)]
    pub(crate) name: String,
    /// Input feature names in the graph's column order, comma separated.
    #[arg(long, required = true, value_delimiter = ',')]
    pub(crate) features: Vec<String>,
    /// regression | classification (default: from the graph).
    #[arg(long)]
    pub(crate) kind: Option<String>,
}

/// `tessera model serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Venue whose bars feed the production models.
    #[arg(long)]
    pub(crate) venue: String,
    /// Bar interval (`1m`).
    #[arg(long, default_value = "1m")]
    pub(crate) interval: String,
    /// Seconds between polls of the database for new bars.
    #[arg(long, default_value_t = 5.0)]
    pub(crate) poll_seconds: f64,
    /// Score the bars available now and exit (for cron-style runs and tests).
    #[arg(long)]
    pub(crate) once: bool,
}

/// The artefact store the configuration describes.
pub(crate) fn artefacts(ctx: &Ctx) -> Result<ArtefactStore> {
    let a = &ctx.config.artefacts;
    let url = if a.url.is_empty() {
        ctx.config.data_dir.join("artefacts").display().to_string()
    } else {
        a.url.clone()
    };
    ArtefactStore::open(&ArtefactConfig {
        url,
        namespace: a.namespace.clone(),
        s3_endpoint: a.s3_endpoint.clone(),
        s3_region: a.s3_region.clone(),
        s3_access_key_id: a.s3_access_key_id.clone(),
        s3_secret_access_key: a.s3_secret_access_key.clone(),
    })
    .context("cannot open the artefact store")
}

async fn registry(ctx: &Ctx) -> Result<Registry> {
    Ok(Registry::new(
        ctx.store().await?,
        artefacts(ctx)?,
        Arc::new(SystemClock),
    ))
}

pub(crate) async fn run(ctx: &Ctx, cmd: ModelCommand) -> Result<()> {
    match cmd {
        ModelCommand::Train(a) => train_cmd(ctx, a).await,
        ModelCommand::List => list(ctx).await,
        ModelCommand::Show { reference } => show(ctx, &reference).await,
        ModelCommand::Promote { reference } => promote(ctx, &reference).await,
        ModelCommand::Importance { reference } => importance(ctx, &reference).await,
        ModelCommand::Predict(a) => predict(ctx, a).await,
        ModelCommand::ImportOnnx(a) => import_onnx(ctx, a).await,
        ModelCommand::Serve(a) => serve(ctx, a).await,
    }
}

fn parse_time(s: Option<&str>, flag: &str) -> Result<Option<UnixNanos>> {
    s.map(|v| UnixNanos::parse(v).with_context(|| format!("--{flag} {v:?}")))
        .transpose()
}

/// Bars (whole history up to `--to`, so indicators warm up) and the row range `--from/--to`.
/// Also returns the CSV's own timestamp strings, so output echoes them unchanged.
async fn load_panel(
    ctx: &Ctx,
    d: &DataArgs,
) -> Result<(
    Vec<SymbolBars>,
    Option<TimeRange>,
    serde_json::Value,
    Option<BTreeMap<UnixNanos, String>>,
)> {
    let from = parse_time(d.from.as_deref(), "from")?;
    let to = parse_time(d.to.as_deref(), "to")?;
    let range = if from.is_some() || to.is_some() {
        Some(TimeRange::from_bounds(from, to)?)
    } else {
        None
    };
    if let Some(path) = &d.csv {
        let symbol = d.symbols.first().cloned().unwrap_or_else(|| {
            path.file_stem()
                .map_or_else(|| "csv".to_owned(), |s| s.to_string_lossy().into_owned())
        });
        let bars = read_ohlcv_csv(path, &symbol)?;
        let stamps = raw_timestamps(path)?;
        let labels: BTreeMap<UnixNanos, String> =
            bars.timestamps.iter().copied().zip(stamps).collect();
        let query = serde_json::json!({ "source": "csv", "file": path.display().to_string(), "symbol": symbol, "from": d.from, "to": d.to });
        return Ok((vec![bars], range, query, Some(labels)));
    }
    let (Some(venue), false) = (&d.venue, d.symbols.is_empty()) else {
        bail!("give --csv FILE, or --symbol S… with --venue V and --interval I");
    };
    let Some(interval) = &d.interval else {
        bail!("--interval is required with --venue")
    };
    let store = ctx.store().await?;
    let load_range = TimeRange::from_bounds(None, to)?;
    let panel = panel_from_store(&store, &d.symbols, venue, interval, load_range).await?;
    let query = serde_json::json!({ "source": "store", "symbols": d.symbols, "venue": venue, "interval": interval, "from": d.from, "to": d.to });
    Ok((panel, range, query, None))
}

/// The first column of each data line of a CSV file, as written.
fn raw_timestamps(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .trim_matches('"')
                .to_owned()
        })
        .collect())
}

fn split_spec(a: &TrainArgs) -> Result<Option<SplitSpec>> {
    if let Some(wf) = &a.walk_forward {
        let (tr, te) = wf
            .split_once(',')
            .context("--walk-forward takes TRAIN,TEST (bars)")?;
        let train: usize = tr
            .trim()
            .parse()
            .context("--walk-forward TRAIN must be a whole number of bars")?;
        let test: usize = te
            .trim()
            .parse()
            .context("--walk-forward TEST must be a whole number of bars")?;
        return Ok(Some(SplitSpec::WalkForward { train, test }));
    }
    Ok(a.test_fraction
        .map(|fraction| SplitSpec::Holdout { fraction }))
}

async fn train_cmd(ctx: &Ctx, a: TrainArgs) -> Result<()> {
    let kind = Kind::parse(&a.kind)?;
    if kind == Kind::Onnx {
        bail!("onnx models are imported with `tessera model import-onnx`, not trained");
    }
    let features = FeatureSet::from_exprs(&a.features)?;
    let target = match (&a.target, kind) {
        (Some(t), _) => Some(Target::parse(t)?),
        (None, Kind::Kmeans) => None,
        (None, _) => bail!(
            "--target fwd_ret:H or fwd_sign:H is required for {}",
            kind.as_str()
        ),
    };
    let params = Params::parse(&a.params)?;
    let split = split_spec(&a)?;
    let (panel, range, query, _) = load_panel(ctx, &a.data).await?;
    let ds = Dataset::build(&panel, &features, target, range)?;
    let task = task_for(kind, matches!(target, Some(Target::FwdSign(_))));
    let embargo = a.embargo.unwrap_or(ds.horizon);
    let trained = train(&ds, kind, task, &params, split, embargo)?;
    let (data_from, data_to) = ds.time_span().unwrap_or_default();
    let mut query = query;
    query["split"] = serde_json::to_value(split.unwrap_or(SplitSpec::Holdout { fraction: 0.2 }))?;
    query["embargo"] = serde_json::json!(embargo);
    query["rows"] = serde_json::json!(ds.len());
    let meta = TrainMeta {
        name: a.name.clone(),
        feature_set: a.features.join(","),
        features: ds.features.clone(),
        target: a.target.as_deref().unwrap_or_default().trim().to_owned(),
        horizon: ds.horizon,
        symbols: ds.symbols.clone(),
        venue: a.data.venue.clone().unwrap_or_default(),
        interval: a.data.interval.clone().unwrap_or_default(),
        data_from,
        data_to,
        data_query: query,
        params: params.clone(),
    };
    let row = registry(ctx).await?.register(&trained, &meta).await?;
    let evaluations: Vec<serde_json::Value> = trained
        .evaluations
        .iter()
        .map(|e| serde_json::json!({ "name": e.name, "fold": e.fold, "rows": e.rows, "from": e.from.to_rfc3339(), "to": e.to.to_rfc3339(), "metrics": metrics_json(&e.metrics) }))
        .collect();
    let out = serde_json::json!({
        "name": row.name,
        "version": row.version,
        "execution_id": row.execution_id,
        "kind": row.kind,
        "task": row.task,
        "stage": row.stage,
        "features": ds.features,
        "target": row.target,
        "rows": ds.len(),
        "metrics": metrics_json(&trained.headline()),
        "evaluations": evaluations,
        "artefact": row.artefact_uri,
    });
    if ctx.global.json {
        return print_json(&out);
    }
    println!(
        "trained {}@{} ({}, {}) execution {}",
        row.name, row.version, row.kind, row.task, row.execution_id
    );
    println!("rows {} features {}", ds.len(), ds.features.join(","));
    for e in &trained.evaluations {
        let mut line = format!("{:<8} rows {:>7}", e.name, e.rows);
        for (k, v) in &e.metrics {
            let _ = write!(line, "  {k} {v:.6}"); // writing to a String cannot fail
        }
        println!("{line}");
    }
    Ok(())
}

fn model_json(m: &MlModel) -> serde_json::Value {
    let mut v = serde_json::to_value(m).unwrap_or_default();
    v["metrics"] = serde_json::from_str(&m.metrics).unwrap_or_default();
    v["data_query"] = serde_json::from_str(&m.data_query).unwrap_or_default();
    v["created_at"] = serde_json::json!(m.created_at.to_rfc3339());
    v["data_from"] = serde_json::json!(m.data_from.to_rfc3339());
    v["data_to"] = serde_json::json!(m.data_to.to_rfc3339());
    v
}

async fn list(ctx: &Ctx) -> Result<()> {
    let models = ctx.store().await?.list_ml_models().await?;
    if ctx.global.json {
        return print_json(&models.iter().map(model_json).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                m.name.clone(),
                m.version.to_string(),
                m.kind.clone(),
                m.task.clone(),
                m.stage.clone(),
                m.created_at.to_rfc3339(),
                m.symbols.clone(),
                m.execution_id.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "NAME",
            "VERSION",
            "KIND",
            "TASK",
            "STAGE",
            "CREATED",
            "SYMBOLS",
            "EXECUTION_ID",
        ],
        &rows,
    );
    Ok(())
}

async fn show(ctx: &Ctx, reference: &str) -> Result<()> {
    let (name, version) = parse_ref(reference)?;
    let store = ctx.store().await?;
    let m = store.ml_model(&name, version).await?;
    let d = store.ml_model_details(&m.execution_id).await?;
    let backtests = store.ml_model_backtests(&m.execution_id).await?;
    let mut evals: BTreeMap<(u8, i64, String), serde_json::Value> = BTreeMap::new();
    for p in &d.performance {
        let order = match p.evaluation.as_str() {
            "train" => 0,
            "test" => 1,
            _ => 2,
        };
        let e = evals.entry((order, p.fold.unwrap_or(0), p.evaluation.clone())).or_insert_with(|| {
            serde_json::json!({ "name": p.evaluation, "fold": p.fold, "rows": p.rows, "from": p.data_from.to_rfc3339(), "to": p.data_to.to_rfc3339(), "metrics": {} })
        });
        e["metrics"][&p.metric] = if p.value.is_finite() {
            serde_json::json!(p.value)
        } else {
            serde_json::Value::Null
        };
    }
    let mut v = model_json(&m);
    v["params"] = serde_json::Value::Object(
        d.params
            .iter()
            .map(|(k, x)| (k.clone(), serde_json::json!(x)))
            .collect(),
    );
    v["features"] = serde_json::json!(d.features);
    v["evaluations"] = serde_json::json!(evals.into_values().collect::<Vec<_>>());
    v["importance"] = serde_json::to_value(&d.importance)?;
    v["backtests"] = serde_json::json!(backtests);
    if ctx.global.json {
        return print_json(&v);
    }
    println!(
        "{}@{}  {} {}  stage {}",
        m.name, m.version, m.kind, m.task, m.stage
    );
    println!("execution id  {}", m.execution_id);
    println!("created       {}", m.created_at.to_rfc3339());
    println!(
        "data          {} .. {}  symbols {}  venue {}  interval {}",
        m.data_from.to_rfc3339(),
        m.data_to.to_rfc3339(),
        m.symbols,
        m.venue,
        m.interval
    );
    println!("features      {}", d.features.join(","));
    println!("target        {}", m.target);
    println!(
        "params        {}",
        d.params
            .iter()
            .map(|(k, x)| format!("{k}={x}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "artefact      {} (sha256 {})",
        m.artefact_uri, m.artefact_sha256
    );
    println!("metrics       {}", m.metrics);
    for e in v["evaluations"].as_array().into_iter().flatten() {
        println!(
            "  {:<8} rows {:>7}  {}",
            e["name"].as_str().unwrap_or(""),
            e["rows"],
            e["metrics"]
        );
    }
    print_importance(&d.importance);
    if !backtests.is_empty() {
        println!("backtests     {}", backtests.join(", "));
    }
    Ok(())
}

fn print_importance(imp: &[tessera_storage::MlImportance]) {
    let rows: Vec<Vec<String>> = imp
        .iter()
        .map(|i| {
            vec![
                i.method.clone(),
                i.symbol.clone(),
                i.feature.clone(),
                format!("{:.6e}", i.value),
            ]
        })
        .collect();
    print_table(&["METHOD", "SYMBOL", "FEATURE", "VALUE"], &rows);
}

async fn promote(ctx: &Ctx, reference: &str) -> Result<()> {
    let (name, version) = parse_ref(reference)?;
    let Some(version) = version else {
        bail!("promote needs NAME@VERSION")
    };
    let m = ctx.store().await?.promote_ml_model(&name, version).await?;
    if ctx.global.json {
        return print_json(&model_json(&m));
    }
    println!("{}@{} is now in production", m.name, m.version);
    Ok(())
}

async fn importance(ctx: &Ctx, reference: &str) -> Result<()> {
    let (name, version) = parse_ref(reference)?;
    let store = ctx.store().await?;
    let m = store.ml_model(&name, version).await?;
    let d = store.ml_model_details(&m.execution_id).await?;
    if ctx.global.json {
        return print_json(
            &serde_json::json!({ "name": m.name, "version": m.version, "execution_id": m.execution_id, "importance": d.importance }),
        );
    }
    println!("{}@{}", m.name, m.version);
    print_importance(&d.importance);
    Ok(())
}

fn class_label(c: f64) -> String {
    if c.fract() == 0.0 {
        format!("{}", c as i64)
    } else {
        format!("{c}")
    }
}

async fn predict(ctx: &Ctx, a: PredictArgs) -> Result<()> {
    let reg = registry(ctx).await?;
    let (row, loaded) = reg.load(&a.reference).await?;
    let model = &loaded.model;
    let (labels, symbols, preds): (Vec<String>, Vec<String>, Vec<Prediction>) = if let Some(path) =
        &a.features_csv
    {
        let (stamps, x) = read_features_csv(path, &loaded.meta.features)?;
        let preds = model.predict_batch(&x)?;
        (stamps, Vec::new(), preds)
    } else {
        if loaded.meta.feature_set.is_empty() {
            bail!(
                "{}@{} has no feature set to compute from bars; pass --features-csv",
                row.name,
                row.version
            );
        }
        let fs = FeatureSet::parse(&loaded.meta.feature_set).context("the model's feature set")?;
        let (panel, range, _, raw) = load_panel(ctx, &a.data).await?;
        let ds = Dataset::build(&panel, &fs, None, range)?;
        if ds.features != loaded.meta.features {
            bail!(
                "features computed ({}) differ from the model's ({})",
                ds.features.join(","),
                loaded.meta.features.join(",")
            );
        }
        let preds = model.predict_batch(&ds.x)?;
        let labels = ds
            .timestamps
            .iter()
            .map(|t| {
                raw.as_ref()
                    .and_then(|r| r.get(t).cloned())
                    .unwrap_or_else(|| t.to_rfc3339())
            })
            .collect();
        let symbols = if ds.symbols.len() > 1 {
            ds.symbol_idx
                .iter()
                .map(|&s| ds.symbols[s].clone())
                .collect()
        } else {
            Vec::new()
        };
        (labels, symbols, preds)
    };
    let classes = if model.task() == Task::Classification {
        model.classes()
    } else {
        Vec::new()
    };
    let mut out = String::from("timestamp");
    if !symbols.is_empty() {
        out.push_str(",symbol");
    }
    out.push_str(",prediction");
    for c in &classes {
        let _ = write!(out, ",prob_{}", class_label(*c)); // writing to a String cannot fail
    }
    out.push('\n');
    for (i, p) in preds.iter().enumerate() {
        out.push_str(&labels[i]);
        if let Some(s) = symbols.get(i) {
            out.push(',');
            out.push_str(s);
        }
        let value = if classes.is_empty() {
            format!("{}", p.value)
        } else {
            class_label(p.value)
        };
        let _ = write!(out, ",{value}"); // writing to a String cannot fail
        for v in &p.probs {
            let _ = write!(out, ",{v}"); // writing to a String cannot fail
        }
        out.push('\n');
    }
    std::fs::write(&a.output, out)
        .with_context(|| format!("cannot write {}", a.output.display()))?;
    if ctx.global.json {
        return print_json(
            &serde_json::json!({ "name": row.name, "version": row.version, "execution_id": row.execution_id, "rows": preds.len(), "output": a.output.display().to_string() }),
        );
    }
    println!(
        "{} predictions of {}@{} written to {}",
        preds.len(),
        row.name,
        row.version,
        a.output.display()
    );
    Ok(())
}

async fn import_onnx(ctx: &Ctx, a: ImportOnnxArgs) -> Result<()> {
    let bytes =
        std::fs::read(&a.file).with_context(|| format!("cannot read {}", a.file.display()))?;
    let task = match a.kind.as_deref() {
        None => None,
        Some("regression") => Some(Task::Regression),
        Some("classification") => Some(Task::Classification),
        Some(other) => bail!("--kind {other}: expected regression or classification"),
    };
    let features: Vec<String> = a
        .features
        .iter()
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .collect();
    let row = registry(ctx)
        .await?
        .import_onnx(
            &a.name,
            &bytes,
            &features,
            task,
            &a.file.display().to_string(),
        )
        .await?;
    let out = serde_json::json!({ "name": row.name, "version": row.version, "execution_id": row.execution_id, "kind": row.kind, "task": row.task, "features": features, "metrics": {} });
    if ctx.global.json {
        return print_json(&out);
    }
    println!(
        "imported {}@{} ({}, {}) execution {}",
        row.name, row.version, row.kind, row.task, row.execution_id
    );
    Ok(())
}

async fn serve(ctx: &Ctx, a: ServeArgs) -> Result<()> {
    let reg = registry(ctx).await?;
    let mut service = tessera_ml::service::PredictionService::start(
        reg,
        &a.venue,
        &a.interval,
        Arc::new(SystemClock),
    )
    .await?;
    loop {
        let stored = service.poll().await?;
        if stored > 0 || a.once {
            tracing::info!(stored, "predictions stored");
        }
        if a.once {
            if ctx.global.json {
                return print_json(
                    &serde_json::json!({ "stored": stored, "models": service.models() }),
                );
            }
            println!("{stored} predictions stored");
            return Ok(());
        }
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_secs_f64(a.poll_seconds.max(0.1))) => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// A `model` strategy for `tessera backtest`: resolves `--param model=NAME[@VERSION]` through
/// the registry (artefact checked by hash) and returns the strategy, the model's registry row
/// (the run is linked to its execution id) and the parameters with `model` pinned to the
/// resolved `NAME@VERSION`, so the stored run says exactly which version traded.
pub(crate) async fn backtest_strategy(
    ctx: &Ctx,
    params: &tessera_strategy::Params,
    series: &tessera_engine::BarSeries,
) -> Result<(
    Box<dyn tessera_strategy::Strategy>,
    MlModel,
    tessera_strategy::Params,
)> {
    let Some(reference) = params.0.get("model") else {
        bail!("the model strategy needs --param model=NAME[@VERSION] (see `tessera model list`)")
    };
    let (row, loaded) = registry(ctx)
        .await?
        .load(reference)
        .await
        .with_context(|| format!("cannot load model {reference}"))?;
    let mut bars = SymbolBars {
        symbol: series.instrument.id.to_string(),
        ..SymbolBars::default()
    };
    for i in 0..series.len() {
        let v = series.values(i);
        bars.timestamps.push(series.bar(i).close_time());
        bars.open.push(v.open);
        bars.high.push(v.high);
        bars.low.push(v.low);
        bars.close.push(v.close);
        bars.volume.push(v.volume);
    }
    let strategy =
        tessera_ml::strategy::ModelStrategy::new(loaded, params)?.with_warmup_from(&bars)?;
    let pinned = params
        .clone()
        .with("model", format!("{}@{}", row.name, row.version));
    Ok((Box::new(strategy), row, pinned))
}

/// A `model` strategy for `tessera trade` (the demo's paper trader under `tessera up`):
/// resolves `--param model=NAME[@VERSION]` through the registry; its features warm up on the
/// first live bars (it trades the first instrument it sees).
pub(crate) async fn live_strategy(
    ctx: &Ctx,
    params: &tessera_strategy::Params,
) -> Result<Box<dyn tessera_strategy::Strategy>> {
    let Some(reference) = params.0.get("model") else {
        bail!("the model strategy needs --param model=NAME[@VERSION] (see `tessera model list`)")
    };
    let (row, loaded) = registry(ctx)
        .await?
        .load(reference)
        .await
        .with_context(|| format!("cannot load model {reference}"))?;
    tracing::info!(model = %format!("{}@{}", row.name, row.version), "trading the model strategy");
    Ok(Box::new(tessera_ml::strategy::ModelStrategy::new(
        loaded, params,
    )?))
}

/// Sweeps and walk-forward build strategies by name in parallel worker threads and cannot
/// load a registry model there; refuse clearly instead of "unknown strategy".
pub(crate) fn refuse_in_sweep(strategy: &str, command: &str) -> Result<()> {
    if strategy == tessera_ml::strategy::NAME {
        bail!(
            "`tessera {command}` does not support the model strategy: sweeps build strategies by \
             name in worker threads and cannot load a registry model. Run `tessera backtest \
             --strategy model --param model=NAME@VERSION --param long_threshold=X` per setting, \
             and walk-forward the model itself with `tessera model train --walk-forward TRAIN,TEST`"
        );
    }
    Ok(())
}
