//! `tessera orders list`, `fills list`, `positions`, `account`, `kill-switch`:
//! what the live and paper trading state holds, read from the database.

use anyhow::{Result, bail};
use serde::Serialize;
use serde_json::{Value, json};
use tessera_execution::stack::KILL_SWITCH_KEY;
use tessera_model::{Order, OrderStatus};
use tessera_storage::StoredOrder;

use crate::cli::{KillSwitchAction, OrdersCommand};
use crate::commands::Ctx;
use crate::output::{print_json, print_table};

fn ts(t: tessera_model::UnixNanos) -> String {
    t.to_string()
}

fn order_json(s: &StoredOrder) -> Value {
    let o: &Order = &s.order;
    let r = &o.request;
    json!({
        "client_order_id": o.client_order_id.as_str(),
        "broker_order_id": o.broker_order_id,
        "broker": s.broker,
        "strategy": r.strategy.as_str(),
        "symbol": r.instrument.symbol.as_str(),
        "venue": r.instrument.venue.as_str(),
        "side": r.side.as_str(),
        "type": r.order_type.as_str(),
        "time_in_force": r.time_in_force.as_str(),
        "quantity": r.quantity.to_string(),
        "limit_price": r.limit_price.map(|p| p.to_string()),
        "stop_price": r.stop_price.map(|p| p.to_string()),
        "status": o.status.as_str(),
        "filled_quantity": o.filled_quantity.to_string(),
        "avg_fill_price": o.avg_fill_price.map(|p| p.normalize().to_string()),
        "created_at": ts(o.created_at),
        "updated_at": ts(o.updated_at),
        "reject_reason": o.reject_reason,
    })
}

