//! The crash test of live trading: `tessera trade --broker alpaca` against
//! the Alpaca-protocol test server (in this test process, so a separate
//! process from the engine, with its state in a file), killed with SIGKILL
//! at random moments and inside the two dangerous windows (an order stored
//! as submitted but not yet posted; fills received but not yet booked), made
//! hittable with `TESSERA_FAILPOINT`, and restarted each time. At the end:
//! the server holds no client order id twice (it is told to accept
//! duplicates, so a double send would show), every order we stored is known
//! to the server or marked never sent, the server knows no order we did not
//! store, and our positions equal the server's. On SQLite and PostgreSQL.

mod common;

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use tessera_storage::testing::TestDb;

use common::alpaca::{
    at_server, check_orders_against_server, crash_server, final_recovery, kill_loop,
};

const KILLS: usize = 22;

async fn crash_story(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = crash_server(dir.path()).await;
    let args = common::sma_cross_trade("AAPL", "sim", "alpaca", "100000");
    let started = kill_loop(
        db,
        dir.path(),
        &server,
        &args,
        0x5eed_cafe_f00d_d00d,
        KILLS,
        3,
    )
    .await;
    let (inst, st) = final_recovery(db, &server).await;
    let store = db.store();
    let at_server = at_server(&st);
    let stored = store.orders(None).await.unwrap();
    assert!(
        stored.len() >= 10,
        "too few orders to mean anything: {}",
        stored.len()
    );
    let orders: Vec<_> = stored.iter().map(|o| &o.order).collect();
    let never_sent =
        check_orders_against_server("order", &orders, &at_server, "that we never stored");
    let our_pos: Decimal = store
        .positions()
        .await
        .unwrap()
        .iter()
        .filter(|p| p.position.instrument == inst.id)
        .map(|p| p.position.quantity)
        .sum();
    let server_pos = st.positions.get("AAPL").map_or(Decimal::ZERO, |p| p.qty);
    assert_eq!(our_pos, server_pos, "positions differ");
    let fills = store.fills().await.unwrap();
    let trade_ids: BTreeSet<String> = fills.iter().map(|f| f.fill.trade_id.to_string()).collect();
    assert_eq!(trade_ids.len(), fills.len(), "a fill booked twice");
    assert_eq!(
        fills.len(),
        st.activities.len(),
        "fills booked vs executed at the server"
    );
    eprintln!(
        "{:?}: {} orders stored ({never_sent} never sent), {} at the server, {} fills, position {our_pos}; {:?} in all",
        db.backend(),
        stored.len(),
        st.orders.len(),
        fills.len(),
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_trade_alpaca_survives_kill9_on_sqlite_and_postgres() {
    for db in TestDb::all().await {
        crash_story(&db).await;
    }
}
