//! End-to-end test support: certificates in a tempdir, a verifying TLS client (HTTP/1.1 or
//! HTTP/2), a plain-HTTP probe client, and an echoing reviewer.

// Test plumbing (connections, bodies, temp dirs) that nothing ever prints.
#![allow(
    missing_debug_implementations,
    clippy::expect_used,
    clippy::unwrap_used
)]

pub mod cluster;
pub mod reviews;

use bytes::Bytes;
use http::{Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Body, Frame, SizeHint};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use kbatch_webhook::{
    Endpoint, GeneratedCerts, KeyKind, Outcome, Reply, Reviewer, RunningServer, ServerConfig,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, HandshakeKind, RootCertStore};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;

/// Generated development certificates and the directory holding them.
pub struct Certs {
    pub dir: TempDir,
    pub files: GeneratedCerts,
}

pub fn certs() -> Certs {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = kbatch_webhook::generate_dev_certs(dir.path(), &[], KeyKind::EcdsaP256)
        .expect("generating certificates");
    Certs { dir, files }
}

/// Test settings: ephemeral ports, quick reload, short grace.
pub fn config(certs: &Certs) -> ServerConfig {
    let mut config = ServerConfig::new(&certs.files.tls_cert, &certs.files.tls_key).ephemeral();
    config.reload_interval = Duration::from_millis(20);
    config.shutdown_grace = Duration::from_secs(5);
    config
}

/// A server with the echo reviewer and test settings changed by `tweak`.
pub async fn start(
    reviewer: Arc<Echo>,
    tweak: impl FnOnce(&mut ServerConfig),
) -> (Certs, RunningServer) {
    let certs = certs();
    let mut config = config(&certs);
    tweak(&mut config);
    let server = kbatch_webhook::bind(config, reviewer).await.expect("bind");
    (certs, server)
}

/// A client configuration trusting only the CA in `ca_pem`.
pub fn client_config(ca_pem: &str, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    client_config_versions(ca_pem, alpn, rustls::DEFAULT_VERSIONS)
}

pub fn client_config_versions(
    ca_pem: &str,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("CA certificate");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

pub const H1: &[&[u8]] = &[b"http/1.1"];
pub const H2: &[&[u8]] = &[b"h2"];

/// Request bodies the client can send.
pub type ClientBody = BoxBody<Bytes, Infallible>;

enum Sender {
    H1(http1::SendRequest<ClientBody>),
    H2(http2::SendRequest<ClientBody>),
}

/// One client connection.
pub struct Conn {
    sender: Sender,
    /// The task driving the connection; it ends when the connection closes.
    driver: Option<tokio::task::JoinHandle<()>>,
    /// DER of the certificate the server presented.
    pub peer_cert: Vec<u8>,
    /// The negotiated ALPN protocol.
    pub alpn: Option<Vec<u8>>,
    pub handshake: Option<HandshakeKind>,
}

/// A response, body collected.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub content_type: String,
    pub body: String,
}

pub async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    server_name: &str,
) -> anyhow::Result<Conn> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from(server_name.to_owned())?;
    let tls = TlsConnector::from(config).connect(name, tcp).await?;
    let (_, session) = tls.get_ref();
    let peer_cert = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|cert| cert.to_vec())
        .unwrap_or_default();
    let alpn = session.alpn_protocol().map(<[u8]>::to_vec);
    let handshake = session.handshake_kind();
    let io = TokioIo::new(tls);
    let sender = if alpn.as_deref() == Some(b"h2") {
        let (sender, connection) = http2::handshake(TokioExecutor::new(), io).await?;
        (
            Sender::H2(sender),
            tokio::spawn(async move {
                let _ = connection.await;
            }),
        )
    } else {
        let (sender, connection) = http1::handshake(io).await?;
        (
            Sender::H1(sender),
            tokio::spawn(async move {
                let _ = connection.await;
            }),
        )
    };
    let (sender, driver) = sender;
    Ok(Conn {
        sender,
        driver: Some(driver),
        peer_cert,
        alpn,
        handshake,
    })
}

impl Conn {
    /// Another handle on the same HTTP/2 connection (for concurrent streams); `None` for HTTP/1.1.
    pub fn h2_clone(&self) -> Option<Conn> {
        match &self.sender {
            Sender::H2(sender) => Some(Conn {
                sender: Sender::H2(sender.clone()),
                driver: None,
                peer_cert: self.peer_cert.clone(),
                alpn: self.alpn.clone(),
                handshake: self.handshake,
            }),
            Sender::H1(_) => None,
        }
    }