/// `tessera orders …`.
pub(crate) async fn orders(ctx: &Ctx, c: OrdersCommand) -> Result<()> {
    let status = match c {
        OrdersCommand::List { status } => status,
        OrdersCommand::Handle {
            account,
            once,
            capital,
        } => {
            return super::order_handler::run(ctx, &account, once, capital).await;
        }
    };
    let status: Option<OrderStatus> = status.map(|s| s.parse()).transpose()?;
    let store = ctx.store().await?;
    let orders = store.orders(status).await?;
    if ctx.global.json {
        return print_json(&orders.iter().map(order_json).collect::<Vec<_>>());
    }
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|s| {
            let o = &s.order;
            vec![
                o.client_order_id.to_string(),
                o.request.strategy.to_string(),
                o.request.instrument.to_string(),
                o.request.side.to_string(),
                o.request.order_type.to_string(),
                o.request.quantity.to_string(),
                o.status.to_string(),
                o.filled_quantity.to_string(),
                o.avg_fill_price
                    .map_or_else(String::new, |p| p.normalize().to_string()),
                o.reject_reason.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print_table(
        &[
            "CLIENT_ORDER_ID",
            "STRATEGY",
            "INSTRUMENT",
            "SIDE",
            "TYPE",
            "QTY",
            "STATUS",
            "FILLED",
            "AVG_PX",
            "REASON",
        ],
        &rows,
    );
    Ok(())
}

/// `tessera fills list`.
pub(crate) async fn fills(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let fills = store.fills().await?;
    if ctx.global.json {
        let v: Vec<Value> = fills
            .iter()
            .map(|s| {
                let f = &s.fill;
                json!({
                    "trade_id": f.trade_id.as_str(),
                    "broker": s.broker,
                    "client_order_id": f.client_order_id.as_str(),
                    "strategy": s.strategy.as_str(),
                    "symbol": f.instrument.symbol.as_str(),
                    "venue": f.instrument.venue.as_str(),
                    "side": f.side.as_str(),
                    "price": f.price.to_string(),
                    "quantity": f.quantity.to_string(),
                    "commission": f.commission.amount.normalize().to_string(),
                    "currency": f.commission.currency.as_str(),
                    "ts_event": ts(f.ts_event),
                })
            })
            .collect();
        return print_json(&v);
    }
    let rows: Vec<Vec<String>> = fills
        .iter()
        .map(|s| {
            let f = &s.fill;
            vec![
                ts(f.ts_event),
                f.trade_id.to_string(),
                f.client_order_id.to_string(),
                f.instrument.to_string(),
                f.side.to_string(),
                f.quantity.to_string(),
                f.price.to_string(),
                f.commission.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "TIME",
            "TRADE_ID",
            "CLIENT_ORDER_ID",
            "INSTRUMENT",
            "SIDE",
            "QTY",
            "PRICE",
            "COMMISSION",
        ],
        &rows,
    );
    Ok(())
}

#[derive(Serialize)]
struct PositionOut {
    strategy: String,
    symbol: String,
    venue: String,
    quantity: String,
    avg_price: String,
    last_price: Option<String>,
    realized_pnl: String,
    unrealized_pnl: Option<String>,
    commissions: String,
    currency: String,
}

/// `tessera positions`.
pub(crate) async fn positions(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let out: Vec<PositionOut> = store
        .positions()
        .await?
        .into_iter()
        .map(|s| {
            let p = &s.position;
            PositionOut {
                strategy: s.strategy.to_string(),
                symbol: p.instrument.symbol.to_string(),
                venue: p.instrument.venue.to_string(),
                quantity: p.quantity.normalize().to_string(),
                avg_price: p.avg_price.normalize().to_string(),
                last_price: s.last_price.map(|x| x.to_string()),
                realized_pnl: p.realized_pnl.amount.normalize().to_string(),
                unrealized_pnl: s
                    .last_price
                    .and_then(|m| p.unrealized_pnl(m).ok())
                    .map(|m| m.amount.normalize().to_string()),
                commissions: p.commissions.amount.normalize().to_string(),
                currency: p.realized_pnl.currency.to_string(),
            }
        })
        .collect();
    if ctx.global.json {
        return print_json(&out);
    }
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|p| {
            vec![
                p.strategy.clone(),
                format!("{}.{}", p.symbol, p.venue),
                p.quantity.clone(),
                p.avg_price.clone(),
                p.last_price.clone().unwrap_or_default(),
                p.realized_pnl.clone(),
                p.unrealized_pnl.clone().unwrap_or_default(),
                p.currency.clone(),
            ]
        })
        .collect();
    print_table(
        &[
            "STRATEGY",
            "INSTRUMENT",
            "QTY",
            "AVG_PRICE",
            "LAST",
            "REALIZED",
            "UNREALIZED",
            "CCY",
        ],
        &rows,
    );
    Ok(())
}

/// `tessera account`: the latest account value per account and strategy.
pub(crate) async fn account(ctx: &Ctx) -> Result<()> {
    let store = ctx.store().await?;
    let snaps = store.latest_account_snapshots().await?;
    let v: Vec<Value> = snaps
        .iter()
        .map(|s| {
            json!({
                "account": s.account,
                "strategy": if s.strategy.is_empty() { None } else { Some(&s.strategy) },
                "ts": ts(s.ts),
                "currency": s.equity.currency.as_str(),
                "equity": s.equity.amount.normalize().to_string(),
                "cash": s.cash.amount.normalize().to_string(),
                "realized_pnl": s.realized_pnl.amount.normalize().to_string(),
                "unrealized_pnl": s.unrealized_pnl.amount.normalize().to_string(),
            })
        })
        .collect();
    if ctx.global.json {
        return print_json(&v);
    }
    let rows: Vec<Vec<String>> = snaps
        .iter()
        .map(|s| {
            vec![
                s.account.clone(),
                if s.strategy.is_empty() {
                    "(account)".into()
                } else {
                    s.strategy.clone()
                },
                ts(s.ts),
                s.equity.to_string(),
                s.cash.to_string(),
                s.realized_pnl.to_string(),
                s.unrealized_pnl.to_string(),
            ]
        })
        .collect();
    print_table(
        &[
            "ACCOUNT",
            "STRATEGY",
            "AS_OF",
            "EQUITY",
            "CASH",
            "REALIZED",
            "UNREALIZED",
        ],
        &rows,
    );
    Ok(())
}

/// `tessera kill-switch on|off|status`. A running `trade` notices within its
/// reconciliation period, cancels every open order and sends no new one.
pub(crate) async fn kill_switch(ctx: &Ctx, action: KillSwitchAction) -> Result<()> {
    let store = ctx.store().await?;
    match action {
        KillSwitchAction::On => store.set_state(KILL_SWITCH_KEY, "on").await?,
        KillSwitchAction::Off => store.set_state(KILL_SWITCH_KEY, "off").await?,
        KillSwitchAction::Status => {}
    }
    let on = match store.state(KILL_SWITCH_KEY).await?.as_deref() {
        Some("on") => true,
        None | Some("off") => false,
        Some(other) => bail!("stored kill switch value {other:?} is neither on nor off"),
    };
    if ctx.global.json {
        return print_json(&json!({ "kill_switch": if on { "on" } else { "off" } }));
    }
    println!("kill switch: {}", if on { "on" } else { "off" });
    Ok(())
}
