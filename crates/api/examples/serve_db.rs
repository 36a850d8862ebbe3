//! Serve the API over a database URL without the CLI (for benchmarks of the
//! router alone): `cargo run --release -p tessera-api --example serve_db -- URL [PORT]`.
//! Reads are open on loopback and the rate limit is off.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: serve_db DATABASE_URL [PORT]")?;
    let port: u16 = args.next().map_or(Ok(0), |p| p.parse())?;
    let store = tessera_storage::Store::open(&url).await?;
    let config = tessera_api::ApiConfig {
        open_read_on_loopback: true,
        rate_limit_per_minute: 0,
        ..tessera_api::ApiConfig::default()
    };
    let app = tessera_api::router(tessera_api::ApiState::new(store, config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await?;
    Ok(())
}