    /// Waits until the connection is closed (by either side). Clones from [`Conn::h2_clone`]
    /// return at once.
    pub async fn closed(&mut self) {
        if let Some(driver) = self.driver.as_mut() {
            let _ = driver.await;
        }
    }

    pub async fn post(&mut self, path: &str, body: impl Into<Bytes>) -> anyhow::Result<Resp> {
        self.send(Method::POST, path, Full::new(body.into()).boxed())
            .await
    }

    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: ClientBody,
    ) -> anyhow::Result<Resp> {
        let request = Request::builder()
            .method(method)
            .header(header::HOST, "localhost");
        let response = match &mut self.sender {
            Sender::H1(sender) => {
                sender.ready().await?;
                sender.send_request(request.uri(path).body(body)?).await?
            }
            Sender::H2(sender) => {
                sender.ready().await?;
                let uri = format!("https://localhost{path}");
                sender.send_request(request.uri(uri).body(body)?).await?
            }
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = String::from_utf8_lossy(&bytes).into_owned();
        Ok(Resp {
            status,
            content_type,
            body,
        })
    }
}

/// A body of `count` chunks of `size` bytes with no declared length (chunked in HTTP/1.1).
pub struct Chunks {
    pub count: usize,
    pub size: usize,
}

impl Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.count == 0 {
            return Poll::Ready(None);
        }
        self.count -= 1;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from(vec![b'x'; self.size])))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// A body that sends one chunk, then holds the request open until `release` fires.
pub struct Gated {
    pub first: Option<Bytes>,
    pub release: oneshot::Receiver<()>,
}

impl Body for Gated {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(first))));
        }
        match Pin::new(&mut self.release).poll(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `GET path` on the plain-HTTP probe address: (status, content type, body).
pub async fn probe(addr: SocketAddr, path: &str) -> (StatusCode, String, String) {
    let tcp = TcpStream::connect(addr).await.expect("probe connect");
    let (mut sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .expect("probe handshake");
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(header::HOST, "localhost")
        .body(Full::new(Bytes::new()))
        .expect("probe request");
    let response = sender.send_request(request).await.expect("probe response");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("probe body")
        .to_bytes();
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

/// Echoes the endpoint and body length. Special bodies: `panic` panics, `bad` gets a 400,
/// `sleep` sleeps `delay` first; a body that starts with `burn:` keeps its thread's CPU busy
/// for `delay` first (a costly review).
#[derive(Debug, Default)]
pub struct Echo {
    pub ready: AtomicBool,
    pub delay: Duration,
    /// Told when a `sleep` review starts (for tests that act while one is in flight).
    pub entered: Mutex<Option<oneshot::Sender<()>>>,
}

impl Echo {
    pub fn ready() -> Arc<Self> {
        Arc::new(Echo {
            ready: AtomicBool::new(true),
            ..Echo::default()
        })
    }
}

impl Reviewer for Echo {
    fn review(&self, endpoint: Endpoint, body: &[u8]) -> Reply {
        let reply = |http_status, body: String, outcome| Reply {
            http_status,
            body: body.into_bytes(),
            kind: "BatchJob",
            operation: "CREATE",
            outcome,
            uid: "uid-1".to_owned(),
            namespace: "team-a".to_owned(),
            name: "job-1".to_owned(),
        };
        match body {
            b"panic" => panic!("test reviewer panics on purpose"),
            b"bad" => Reply {
                kind: "unknown",
                operation: "unknown",
                ..reply(
                    400,
                    "undecodable AdmissionReview".to_owned(),
                    Outcome::Invalid,
                )
            },
            b"sleep" => {
                let entered = self.entered.lock().ok().and_then(|mut slot| slot.take());
                if let Some(entered) = entered {
                    let _ = entered.send(());
                }
                std::thread::sleep(self.delay);
                reply(200, r#"{"slept":true}"#.to_owned(), Outcome::Allowed)
            }
            _ if body.starts_with(b"burn:") => {
                let until = std::time::Instant::now() + self.delay;
                while std::time::Instant::now() < until {
                    std::hint::spin_loop();
                }
                reply(200, r#"{"burnt":true}"#.to_owned(), Outcome::Allowed)
            }
            _ => {
                let json = format!(
                    r#"{{"endpoint":"{}","len":{}}}"#,
                    endpoint.as_str(),
                    body.len()
                );
                reply(200, json, Outcome::Allowed)
            }
        }
    }

    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
