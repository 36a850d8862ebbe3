//! `tessera instruments add|list|show|remove`

use anyhow::{Context, Result, bail};
use rust_decimal::Decimal;
use serde::Serialize;
use tessera_model::{
    Currency, Instrument, InstrumentId, InstrumentKind, Price, Quantity, Symbol, Venue,
};

use super::Ctx;
use crate::cli::{AddInstrumentArgs, InstrumentsCommand};
use crate::output::{print_json, print_table};

/// The JSON shape of an instrument (a contract: scripts read these keys).
#[derive(Serialize)]
pub(crate) struct InstrumentJson {
    symbol: String,
    venue: String,
    kind: String,
    currency: String,
    base_currency: Option<String>,
    tick_size: String,
    lot_size: String,
    min_quantity: String,
    multiplier: String,
    timezone: String,
    active: bool,
}

impl From<&Instrument> for InstrumentJson {
    fn from(i: &Instrument) -> Self {
        Self {
            symbol: i.id.symbol.to_string(),
            venue: i.id.venue.to_string(),
            kind: i.kind.to_string(),
            currency: i.quote_currency.to_string(),
            base_currency: i.base_currency.map(|c| c.to_string()),
            tick_size: i.tick_size.to_string(),
            lot_size: i.lot_size.to_string(),
            min_quantity: i.min_quantity.to_string(),
            multiplier: i.multiplier.to_string(),
            timezone: i.timezone.clone(),
            active: i.active,
        }
    }
}

/// Build the instrument `instruments add` describes: the kind's defaults, then the flags.
fn instrument_from_args(a: &AddInstrumentArgs) -> Result<Instrument> {
    let id = InstrumentId::new(Symbol::new(&a.symbol)?, Venue::new(&a.venue)?);
    let kind: InstrumentKind = a.kind.into();
    let mut inst = match Instrument::with_defaults(id, kind) {
        Ok(i) => i,
        // A crypto/fx symbol we cannot split is fine when the currencies are given.
        Err(_) if a.currency.is_some() => {
            let mut i = Instrument::with_defaults(id, InstrumentKind::Equity)?;
            i.kind = kind;
            i.timezone = "UTC".into();
            i
        }
        Err(e) => return Err(e.into()),
    };
    if let Some(c) = &a.currency {
        inst.quote_currency = Currency::new(c).context("--currency")?;
    }
    if let Some(c) = &a.base_currency {
        inst.base_currency = Some(Currency::new(c).context("--base-currency")?);
    }
    if let Some(t) = &a.tick_size {
        inst.tick_size = Price::parse(t).context("--tick-size")?;
    }
    if let Some(l) = &a.lot_size {
        inst.lot_size = Quantity::parse(l).context("--lot-size")?;
        inst.min_quantity = inst.lot_size;
    }
    if let Some(m) = &a.min_quantity {
        inst.min_quantity = Quantity::parse(m).context("--min-quantity")?;
    }
    if let Some(m) = &a.multiplier {
        inst.multiplier = Decimal::from_str_exact(m.trim())
            .map_err(|e| anyhow::anyhow!("--multiplier {m:?}: not a decimal number ({e})"))?;
    }
    if let Some(tz) = &a.timezone {
        inst.timezone = tz.clone();
    }
    inst.active = !a.inactive;
    if kind == InstrumentKind::Equity || kind == InstrumentKind::Future {
        inst.base_currency = None;
    } else if inst.base_currency.is_none() {
        bail!(
            "{} {}: pass --base-currency (cannot split the symbol)",
            kind,
            a.symbol
        );
    }
    inst.validate()?;
    Ok(inst)
}

pub(crate) async fn run(ctx: &Ctx, cmd: InstrumentsCommand) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        InstrumentsCommand::Add(args) => {
            let inst = instrument_from_args(&args)?;
            store.add_instrument(&inst).await?;
            if ctx.global.json {
                print_json(&InstrumentJson::from(&inst))?;
            } else {
                println!(
                    "added {} ({}, {}, tick {}, lot {}, multiplier {})",
                    inst.id,
                    inst.kind,
                    inst.quote_currency,
                    inst.tick_size,
                    inst.lot_size,
                    inst.multiplier
                );
            }
        }
        InstrumentsCommand::List => {
            let all = store.list_instruments().await?;
            if ctx.global.json {
                print_json(&all.iter().map(InstrumentJson::from).collect::<Vec<_>>())?;
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .map(|i| {
                        vec![
                            i.id.symbol.to_string(),
                            i.id.venue.to_string(),
                            i.kind.to_string(),
                            i.quote_currency.to_string(),
                            i.tick_size.to_string(),
                            i.lot_size.to_string(),
                            i.multiplier.to_string(),
                            if i.active { "yes" } else { "no" }.to_string(),
                        ]
                    })
                    .collect();
                print_table(
                    &[
                        "SYMBOL",
                        "VENUE",
                        "KIND",
                        "CURRENCY",
                        "TICK",
                        "LOT",
                        "MULTIPLIER",
                        "ACTIVE",
                    ],
                    &rows,
                );
            }
        }
        InstrumentsCommand::Show(r) => {
            let venue = r.venue.as_deref().map(Venue::new).transpose()?;
            let inst = store
                .find_instrument(Symbol::new(&r.symbol)?, venue)
                .await?;
            if ctx.global.json {
                print_json(&InstrumentJson::from(&inst))?;
            } else {
                let j = serde_json::to_value(InstrumentJson::from(&inst))?;
                for (k, v) in j.as_object().into_iter().flatten() {
                    let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                    println!("{k:<14} {v}");
                }
            }
        }
        InstrumentsCommand::Remove { instrument, force } => {
            let venue = instrument.venue.as_deref().map(Venue::new).transpose()?;
            let inst = store
                .find_instrument(Symbol::new(&instrument.symbol)?, venue)
                .await?;
            let report = store.remove_instrument(&inst.id, force).await?;
            if ctx.global.json {
                print_json(
                    &serde_json::json!({"removed": inst.id.to_string(), "bars": report.bars, "quotes": report.quotes}),
                )?;
            } else {
                println!(
                    "removed {} ({} bars, {} quotes deleted)",
                    inst.id, report.bars, report.quotes
                );
            }
        }
    }
    store.close().await;
    Ok(())
}
