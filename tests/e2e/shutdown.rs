//! Graceful shutdown: in-flight requests finish, then the server returns.

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use kbatch_e2e::{self as common, Echo, Gated, H1, H2, client_config, connect, probe};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// A slow review (the reviewer blocks its thread 300 ms) is under way when shutdown starts: it
/// still gets its 200, and the server returns and stops accepting.
///
/// The test learns that the review started through a channel, not a timer: a reviewer that
/// blocks a worker thread can delay the runtime's timers.
async fn slow_review_survives_shutdown(alpn: &'static [&'static [u8]]) {
    let (entered_tx, entered) = oneshot::channel();
    let reviewer = Arc::new(Echo {
        ready: AtomicBool::new(true),
        delay: Duration::from_millis(300),
        entered: Mutex::new(Some(entered_tx)),
    });
    let (certs, server) = common::start(reviewer, |_| {}).await;
    let addr = server.https_addr();
    let mut conn = connect(addr, client_config(certs.files.ca_pem(), alpn), "localhost")
        .await
        .unwrap();
    let slow = tokio::spawn(async move { conn.post("/validate", "sleep").await });
    entered.await.unwrap();

    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async move {
        let _ = stopped.await;
    }));
    stop.send(()).unwrap();
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, r#"{"slept":true}"#);
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the server returned after draining")
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_slow_review_finishes_after_shutdown() {
    slow_review_survives_shutdown(H1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_slow_review_finishes_after_shutdown() {
    slow_review_survives_shutdown(H2).await;
}

/// A request whose body is still arriving keeps the drain open: meanwhile /readyz says the
/// server is shutting down; once the body is complete the request is answered and the server
/// returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_reports_the_drain() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let probes = server.probe_addr();
    let mut conn = connect(
        server.https_addr(),
        client_config(certs.files.ca_pem(), H1),
        "localhost",
    )
    .await
    .unwrap();
    let (release, gate) = oneshot::channel();
    let body = Gated {
        first: Some(Bytes::from_static(b"{\"a\":")),
        release: gate,
    };
    let request =
        tokio::spawn(async move { conn.send(Method::POST, "/mutate", body.boxed()).await });
    // Wait until the server holds the request.
    let mut held = false;
    for _ in 0..500 {
        let (_, _, metrics) = probe(probes, "/metrics").await;
        if metrics.contains("kbatch_admission_requests_in_flight 1") {
            held = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(held, "the request never arrived");

    server.shutdown();
    let mut draining = false;
    for _ in 0..500 {
        let (status, _, body) = probe(probes, "/readyz").await;
        if status == StatusCode::SERVICE_UNAVAILABLE && body == "shutting down\n" {
            draining = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(draining, "/readyz did not report the shutdown");
    release.send(()).unwrap();
    let resp = request.await.unwrap().unwrap();
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.body, r#"{"endpoint":"mutate","len":5}"#);
    tokio::time::timeout(Duration::from_secs(5), server.join())
        .await
        .expect("the server returned after draining")
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_returns_when_its_shutdown_future_completes() {
    let certs = common::certs();
    let mut config = common::config(&certs);
    // `serve` does not report its address: pick free ports first.
    for addr in [&mut config.addr, &mut config.probe_addr] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        *addr = listener.local_addr().unwrap();
    }
    let probes = config.probe_addr;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(kbatch_webhook::serve(config, Echo::ready(), async move {
        let _ = stopped.await;
    }));
    let mut up = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(probes).await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(up, "the probe port never opened");
    assert_eq!(probe(probes, "/healthz").await.0, StatusCode::OK);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), serving)
        .await
        .expect("serve returned")
        .unwrap()
        .unwrap();
}
