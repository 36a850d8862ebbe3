//! `tessera-alpaca-server`: the Alpaca-protocol test server as a process.
//!
//! Usage: `tessera-alpaca-server STATE_FILE [ADDR] [KEY_ID SECRET]
//! [--bars SYMBOL=FILE.csv]… [--synthetic] [--speed N] [--start RFC3339]`
//! (ADDR defaults to `127.0.0.1:0`). Prints `listening on http://ADDR` once
//! ready. `--bars` serves a CSV of minute bars (`time,open,high,low,close,volume`)
//! as SYMBOL's market data, `--synthetic` generates bars for any other
//! symbol, `--speed` runs the market clock N times real time from `--start`
//! (default: now). Faults are set with `POST /_test/faults`; state is read
//! with `GET /_test/state`.

use std::net::SocketAddr;
use std::path::PathBuf;

use tessera_alpaca::server::{MarketSettings, ServerSettings, TestServer};
use tessera_core::UnixNanos;

const USAGE: &str = "usage: tessera-alpaca-server STATE_FILE [ADDR] [KEY_ID SECRET] [--bars SYMBOL=FILE.csv]... [--synthetic] [--speed N] [--start RFC3339]";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut positional: Vec<String> = Vec::new();
    let mut market = MarketSettings::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bars" => {
                let v = args.next().ok_or(USAGE)?;
                let (sym, file) = v.split_once('=').ok_or(USAGE)?;
                let bars = MarketSettings::load_csv(&PathBuf::from(file))?;
                market.bars.insert(sym.to_ascii_uppercase(), bars);
            }
            "--synthetic" => market.synthetic = true,
            "--speed" => market.speed = args.next().ok_or(USAGE)?.parse()?,
            "--start" => market.start = Some(args.next().ok_or(USAGE)?.parse::<UnixNanos>()?),
            _ => positional.push(a),
        }
    }
    let Some(state) = positional.first() else {
        return Err(USAGE.into());
    };
    let addr: SocketAddr = positional
        .get(1)
        .map_or("127.0.0.1:0", String::as_str)
        .parse()?;
    let mut settings = ServerSettings {
        state_file: Some(PathBuf::from(state)),
        market,
        ..ServerSettings::default()
    };
    if let (Some(k), Some(s)) = (positional.get(2), positional.get(3)) {
        settings.key_id.clone_from(k);
        settings.secret.clone_from(s);
    }
    let server = TestServer::start(settings, addr).await?;
    println!("listening on {}", server.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
