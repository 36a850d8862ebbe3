//! `tessera serve` and `tessera tokens` end to end: tokens created on the
//! command line authorise requests to a served API, per scope, on SQLite and
//! PostgreSQL.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;
use tessera_storage::testing::TestDb;

fn tessera(dir: &Path, db_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .current_dir(dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env_remove("RUST_LOG")
        .output()
        .expect("run tessera")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: stdout={} stderr={}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// A running `tessera serve`, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already exited is fine: the point is that it does not outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, db_url: &str, env: &[(&str, &str)]) -> Server {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(["serve", "--bind", "127.0.0.1", "--port", "0"])
        .current_dir(dir)
        .env("TESSERA_DATABASE_URL", db_url)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn tessera serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    Server { child, addr }
}

/// One HTTP/1.1 request; returns status and body.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

fn create_token(dir: &Path, db: &str, scope: &str) -> String {
    let v: Value = serde_json::from_str(&ok(&tessera(
        dir,
        db,
        &[
            "--json", "tokens", "create", "--scope", scope, "--name", scope,
        ],
    )))
    .unwrap();
    assert_eq!(v["scope"], scope);
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_serve_with_cli_tokens_on_both_backends() {
    for db in TestDb::all().await {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let url = db.url();
        let read = create_token(d, url, "read");
        let trade = create_token(d, url, "trade");
        let admin = create_token(d, url, "admin");
        let bad = tessera(d, url, &["tokens", "create", "--scope", "root"]);
        assert!(!bad.status.success());
        let listed = ok(&tessera(d, url, &["--json", "tokens", "list"]));
        assert!(
            !listed.contains(&read) && !listed.contains(&admin),
            "secrets listed"
        );
        assert_eq!(
            serde_json::from_str::<Value>(&listed)
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            3
        );
        ok(&tessera(
            d,
            url,
            &[
                "instruments",
                "add",
                "BTCUSDT",
                "--venue",
                "sim",
                "--kind",
                "crypto",
            ],
        ));

        let s = serve(d, url, &[]);
        let (st, body) = http(&s.addr, "GET", "/api/v1/health", None, None);
        assert_eq!(st, 200);
        assert!(body.contains("\"status\":\"ok\""), "{body}");
        assert_eq!(
            http(&s.addr, "GET", "/api/v1/instruments", None, None).0,
            401
        );
        let (st, body) = http(&s.addr, "GET", "/api/v1/instruments", Some(&read), None);
        assert_eq!(st, 200);
        assert!(body.contains("BTCUSDT"));
        let add = r#"{"symbol":"ETHUSDT","venue":"sim"}"#;
        assert_eq!(
            http(
                &s.addr,
                "POST",
                "/api/v1/instruments",
                Some(&read),
                Some(add)
            )
            .0,
            403
        );
        // Adding an instrument queues the scheduler's backfill job.
        let (st, body) = http(
            &s.addr,
            "POST",
            "/api/v1/instruments",
            Some(&trade),
            Some(add),
        );
        assert_eq!(st, 201, "{body}");
        let job = serde_json::from_str::<Value>(&body).unwrap()["backfill"]["job"]
            .as_str()
            .unwrap_or_else(|| panic!("no backfill job: {body}"))
            .to_string();
        let (st, body) = http(
            &s.addr,
            "GET",
            &format!("/api/v1/jobs/{job}"),
            Some(&read),
            None,
        );
        assert_eq!(st, 200);
        assert!(
            body.contains("\"type\":\"data_backfill\"") && body.contains("ETHUSDT"),
            "{body}"
        );
        // Without `api.order_desk` orders are refused with 409.
        let order = r#"{"symbol":"BTCUSDT","side":"buy","type":"limit","limit_price":"39000","quantity":"1"}"#;
        assert_eq!(
            http(&s.addr, "POST", "/api/v1/orders", Some(&trade), Some(order)).0,
            409
        );
        assert_eq!(
            http(
                &s.addr,
                "DELETE",
                "/api/v1/instruments/sim/ETHUSDT",
                Some(&trade),
                None
            )
            .0,
            403
        );
        assert_eq!(
            http(
                &s.addr,
                "DELETE",
                "/api/v1/instruments/sim/ETHUSDT",
                Some(&admin),
                None
            )
            .0,
            200
        );
        let (st, body) = http(&s.addr, "GET", "/", None, None);
        assert_eq!(st, 200);
        assert!(body.contains("Tessera"));
        assert!(
            http(&s.addr, "GET", "/api/v1/openapi.json", None, None)
                .1
                .contains("\"openapi\"")
        );
        drop(s);

        let revoked_id = serde_json::from_str::<Value>(&listed).unwrap()[0]["id"]
            .as_i64()
            .unwrap();
        ok(&tessera(
            d,
            url,
            &["tokens", "revoke", &revoked_id.to_string()],
        ));
        // With the paper order desk: risk (which needs a last price), the order stack, the paper broker.
        let csv = d.join("bars.csv");
        std::fs::write(
            &csv,
            "timestamp,open,high,low,close,volume\n1704067200,42000.00,42001.53,41997.27,41997.95,26.8\n1704067260,41997.95,41998.64,41994.66,41995.43,25.4\n",
        )
        .unwrap();
        ok(&tessera(
            d,
            url,
            &[
                "data",
                "import",
                csv.to_str().unwrap(),
                "--format",
                "ohlcv-csv",
                "--symbol",
                "BTCUSDT",
                "--venue",
                "sim",
                "--interval",
                "1m",
            ],
        ));
        let desk = serve(d, url, &[("TESSERA_API_ORDER_DESK", "paper")]);
        let (st, body) = http(
            &desk.addr,
            "POST",
            "/api/v1/orders",
            Some(&trade),
            Some(order),
        );
        assert_eq!(st, 201, "{body}");
        let v = serde_json::from_str::<Value>(&body).unwrap();
        assert_eq!(v["approved"], true, "{body}");
        assert_eq!(v["order"]["status"], "accepted", "{body}");
        let id = v["order"]["id"].as_str().unwrap().to_string();
        let (st, body) = http(
            &desk.addr,
            "POST",
            &format!("/api/v1/orders/{id}/cancel"),
            Some(&trade),
            None,
        );
        assert_eq!(st, 200, "{body}");
        assert!(body.contains("\"status\":\"cancelled\""), "{body}");
        drop(desk);

        let open = serve(d, url, &[("TESSERA_API_OPEN_READ_ON_LOOPBACK", "true")]);
        assert_eq!(
            http(&open.addr, "GET", "/api/v1/instruments", None, None).0,
            200
        );
        assert_eq!(
            http(&open.addr, "GET", "/api/v1/instruments", Some(&read), None).0,
            401,
            "revoked token accepted"
        );
        assert_eq!(
            http(&open.addr, "POST", "/api/v1/instruments", None, Some(add)).0,
            401
        );
    }
}
