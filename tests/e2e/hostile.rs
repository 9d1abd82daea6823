//! The webhook under hostile load: with `failurePolicy: Fail`, a webhook that stops answering
//! blocks every kbatch write in the cluster, and any pod can reach its Service. Each test is
//! one attack: idle connections, large bodies, costly reviews, and the largest review the API
//! server sends, which must still be decided.

use bytes::Bytes;
use http::StatusCode;
use kbatch_e2e::cluster::process::free_port;
use kbatch_e2e::reviews::{api_server_order, fixture, large_create, pad_annotations};
use kbatch_e2e::{self as common, Echo, H1, H2, client_config, connect, probe};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const MIB: usize = 1024 * 1024;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A TLS connection that completed its handshake and will never send a byte.
async fn idle_tls(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost")?;
    Ok(TlsConnector::from(config).connect(name, tcp).await?)
}

/// 2,000 clients complete a TLS handshake and then send nothing, twice the connections the
/// server holds by default. Every handshake completes (the server makes room by closing the
/// connections that never sent a request, oldest first) and a review on a new connection is
/// answered at once, as the API server's would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tls_connections_cannot_keep_a_review_out() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let addr = server.https_addr();
    let config = client_config(certs.files.ca_pem(), H1);
    let mut held = Vec::new();
    let mut refused = 0;
    // In waves of 100, so that the test's own handshakes do not pile up.
    for _ in 0..20 {
        let mut wave = JoinSet::new();
        for _ in 0..100 {
            let config = Arc::clone(&config);
            wave.spawn(timeout(Duration::from_secs(5), idle_tls(addr, config)));
        }
        while let Some(joined) = wave.join_next().await {
            match joined.unwrap() {
                Ok(Ok(stream)) => held.push(stream),
                Ok(Err(_)) | Err(_) => refused += 1,
            }
        }
    }
    assert_eq!(refused, 0, "handshakes that failed or stalled for 5 s");
    let started = Instant::now();
    let answer = timeout(Duration::from_secs(3), async {
        let mut conn = connect(addr, Arc::clone(&config), "localhost").await?;
        conn.post("/validate", "{}").await
    })
    .await;
    let resp = answer
        .expect("a review behind 2,000 idle connections was not answered within 3 s")
        .unwrap();
    assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
    eprintln!(
        "review answered in {:?} behind {} idle connections",
        started.elapsed(),
        held.len()
    );
    drop(held);
    server.shutdown();
    server.join().await.unwrap();
}

