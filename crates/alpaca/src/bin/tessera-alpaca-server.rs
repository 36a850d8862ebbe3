//! `tessera-alpaca-server`: the Alpaca-protocol test server as a process.
//!
//! Usage: `tessera-alpaca-server STATE_FILE [ADDR] [KEY_ID SECRET]` (ADDR
//! defaults to `127.0.0.1:0`). Prints `listening on http://ADDR` once ready.
//! Faults are set with `POST /_test/faults`; state is read with `GET /_test/state`.

use std::net::SocketAddr;
use std::path::PathBuf;

use tessera_alpaca::server::{ServerSettings, TestServer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(state) = args.first() else {
        return Err("usage: tessera-alpaca-server STATE_FILE [ADDR] [KEY_ID SECRET]".into());
    };
    let addr: SocketAddr = args.get(1).map_or("127.0.0.1:0", String::as_str).parse()?;
    let mut settings = ServerSettings {
        state_file: Some(PathBuf::from(state)),
        ..ServerSettings::default()
    };
    if let (Some(k), Some(s)) = (args.get(2), args.get(3)) {
        settings.key_id.clone_from(k);
        settings.secret.clone_from(s);
    }
    let server = TestServer::start(settings, addr).await?;
    println!("listening on {}", server.base_url());
    tokio::signal::ctrl_c().await?;
    Ok(())
}
