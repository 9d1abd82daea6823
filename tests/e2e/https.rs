//! Routing, protocols, TLS trust, and the server's own error answers.

use http::{Method, StatusCode};
use http_body_util::{BodyExt, Empty};
use kbatch_e2e::{self as common, Chunks, Echo, H1, H2, client_config, connect};
use rustls::HandshakeKind;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_keep_alive_routes_by_endpoint() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let config = client_config(certs.files.ca_pem(), H1);
    let mut conn = connect(server.https_addr(), config, "localhost")
        .await
        .unwrap();
    assert_eq!(conn.alpn.as_deref(), Some(&b"http/1.1"[..]));
    for i in 0..6 {
        let (path, endpoint) = if i % 2 == 0 {
            ("/mutate?timeout=5s", "mutate")
        } else {
            ("/validate?timeout=10s", "validate")
        };
        let body = "x".repeat(i * 10);
        // Every request on the same connection: keep-alive works.
        let resp = conn.post(path, body).await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.content_type, "application/json");
        assert_eq!(
            resp.body,
            format!(r#"{{"endpoint":"{endpoint}","len":{}}}"#, i * 10)
        );
    }
    server.shutdown();
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_serves_concurrent_streams() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let config = client_config(certs.files.ca_pem(), H2);
    let conn = connect(server.https_addr(), config, "localhost")
        .await
        .unwrap();
    assert_eq!(conn.alpn.as_deref(), Some(&b"h2"[..]));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let mut stream = conn.h2_clone().unwrap();
        tasks.push(tokio::spawn(async move {
            stream.post("/validate", vec![b'y'; i]).await.unwrap()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let resp = task.await.unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.body, format!(r#"{{"endpoint":"validate","len":{i}}}"#));
    }
    server.shutdown();
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_verify_the_ca_and_the_name() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let addr = server.https_addr();
    let trusted = client_config(certs.files.ca_pem(), H1);
    // The IP SAN and the in-cluster DNS name both verify; no SNI is needed for an IP.
    for name in ["127.0.0.1", "kbatch-webhook.kbatch-system.svc"] {
        let mut conn = connect(addr, trusted.clone(), name).await.unwrap();
        assert_eq!(
            conn.post("/validate", "{}").await.unwrap().status,
            StatusCode::OK
        );
    }
    assert!(
        connect(addr, trusted, "other.example").await.is_err(),
        "a name not in the SANs"
    );
    let stranger = common::certs();
    let untrusted = client_config(stranger.files.ca_pem(), H1);
    assert!(
        connect(addr, untrusted, "localhost").await.is_err(),
        "a CA the client does not trust"
    );
    // The server is unharmed by failed handshakes.
    let mut conn = connect(addr, client_config(certs.files.ca_pem(), H2), "localhost")
        .await
        .unwrap();
    assert_eq!(
        conn.post("/mutate", "{}").await.unwrap().status,
        StatusCode::OK
    );
    server.shutdown();
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls12_and_tls13_sessions_resume() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        let config = common::client_config_versions(certs.files.ca_pem(), H1, &[version]);
        let mut first = connect(server.https_addr(), config.clone(), "localhost")
            .await
            .unwrap();
        assert_eq!(first.handshake, Some(HandshakeKind::Full));
        // TLS 1.3 tickets arrive after the handshake: read a response first.
        assert_eq!(
            first.post("/validate", "{}").await.unwrap().status,
            StatusCode::OK
        );
        let mut second = connect(server.https_addr(), config, "localhost")
            .await
            .unwrap();
        assert_eq!(
            second.handshake,
            Some(HandshakeKind::Resumed),
            "{version:?}"
        );
        assert_eq!(
            second.post("/validate", "{}").await.unwrap().status,
            StatusCode::OK
        );
    }
    server.shutdown();
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn methods_paths_and_reviewer_errors() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let mut conn = connect(
        server.https_addr(),
        client_config(certs.files.ca_pem(), H1),
        "localhost",
    )
    .await
    .unwrap();
    let empty = || Empty::new().map_err(|never| match never {}).boxed();
    let get = conn.send(Method::GET, "/mutate", empty()).await.unwrap();
    assert_eq!(get.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        conn.post("/nowhere", "{}").await.unwrap().status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        conn.post("/", "{}").await.unwrap().status,
        StatusCode::NOT_FOUND
    );
    let bad = conn.post("/validate", "bad").await.unwrap();
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.body, "undecodable AdmissionReview");
    assert_eq!(bad.content_type, "text/plain; charset=utf-8");
    let panicked = conn.post("/mutate", "panic").await.unwrap();
    assert_eq!(panicked.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(panicked.body, "internal error\n");
    // Same connection, then a new one: the server keeps serving.
    assert_eq!(
        conn.post("/mutate", "{}").await.unwrap().status,
        StatusCode::OK
    );
    let mut again = connect(
        server.https_addr(),
        client_config(certs.files.ca_pem(), H2),
        "localhost",
    )
    .await
    .unwrap();
    assert_eq!(
        again.post("/validate", "{}").await.unwrap().status,
        StatusCode::OK
    );
    server.shutdown();
    server.join().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_get_413() {
    const LIMIT: usize = 64 * 1024;
    let (certs, server) = common::start(Echo::ready(), |c| c.body_limit_bytes = LIMIT).await;
    let mut conn = connect(
        server.https_addr(),
        client_config(certs.files.ca_pem(), H2),
        "localhost",
    )
    .await
    .unwrap();
    let at_limit = conn.post("/validate", vec![b'a'; LIMIT]).await.unwrap();
    assert_eq!(at_limit.status, StatusCode::OK);
    assert_eq!(
        at_limit.body,
        format!(r#"{{"endpoint":"validate","len":{LIMIT}}}"#)
    );
    // Declared too large (content-length): refused before reading.
    let declared = conn.post("/validate", vec![b'a'; LIMIT + 1]).await.unwrap();
    assert_eq!(declared.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Undeclared length, streamed past the limit: refused while reading.
    let streamed = Chunks {
        count: 20,
        size: 8 * 1024,
    };
    let streamed = conn
        .send(Method::POST, "/mutate", streamed.boxed())
        .await
        .unwrap();
    assert_eq!(streamed.status, StatusCode::PAYLOAD_TOO_LARGE);
    // A streamed body within the limit is fine.
    let small = Chunks {
        count: 4,
        size: 1024,
    };
    let small = conn
        .send(Method::POST, "/mutate", small.boxed())
        .await
        .unwrap();
    assert_eq!(small.status, StatusCode::OK);
    assert_eq!(small.body, r#"{"endpoint":"mutate","len":4096}"#);
    server.shutdown();
    server.join().await.unwrap();
}
