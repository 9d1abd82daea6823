//! Server settings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Settings of the webhook server. Build it with [`ServerConfig::new`] and change fields.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// HTTPS address of `/mutate` and `/validate` (default `127.0.0.1:8443`; port 0 picks one).
    pub addr: SocketAddr,
    /// Plain-HTTP address of `/healthz`, `/readyz` and `/metrics` (default `127.0.0.1:8080`).
    pub probe_addr: SocketAddr,
    /// PEM certificate chain, leaf first. Reloaded when it changes.
    pub tls_cert: PathBuf,
    /// PEM private key (PKCS#8, SEC1 or PKCS#1). Reloaded when it changes.
    pub tls_key: PathBuf,
    /// Largest request body accepted; larger ones get 413 (default 3 MiB, as the API server).
    pub body_limit_bytes: usize,
    /// Time to receive the body and answer one request; past it the answer is 408 (default 10 s).
    pub request_timeout: Duration,
    /// Time for a client to send a request's headers; also closes idle HTTP/1.1 connections
    /// (default 10 s).
    pub header_read_timeout: Duration,
    /// Time for a TLS handshake (default 10 s).
    pub tls_handshake_timeout: Duration,
    /// Time from a connection's accept to its first request; a connection silent for longer is
    /// closed (default 10 s).
    pub first_request_timeout: Duration,
    /// Time a connection may stay open with no request in flight after its last one; HTTP/2
    /// connections are sent a GOAWAY (default 90 s, the API server's own idle timeout).
    pub idle_timeout: Duration,
    /// Requests read or reviewed at once; more wait for a slot within `queue_timeout`
    /// (default 1024).
    pub max_concurrent_requests: usize,
    /// Bytes the requests being read and reviewed may cost at once, body and decoding included
    /// (default 128 MiB; `kbatch serve` sizes it from the container's memory limit). A request
    /// that cannot reserve its cost within `queue_timeout` gets 503; one that costs more than
    /// the whole budget waits for all of it.
    pub review_memory_bytes: usize,
    /// Time a request may wait for a review slot, its memory or a review thread before it is
    /// answered 503 (default 2 s). Short, because a waiting HTTP/2 stream holds part of its
    /// connection's flow-control window, which the streams being read need.
    pub queue_timeout: Duration,
    /// Threads that decide large reviews, off the async workers (default: the CPUs available).
    pub review_threads: usize,
    /// Open HTTPS connections. At the limit a new connection closes an idle one (silent ones
    /// first); only when all have a request in flight does it wait (default 1024).
    pub max_connections: usize,
    /// Concurrent HTTP/2 streams per connection (default 256).
    pub max_concurrent_streams: u32,
    /// How often the certificate files are checked for changes (default 1 s).
    pub reload_interval: Duration,
    /// On shutdown, how long in-flight requests may take to finish (default 15 s).
    pub shutdown_grace: Duration,
    /// Start even if the certificate pair cannot be loaded yet, and wait for it (unready until
    /// then). When false (the default), a pair that does not load fails [`crate::bind`].
    pub wait_for_certificate: bool,
}

impl ServerConfig {
    /// The defaults, serving the given certificate and key files.
    pub fn new(tls_cert: impl Into<PathBuf>, tls_key: impl Into<PathBuf>) -> Self {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        ServerConfig {
            addr: SocketAddr::new(localhost, 8443),
            probe_addr: SocketAddr::new(localhost, 8080),
            tls_cert: tls_cert.into(),
            tls_key: tls_key.into(),
            body_limit_bytes: 3 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            first_request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            max_concurrent_requests: 1024,
            review_memory_bytes: 128 * 1024 * 1024,
            queue_timeout: Duration::from_secs(2),
            review_threads: std::thread::available_parallelism().map_or(1, usize::from),
            max_connections: 1024,
            max_concurrent_streams: 256,
            reload_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(15),
            wait_for_certificate: false,
        }
    }

    /// The same settings with both listeners on `127.0.0.1` port 0 (tests, benchmarks).
    pub fn ephemeral(self) -> Self {
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        ServerConfig {
            addr: SocketAddr::new(localhost, 0),
            probe_addr: SocketAddr::new(localhost, 0),
            ..self
        }
    }
}
