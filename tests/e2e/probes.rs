//! The plain-HTTP probe server.

use http::StatusCode;
use kbatch_e2e::{self as common, Echo, H1, client_config, connect, probe};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_readiness_and_metrics() {
    let reviewer = Arc::new(Echo::default()); // not ready yet
    let (certs, server) = common::start(Arc::clone(&reviewer), |_| {}).await;
    let probes = server.probe_addr();

    let (status, _, body) = probe(probes, "/healthz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    let (status, _, body) = probe(probes, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "policy store not synced\n");
    reviewer.ready.store(true, Ordering::SeqCst);
    let (status, _, body) = probe(probes, "/readyz").await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    assert_eq!(probe(probes, "/nothing").await.0, StatusCode::NOT_FOUND);

    let mut conn = connect(
        server.https_addr(),
        client_config(certs.files.ca_pem(), H1),
        "localhost",
    )
    .await
    .unwrap();
    conn.post("/validate?timeout=5s", "{}").await.unwrap();
    conn.post("/mutate", "bad").await.unwrap();
    let (status, content_type, text) = probe(probes, "/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    for line in [
        r#"kbatch_admission_requests_total{endpoint="validate",kind="BatchJob",operation="CREATE",outcome="allowed"} 1"#,
        r#"kbatch_admission_requests_total{endpoint="mutate",kind="unknown",operation="unknown",outcome="invalid"} 1"#,
        r#"kbatch_admission_request_duration_seconds_count{endpoint="validate",kind="BatchJob",operation="CREATE",outcome="allowed"} 1"#,
        "kbatch_admission_requests_in_flight 0",
        "kbatch_webhook_open_connections 1",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // Object names never become labels.
    assert!(!text.contains("job-1") && !text.contains("team-a"));
    server.shutdown();
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    let mut config = kbatch_webhook::ServerConfig::new(&cert, &key).ephemeral();
    config.reload_interval = Duration::from_millis(20);
    // Without waiting, a missing pair is an error at bind.
    assert!(
        kbatch_webhook::bind(config.clone(), Echo::ready())
            .await
            .is_err()
    );

    config.wait_for_certificate = true;
    let server = kbatch_webhook::bind(config, Echo::ready()).await.unwrap();
    assert!(!server.certificate_loaded());
    let (status, _, body) = probe(server.probe_addr(), "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "TLS certificate not loaded\n");

    let files = kbatch_webhook::generate_dev_certs(dir.path(), &[], Default::default()).unwrap();
    let mut ready = false;
    for _ in 0..200 {
        if probe(server.probe_addr(), "/readyz").await.0 == StatusCode::OK {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(ready, "the certificate was not picked up");
    let mut conn = connect(
        server.https_addr(),
        client_config(files.ca_pem(), H1),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(
        conn.post("/validate", "{}").await.unwrap().status,
        StatusCode::OK
    );
    server.shutdown();
    server.join().await.unwrap();
}
