//! Certificate rotation under load: no request fails, new handshakes get the new certificate.

use http::StatusCode;
use kbatch_e2e::{self as common, Echo, H1, H2, client_config, connect};
use kbatch_webhook::{KeyKind, generate_dev_certs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

const TASKS: usize = 8;
const REQUESTS: usize = 200;
/// Requests per connection before a task opens a new one (a new handshake).
const PER_CONNECTION: usize = 10;
const ROTATIONS: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_fails_nothing() {
    let (certs, server) = common::start(Echo::ready(), |_| {}).await;
    let addr = server.https_addr();
    let ca = certs.files.ca_pem().to_owned();
    let before = connect(addr, client_config(&ca, H1), "localhost")
        .await
        .unwrap()
        .peer_cert;

    let failures = Arc::new(AtomicUsize::new(0));
    let rotating = Arc::new(AtomicBool::new(true));
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (ca, failures, rotating) = (ca.clone(), Arc::clone(&failures), Arc::clone(&rotating));
        tasks.push(tokio::spawn(async move {
            // Half the tasks resume sessions (a shared client config), half always do full
            // handshakes (a new config per connection); half speak HTTP/2.
            let alpn = if task % 2 == 0 { H1 } else { H2 };
            let shared = client_config(&ca, alpn);
            let mut seen = std::collections::HashSet::new();
            let mut done = 0;
            // At least REQUESTS each, and on until the rotations are over (bounded: 10×).
            while done < REQUESTS || (rotating.load(Ordering::SeqCst) && done < 10 * REQUESTS) {
                let config = if task % 4 < 2 {
                    shared.clone()
                } else {
                    client_config(&ca, alpn)
                };
                let mut conn = match connect(addr, config, "localhost").await {
                    Ok(conn) => conn,
                    Err(error) => {
                        eprintln!("task {task}: connect failed: {error}");
                        failures.fetch_add(1, Ordering::SeqCst);
                        done += PER_CONNECTION;
                        continue;
                    }
                };
                seen.insert(conn.peer_cert.clone());
                for _ in 0..PER_CONNECTION {
                    match conn.post("/validate?timeout=5s", "{}").await {
                        Ok(resp) if resp.status == StatusCode::OK => {}
                        other => {
                            eprintln!("task {task}: request failed: {other:?}");
                            failures.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    done += 1;
                }
            }
            seen.len()
        }));
    }

    for _ in 0..ROTATIONS {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let dir = certs.dir.path().to_path_buf();
        let renewed =
            tokio::task::spawn_blocking(move || generate_dev_certs(&dir, &[], KeyKind::EcdsaP256))
                .await
                .unwrap()
                .unwrap();
        assert!(renewed.ca_reused, "the same CA signs every renewal");
    }
    rotating.store(false, Ordering::SeqCst);
    let mut distinct = 0;
    for task in tasks {
        distinct = distinct.max(task.await.unwrap());
    }
    assert_eq!(
        failures.load(Ordering::SeqCst),
        0,
        "requests failed during rotation"
    );

    // The server ends up serving the last pair written (fresh client: no resumed session).
    let last = std::fs::read_to_string(&certs.files.tls_cert).unwrap();
    let last = rustls::pki_types::pem::PemObject::from_pem_slice(last.as_bytes())
        .map(|der: rustls::pki_types::CertificateDer<'_>| der.to_vec())
        .unwrap();
    let mut after = Vec::new();
    for _ in 0..200 {
        after = connect(addr, client_config(&ca, H1), "localhost")
            .await
            .unwrap()
            .peer_cert;
        if after == last {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(after, last, "the last certificate written is served");
    assert_ne!(after, before, "the served certificate changed");
    eprintln!("distinct certificates seen by one task during the load: {distinct}");
    server.shutdown();
    server.join().await.unwrap();
}