/// A connection that never sends a request is closed at the first-request deadline, and an
/// HTTP/2 connection left idle after its requests is closed at the idle deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_idle_connections_are_closed() {
    let (certs, server) = common::start(Echo::ready(), |c| {
        c.first_request_timeout = Duration::from_millis(300);
        c.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let addr = server.https_addr();
    for alpn in [H1, H2] {
        let mut silent = idle_tls(addr, client_config(certs.files.ca_pem(), alpn))
            .await
            .unwrap();
        let mut byte = [0u8; 1];
        let read = timeout(Duration::from_secs(5), silent.read(&mut byte))
            .await
            .expect("a connection that sent nothing was still open after 5 s");
        assert!(
            matches!(read, Ok(0) | Err(_)),
            "the server sent data: {read:?}"
        );
    }
    let mut h2 = connect(addr, client_config(certs.files.ca_pem(), H2), "localhost")
        .await
        .unwrap();
    assert_eq!(
        h2.post("/validate", "{}").await.unwrap().status,
        StatusCode::OK
    );
    timeout(Duration::from_secs(5), h2.closed())
        .await
        .expect("an idle HTTP/2 connection was still open after 5 s");
    server.shutdown();
    server.join().await.unwrap();
}

/// The `kbatch` command line, run as a child process so that its memory can be read.
struct ChildServer {
    child: Child,
    https: SocketAddr,
    probes: SocketAddr,
    _certs: common::Certs,
    ca: String,
}

impl ChildServer {
    async fn start(review_memory: &str) -> ChildServer {
        let certs = common::certs();
        let https = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let probes = SocketAddr::from(([127, 0, 0, 1], free_port().unwrap()));
        let child = Command::new(env!("CARGO_BIN_EXE_kbatch-under-test"))
            .arg("serve")
            .arg("--policy")
            .arg(repo().join("manifests/examples"))
            .arg(format!("--addr={https}"))
            .arg(format!("--probe-addr={probes}"))
            .arg("--tls-cert")
            .arg(&certs.files.tls_cert)
            .arg("--tls-key")
            .arg(&certs.files.tls_key)
            .arg(format!("--review-memory={review_memory}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let ca = certs.files.ca_pem().to_owned();
        let server = ChildServer {
            child,
            https,
            probes,
            _certs: certs,
            ca,
        };
        for _ in 0..100 {
            if TcpStream::connect(probes).await.is_ok() && probe(probes, "/readyz").await.0 == 200 {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the child server did not become ready in 10 s");
    }

    /// A line of `/proc/<pid>/status`, in bytes (`VmRSS`, `VmHWM`).
    fn memory(&self, field: &str) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let line = status
            .lines()
            .find(|l| l.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} in {status}"));
        let kib: usize = line
            .split_whitespace()
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap();
        kib * 1024
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The review-memory budget of the large-body tests, and what the rest of the process may add
/// on top of its size at rest while 200 connections are open (TLS and HTTP buffers).
const BUDGET: usize = 64 * MIB;
const CONNECTION_ALLOWANCE: usize = 48 * MIB;

/// 200 clients each send a 3 MiB review at once. The server decides what its budget lets it
/// and answers the rest 503 once their time is up; its peak resident memory stays within the
/// budget (plus connection buffers), where reading them all at once took ~900 MiB.
async fn large_bodies_stay_within_the_budget(alpn: &'static [&'static [u8]], one_connection: bool) {
    let server = ChildServer::start("64Mi").await;
    let body = Bytes::from(large_create(3 * MIB - 4096));
    assert!(body.len() <= 3 * MIB, "{} bytes", body.len());
    let config = client_config(&server.ca, alpn);
    // One small review first: the size at rest includes a served connection.
    let mut warm = connect(server.https, Arc::clone(&config), "localhost")
        .await
        .unwrap();
    let small = api_server_order(&fixture(20));
    assert_eq!(
        warm.post("/validate", small.clone()).await.unwrap().status,
        200
    );
    let at_rest = server.memory("VmRSS");

    let shared = if one_connection {
        Some(
            connect(server.https, Arc::clone(&config), "localhost")
                .await
                .unwrap(),
        )
    } else {
        None
    };
    let mut clients = JoinSet::new();
    for _ in 0..200 {
        let body = body.clone();
        let config = Arc::clone(&config);
        let mut conn = shared.as_ref().map(|conn| conn.h2_clone().unwrap());
        let addr = server.https;
        clients.spawn(async move {
            let mut conn = match conn.take() {
                Some(conn) => conn,
                None => connect(addr, config, "localhost").await?,
            };
            conn.post("/validate", body).await
        });
    }
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    while let Some(joined) = clients.join_next().await {
        let resp = joined.unwrap().expect("every large review gets an answer");
        *statuses.entry(resp.status.as_u16()).or_default() += 1;
    }
    let peak = server.memory("VmHWM");
    eprintln!(
        "{} large reviews: {statuses:?}; resident at rest {} MiB, peak {} MiB",
        if one_connection {
            "HTTP/2, one connection"
        } else {
            "HTTP/1.1"
        },
        at_rest / MIB,
        peak / MIB
    );
    assert!(
        statuses.get(&200).copied().unwrap_or(0) > 0,
        "no large review was decided: {statuses:?}"
    );
    assert!(
        statuses.keys().all(|s| [200, 503].contains(s)),
        "answers other than 200 and 503: {statuses:?}"
    );
    assert!(
        peak <= at_rest + BUDGET + CONNECTION_ALLOWANCE,
        "peak resident memory {} MiB over {} MiB at rest + {} MiB budget + {} MiB for connections",
        peak / MIB,
        at_rest / MIB,
        BUDGET / MIB,
        CONNECTION_ALLOWANCE / MIB
    );
    // The server is still serving, and ready.
    let mut after = connect(server.https, config, "localhost").await.unwrap();
    assert_eq!(after.post("/validate", small).await.unwrap().status, 200);
    assert_eq!(probe(server.probes, "/readyz").await.0, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_over_http1_stay_within_the_memory_budget() {
    large_bodies_stay_within_the_budget(H1, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_over_one_http2_connection_stay_within_the_memory_budget() {
    large_bodies_stay_within_the_budget(H2, true).await;
}

/// Costly reviews (each keeps a CPU busy for 400 ms) arrive faster than the server can decide
/// them. Probes and a small review are still answered promptly: the costly ones are decided
/// off the threads that run TLS, HTTP and the probes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_and_small_reviews_are_answered_while_reviewers_are_saturated() {
    let reviewer = Arc::new(Echo {
        ready: AtomicBool::new(true),
        delay: Duration::from_millis(400),
        ..Echo::default()
    });
    let (certs, server) = common::start(reviewer, |_| {}).await;
    let addr = server.https_addr();
    let config = client_config(certs.files.ca_pem(), H2);
    let costly = connect(addr, Arc::clone(&config), "localhost")
        .await
        .unwrap();
    let mut body = b"burn:".to_vec();
    body.resize(MIB, b'x');
    let body = Bytes::from(body);
    let mut load = JoinSet::new();
    for _ in 0..24 {
        let mut stream = costly.h2_clone().unwrap();
        let body = body.clone();
        load.spawn(async move { stream.post("/validate", body).await });
    }
    // Let the costly reviews reach the reviewers.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut small = connect(addr, config, "localhost").await.unwrap();
    let mut probe_times = Vec::new();
    let mut review_times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        assert_eq!(
            probe(server.probe_addr(), "/readyz").await.0,
            StatusCode::OK
        );
        probe_times.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(
            small.post("/validate", "{}").await.unwrap().status,
            StatusCode::OK
        );
        review_times.push(started.elapsed());
    }
    assert!(
        !load.is_empty() && load.try_join_next().is_none(),
        "the costly reviews were over before the measurement"
    );
    probe_times.sort();
    review_times.sort();
    eprintln!("while saturated: probes {probe_times:?}, small reviews {review_times:?}");
    assert!(
        probe_times[2] <= Duration::from_millis(100),
        "median probe {:?} while the reviewers are busy",
        probe_times[2]
    );
    assert!(
        review_times[2] <= Duration::from_millis(100),
        "median small review {:?} while the reviewers are busy",
        review_times[2]
    );
    load.abort_all();
    server.shutdown();
    server.join().await.unwrap();
}

/// The largest review the API server sends, an UPDATE whose object and old object are each near
/// etcd's 1.5 MiB limit (2.7 MiB in all), is decided even under a budget smaller than its own
/// cost: it waits for the whole budget instead of being refused for its size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_update_review_is_decided_under_a_small_budget() {
    let docs = kbatch_manifests::read_paths(&[repo().join("manifests/examples")]).unwrap();
    let policy = kbatch_manifests::policy_set(docs.iter().filter_map(|d| d.object.as_ref().ok()));
    let reviewer = Arc::new(kbatch_webhook::PolicyReviewer::new(
        policy,
        kbatch_admission::AdmissionConfig::default(),
    ));
    let certs = common::certs();
    let mut config = common::config(&certs);
    config.review_memory_bytes = 8 * MIB;
    let server = kbatch_webhook::bind(config, reviewer).await.unwrap();
    let mut update = fixture(32);
    update["request"]["userInfo"] = json!({"username": "alice", "groups": []});
    for which in ["object", "oldObject"] {
        update["request"][which]["metadata"]["annotations"] =
            json!({"kbatch.k8s.io/submitted-by": "alice"});
    }
    pad_annotations(&mut update, &["object", "oldObject"], 2_700_000);
    let body = api_server_order(&update);
    assert!(
        body.len() > 2_600_000 && body.len() <= 3 * MIB,
        "{}",
        body.len()
    );
    for alpn in [H1, H2] {
        let mut conn = connect(
            server.https_addr(),
            client_config(certs.files.ca_pem(), alpn),
            "localhost",
        )
        .await
        .unwrap();
        let resp = conn.post("/validate", body.clone()).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK, "{}", resp.body);
        let answer: Value = serde_json::from_str(&resp.body).unwrap();
        assert_eq!(answer["response"]["uid"], update["request"]["uid"]);
        assert_eq!(
            answer["response"]["allowed"], true,
            "{}",
            answer["response"]
        );
    }
    server.shutdown();
    server.join().await.unwrap();
}
