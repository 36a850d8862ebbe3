//! The crash test of the netted order path: `tessera trade --broker alpaca`
//! with three strategies on one account (`--also`), so their market orders
//! of one event are netted into one instrument order per instrument (crosses
//! booked internally), against the Alpaca-protocol test server in this test
//! process (a separate process from the engine, state in a file, partial
//! fills on, duplicates accepted so a double send would show). The engine is
//! SIGKILLed at random moments and inside the two windows of the netted
//! path, made hittable with `TESSERA_FAILPOINT`: an instrument order stored
//! (with its allocations) but not yet posted (`before_send`), and broker
//! fills received but not yet allocated to the strategy orders
//! (`fill_before_book`). At the end: no client order id twice at the server,
//! every order at the server is a stored instrument order, every stored
//! instrument order is known to the server or marked never sent, no order
//! left created/submitted, the strategy fills derived from broker fills add
//! up to the server's executions, and the per-strategy positions sum to the
//! server's position. On SQLite and PostgreSQL.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use tessera_model::OrderStatus;
use tessera_storage::testing::TestDb;

use common::alpaca::{
    at_server, check_orders_against_server, crash_server, final_recovery, kill_loop,
};

const KILLS: usize = 12;

async fn crash_story(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = crash_server(dir.path()).await;
    let mut args = common::sma_cross_trade("AAPL", "sim", "alpaca", "100000");
    args.extend(
        [
            // Fixed units: strategies of one engine see the account's position, so
            // equity-fraction entries that close "their" position would compound.
            "--param",
            "size=1",
            "--name",
            "trend",
            "--also",
            "revert=rsi_reversion,period=2,lower=40,upper=60,exit=50,mode=long_short,size=2@100000",
            "--also",
            "slow=sma_cross,fast=3,slow=5,size=3@100000",
        ]
        .map(String::from),
    );
    let started = kill_loop(
        db,
        dir.path(),
        &server,
        &args,
        0x0dd_5eed_beef_f00d,
        KILLS,
        2,
    )
    .await;
    let (inst, st) = final_recovery(db, &server).await;
    let store = db.store();
    let at_server = at_server(&st);
    let instrument_orders = store.instrument_orders("alpaca", false).await.unwrap();
    assert!(
        instrument_orders.len() >= 5,
        "too few instrument orders to mean anything: {}",
        instrument_orders.len()
    );
    let orders: Vec<_> = instrument_orders.iter().map(|io| &io.order).collect();
    let never_sent = check_orders_against_server(
        "instrument order",
        &orders,
        &at_server,
        "that is no stored instrument order",
    );
    // Strategy orders: none left half-way; their allocations never exceed what they asked.
    let stored = store.orders(None).await.unwrap();
    let strategies: BTreeSet<&str> = stored
        .iter()
        .map(|o| o.order.request.strategy.as_str())
        .collect();
    assert!(
        strategies.len() >= 2,
        "several strategies traded: {strategies:?}"
    );
    for o in &stored {
        assert!(
            !matches!(
                o.order.status,
                OrderStatus::Created | OrderStatus::Submitted
            ),
            "strategy order {} still {} after recovery",
            o.order.client_order_id,
            o.order.status
        );
        assert!(
            !at_server.contains(o.order.client_order_id.as_str()),
            "a netted strategy order went to the broker itself"
        );
    }
    // Fills: every execution at the server booked once and shared out exactly.
    let inst_fills = store.instrument_fills().await.unwrap();
    assert_eq!(
        inst_fills.len(),
        st.activities.len(),
        "instrument fills vs executions at the server"
    );
    let fills = store.fills().await.unwrap();
    let trade_ids: BTreeSet<String> = fills.iter().map(|f| f.fill.trade_id.to_string()).collect();
    assert_eq!(trade_ids.len(), fills.len(), "a fill booked twice");
    let shared: Decimal = fills
        .iter()
        .filter(|f| f.fill.trade_id.as_str().contains('#'))
        .map(|f| f.fill.side.sign() * f.fill.quantity.as_decimal())
        .sum();
    let executed: Decimal = inst_fills
        .iter()
        .map(|f| f.fill.side.sign() * f.fill.quantity.as_decimal())
        .sum();
    assert_eq!(shared, executed, "strategy fills add up to the broker's");
    let crosses = fills
        .iter()
        .filter(|f| f.fill.trade_id.as_str().contains("-x"))
        .count();
    let mut per_strategy: BTreeMap<String, Decimal> = BTreeMap::new();
    for p in store.positions().await.unwrap() {
        if p.position.instrument == inst.id {
            *per_strategy.entry(p.strategy.to_string()).or_default() += p.position.quantity;
        }
    }
    let our_pos: Decimal = per_strategy.values().copied().sum();
    let server_pos = st.positions.get("AAPL").map_or(Decimal::ZERO, |p| p.qty);
    assert_eq!(
        our_pos, server_pos,
        "per-strategy positions {per_strategy:?} vs the server's"
    );
    eprintln!(
        "{:?}: {} strategy orders, {} instrument orders ({never_sent} never sent), {} at the server, {} executions, {crosses} internal cross fills, positions {per_strategy:?} = {server_pos}; {:?} in all",
        db.backend(),
        stored.len(),
        instrument_orders.len(),
        st.orders.len(),
        st.activities.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_trade_alpaca_netted_survives_kill9_on_sqlite_and_postgres() {
    for db in TestDb::all().await {
        crash_story(&db).await;
    }
}
