//! Artefacts on a real S3-compatible server: moto in server mode, started on a free local port.
//!
//! Needs `pip install "moto[server]"` (the `moto_server` command). Under `CI=true` a missing
//! moto fails the test; elsewhere it is skipped loudly.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tessera_ml::Error;
use tessera_ml::artefact::{ArtefactConfig, ArtefactStore, ModelFile};
use tessera_ml::models::{Kind, Model, Ridge, Task};

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        // The server is ours; a failed kill only means it already exited.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn http(port: u16, request: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(request.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn start_moto() -> Option<(Moto, u16)> {
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(child) = child else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "moto_server not found under CI: pip install \"moto[server]\""
        );
        eprintln!("SKIPPED: moto_server not found (pip install \"moto[server]\")");
        return None;
    };
    let moto = Moto(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some((moto, port));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not listen on port {port} within 30 s");
}

fn meta(version: i64, weight: f64) -> ModelFile {
    ModelFile {
        format: 1,
        name: "s3_model".into(),
        version,
        kind: Kind::Ridge,
        task: Task::Regression,
        features: vec!["ret_1".into()],
        feature_set: "ret:1".into(),
        target: "fwd_ret:1".into(),
        horizon: 1,
        classes: Vec::new(),
        model: Some(Model::Ridge(Ridge {
            alpha: 1.0,
            weights: vec![weight],
            intercept: 0.0,
        })),
        onnx_file: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_artefacts_round_trip_on_s3_compatible_server() {
    let Some((_moto, port)) = start_moto() else {
        return;
    };
    let created = http(port, &format!("PUT /tessera-models HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")).unwrap();
    assert!(
        created.starts_with("HTTP/1.1 200"),
        "create bucket: {created}"
    );
    let cfg = ArtefactConfig {
        url: "s3://tessera-models/team".into(),
        namespace: "research".into(),
        s3_endpoint: format!("http://127.0.0.1:{port}"),
        s3_region: "us-east-1".into(),
        s3_access_key_id: "testing".into(),
        s3_secret_access_key: "testing".into(),
    };
    let store = ArtefactStore::open(&cfg).unwrap();
    let saved = store.save_model(&meta(1, 2.0), None).await.unwrap();
    assert_eq!(saved.uri, "team/research/models/s3_model/1/model.json");
    let back = store
        .load_model("s3_model", 1, Some(&saved.sha256))
        .await
        .unwrap();
    assert_eq!(back.model.predict(&[0.5]).unwrap().value, 1.0);

    // A model.json replaced behind the registry's back is refused.
    let other = store.save_model(&meta(2, 3.0), None).await.unwrap();
    assert!(matches!(
        store.load_model("s3_model", 2, Some(&saved.sha256)).await,
        Err(Error::HashMismatch { .. })
    ));
    assert!(
        store
            .load_model("s3_model", 2, Some(&other.sha256))
            .await
            .is_ok()
    );
    assert!(matches!(
        store.load_model("s3_model", 9, None).await,
        Err(Error::ObjectStore(_))
    ));
}
