//! The attack of `make bench-load`'s "under attack" rows: holds IDLE TLS connections that never
//! send a request, and keeps SENDERS clients posting LARGE-byte reviews (maps of tiny entries,
//! the costliest shape to decode) back to back, until killed.
//!
//! `hostile_load ADDR CA_PEM IDLE SENDERS LARGE_BYTES`; the server's certificate must name
//! 127.0.0.1 (`kbatch certs --host 127.0.0.1`), as the bench's does.
#![allow(clippy::print_stderr, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use kbatch_e2e::{H1, client_config, connect};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, ca, idle, senders, large] = args.as_slice() else {
        anyhow::bail!("usage: hostile_load ADDR CA_PEM IDLE SENDERS LARGE_BYTES");
    };
    let addr: SocketAddr = addr.parse()?;
    let config = client_config(&std::fs::read_to_string(ca)?, H1);
    let body = Bytes::from(kbatch_e2e::reviews::large_create(large.parse()?));
    let idle: usize = idle.parse()?;
    let senders: usize = senders.parse()?;

    // Idle connections, re-opened whenever the server closes one.
    let open = Arc::new(AtomicU64::new(0));
    for _ in 0..idle {
        let config = Arc::clone(&config);
        let open = Arc::clone(&open);
        tokio::spawn(async move {
            loop {
                let tcp = TcpStream::connect(addr).await;
                let name = ServerName::try_from("127.0.0.1").expect("an IP address");
                if let Ok(tcp) = tcp
                    && let Ok(mut tls) = TlsConnector::from(Arc::clone(&config))
                        .connect(name, tcp)
                        .await
                {
                    open.fetch_add(1, Ordering::Relaxed);
                    let mut byte = [0u8; 1];
                    let _ = tokio::io::AsyncReadExt::read(&mut tls, &mut byte).await;
                    open.fetch_sub(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    let sent = Arc::new(AtomicU64::new(0));
    for _ in 0..senders {
        let config = Arc::clone(&config);
        let body = body.clone();
        let sent = Arc::clone(&sent);
        tokio::spawn(async move {
            loop {
                if let Ok(mut conn) = connect(addr, Arc::clone(&config), "127.0.0.1").await {
                    while conn.post("/validate", body.clone()).await.is_ok() {
                        sent.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        eprintln!(
            "hostile_load: {} idle connections open, {} large reviews sent",
            open.load(Ordering::Relaxed),
            sent.load(Ordering::Relaxed)
        );
    }
}
