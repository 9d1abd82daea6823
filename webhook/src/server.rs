//! The HTTPS listener (TLS, HTTP/1.1 and HTTP/2 on one port), the probe listener on its own
//! thread, and the graceful shutdown that ties them together.

use crate::admission::{self, AdmissionState};
use crate::config::ServerConfig;
use crate::connections::{Closing, Connections, Slot, Tracker};
use crate::memory::ReviewMemory;
use crate::metrics::Metrics;
use crate::probes::{self, ProbeState, ProbeThread};
use crate::review::Reviewer;
use crate::tls::{CertStore, Reloader};
use anyhow::Context;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info, warn};

/// HTTP/2 keep-alive ping interval, and how long a ping may stay unanswered.
const H2_PING_INTERVAL: Duration = Duration::from_secs(30);
const H2_PING_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long the probe server may take to stop once the HTTPS side has drained.
const PROBE_STOP_TIMEOUT: Duration = Duration::from_secs(2);
/// How long an idle connection told to close (HTTP/2: GOAWAY, then a ping) may take to go.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Serves until `shutdown` completes, then drains in-flight requests (up to
/// [`ServerConfig::shutdown_grace`]) and returns. Fails early if a listener cannot be bound or
/// (unless [`ServerConfig::wait_for_certificate`]) the certificate pair cannot be loaded.
pub async fn serve(
    config: ServerConfig,
    reviewer: Arc<dyn Reviewer>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let server = bind(config, reviewer).await?;
    info!(https = %server.https_addr, probes = %server.probe_addr, "kbatch webhook serving");
    server.run_until(shutdown).await
}

/// Binds both listeners, loads the certificate and starts serving in the background.
pub async fn bind(
    config: ServerConfig,
    reviewer: Arc<dyn Reviewer>,
) -> anyhow::Result<RunningServer> {
    let metrics = Arc::new(Metrics::new());
    let certs = Arc::new(CertStore::new(&config.tls_cert, &config.tls_key));
    if let Err(error) = certs.load() {
        if !config.wait_for_certificate {
            return Err(error).context("loading the TLS certificate pair");
        }
        warn!(%error, "TLS certificate pair not loadable yet; waiting for it");
    }
    let acceptor = TlsAcceptor::from(certs.server_config().context("configuring TLS")?);
    let https = TcpListener::bind(config.addr)
        .await
        .with_context(|| format!("binding the HTTPS address {}", config.addr))?;
    let probe = std::net::TcpListener::bind(config.probe_addr)
        .with_context(|| format!("binding the probe address {}", config.probe_addr))?;
    let https_addr = https.local_addr().context("reading the HTTPS address")?;
    let probe_addr = probe.local_addr().context("reading the probe address")?;
    let draining = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let memory = Arc::new(ReviewMemory::new(config.review_memory_bytes));
    let router = admission::router(AdmissionState {
        reviewer: Arc::clone(&reviewer),
        metrics: Arc::clone(&metrics),
        limiter: Arc::new(Semaphore::new(permits(config.max_concurrent_requests))),
        memory: Arc::clone(&memory),
        review_threads: Arc::new(Semaphore::new(permits(config.review_threads))),
        body_limit: config.body_limit_bytes,
        request_timeout: config.request_timeout,
        queue_timeout: config.queue_timeout,
    });
    let probes = probes::spawn(
        probe,
        ProbeState {
            reviewer,
            memory: Arc::clone(&memory),
            certs: Arc::clone(&certs),
            metrics: Arc::clone(&metrics),
            draining: Arc::clone(&draining),
        },
    )
    .context("starting the probe server")?;
    let context = Arc::new(ConnContext {
        acceptor,
        http: http_builder(&config),
        router,
        metrics: Arc::clone(&metrics),
        handshake_timeout: config.tls_handshake_timeout,
        first_request_timeout: config.first_request_timeout,
        idle_timeout: config.idle_timeout,
    });
    let reloader = Reloader::new(Arc::clone(&certs), metrics);
    let task = tokio::spawn(run(Run {
        https,
        probes,
        context,
        reloader,
        draining,
        stopped,
        config,
    }));
    Ok(RunningServer {
        https_addr,
        probe_addr,
        certs,
        stop,
        task,
    })
}

/// A server started by [`bind`]. Dropping it also starts the graceful shutdown.
#[derive(Debug)]
pub struct RunningServer {
    https_addr: SocketAddr,
    probe_addr: SocketAddr,
    certs: Arc<CertStore>,
    stop: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    /// The bound HTTPS address (the real port when the configured one was 0).
    pub fn https_addr(&self) -> SocketAddr {
        self.https_addr
    }

    /// The bound plain-HTTP probe address.
    pub fn probe_addr(&self) -> SocketAddr {
        self.probe_addr
    }

    /// True once a certificate pair is loaded.
    pub fn certificate_loaded(&self) -> bool {
        self.certs.is_loaded()
    }

    /// Starts the graceful shutdown: stop accepting, let in-flight requests finish.
    pub fn shutdown(&self) {
        self.stop.send_replace(true);
    }

    /// Waits until the server has stopped (after [`RunningServer::shutdown`], or on a fatal
    /// error).
    pub async fn join(self) -> anyhow::Result<()> {
        let RunningServer { stop, task, .. } = self;
        let result = task.await;
        drop(stop);
        result.context("the server task failed")?
    }

    /// Serves until `shutdown` completes, then shuts down gracefully and waits.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let RunningServer { stop, mut task, .. } = self;
        let result = tokio::select! {
            () = shutdown => {
                stop.send_replace(true);
                (&mut task).await
            }
            result = &mut task => result,
        };
        result.context("the server task failed")?
    }
}

/// HTTP/1.1 and HTTP/2 settings of the HTTPS connections.
fn http_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut http = auto::Builder::new(TokioExecutor::new());
    http.http1()
        .timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(config.header_read_timeout);
    http.http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(config.max_concurrent_streams)
        .keep_alive_interval(H2_PING_INTERVAL)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    http
}

/// What every HTTPS connection task shares.
struct ConnContext {
    acceptor: TlsAcceptor,
    http: auto::Builder<TokioExecutor>,
    router: Router,
    metrics: Arc<Metrics>,
    handshake_timeout: Duration,
    first_request_timeout: Duration,
    idle_timeout: Duration,
}

/// Everything the background task owns.
struct Run {
    https: TcpListener,
    probes: ProbeThread,
    context: Arc<ConnContext>,
    reloader: Reloader,
    draining: Arc<AtomicBool>,
    stopped: watch::Receiver<bool>,
    config: ServerConfig,
}

/// Resolves once shutdown is asked for (or the [`RunningServer`] is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn run(run: Run) -> anyhow::Result<()> {
    let Run {
        https,
        probes,
        context,
        reloader,
        draining,
        mut stopped,
        config,
    } = run;
    let reload = tokio::spawn(reloader.run(config.reload_interval, stopped.clone()));

    let slots = Connections::new(config.max_connections);
    let mut connections = JoinSet::new();
    {
        // Kept across iterations: an accepted connection waiting for a slot is not dropped when
        // another branch of the select wins.
        let mut incoming = std::pin::pin!(accept(&https, &slots));
        loop {
            tokio::select! {
                biased;
                () = stop_requested(&mut stopped) => break,
                Some(joined) = connections.join_next() => {
                    if let Err(e) = joined
                        && e.is_panic()
                    {
                        error!(error = %e, "a connection task panicked");
                    }
                }
                accepted = &mut incoming => {
                    incoming.set(accept(&https, &slots));
                    match accepted {
                        Ok((tcp, peer, slot)) => {
                            let task = serve_https(tcp, peer, slot, Arc::clone(&context), stopped.clone());
                            connections.spawn(task);
                        }
                        Err(error) => {
                            warn!(%error, "accepting a connection failed");
                            tokio::time::sleep(ACCEPT_BACKOFF).await;
                        }
                    }
                }
            }
        }
    }

    draining.store(true, Ordering::Relaxed);
    drop(https);
    info!(
        connections = connections.len(),
        "shutting down: draining in-flight requests"
    );
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(config.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!(
            connections = connections.len(),
            "drain deadline passed; closing the rest"
        );
        connections.shutdown().await;
    }
    if !probes.stop(PROBE_STOP_TIMEOUT).await {
        debug!("the probe server did not stop in time; leaving its thread");
    }
    let _ = reload.await;
    info!("kbatch webhook stopped");
    Ok(())
}

/// A configured limit as semaphore permits: at least 1, at most what tokio allows.
fn permits(limit: usize) -> usize {
    limit.clamp(1, Semaphore::MAX_PERMITS)
}

/// Waits for a connection, then for a slot for it (see [`Connections::admit`]).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Connections>,
) -> std::io::Result<(TcpStream, SocketAddr, Slot)> {
    let (tcp, peer) = listener.accept().await?;
    Ok((tcp, peer, slots.admit().await))
}

/// One HTTPS connection: handshake, then HTTP/1.1 or HTTP/2 until it closes, idles out, is
/// evicted, or the server shuts down.
async fn serve_https(
    tcp: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    context: Arc<ConnContext>,
    mut stopped: watch::Receiver<bool>,
) {
    let _open = context.metrics.connection_open();
    let _ = tcp.set_nodelay(true);
    let tracker = Arc::clone(slot.tracker());
    let handshake = tokio::time::timeout(context.handshake_timeout, context.acceptor.accept(tcp));
    let closing = tracker.closing(context.first_request_timeout, context.idle_timeout);
    let tls = tokio::select! {
        () = stop_requested(&mut stopped) => return,
        // Silent past the first-request deadline, or evicted, before the handshake is done.
        closing = closing => {
            debug!(%peer, ?closing, "closing a connection still handshaking");
            context.metrics.connection_closed(closing.as_str());
            return;
        }
        handshake = handshake => match handshake {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                context.metrics.handshake_failed();
                debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                context.metrics.handshake_failed();
                debug!(%peer, "TLS handshake timed out");
                return;
            }
        },
    };
    let timeouts = (context.first_request_timeout, context.idle_timeout);
    let io = TokioIo::new(tls);
    if let Some(closing) = serve_http(
        io,
        &context.http,
        &context.router,
        slot,
        timeouts,
        peer,
        stopped,
    )
    .await
    {
        context.metrics.connection_closed(closing.as_str());
    }
}

/// Serves HTTP on `io` until it closes, idles out (then closed gracefully: HTTP/2 gets a
/// GOAWAY), is evicted (closed at once when it never sent a request), or the server shuts down
/// (in-flight requests finish). `timeouts` are the first-request and idle timeouts. Returns
/// why the server closed it, if it did.
pub(crate) async fn serve_http<I>(
    io: I,
    http: &auto::Builder<TokioExecutor>,
    router: &Router,
    slot: Slot,
    timeouts: (Duration, Duration),
    peer: SocketAddr,
    mut stopped: watch::Receiver<bool>,
) -> Option<Closing>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let tracker = Arc::clone(slot.tracker());
    let service = Tracked {
        inner: TowerToHyperService::new(router.clone()),
        tracker: Arc::clone(&tracker),
    };
    let mut connection = std::pin::pin!(http.serve_connection(io, service));
    let (first_request, idle) = timeouts;
    let finished = tokio::select! {
        result = connection.as_mut() => Ok(result),
        () = stop_requested(&mut stopped) => Err(None),
        closing = tracker.closing(first_request, idle) => Err(Some(closing)),
    };
    let (result, closed) = match finished {
        Ok(result) => (result, None),
        Err(Some(Closing::Evicted)) if !tracker.has_served() => {
            debug!(%peer, "closing a silent connection to make room");
            return Some(Closing::Evicted);
        }
        Err(Some(closing)) => {
            debug!(%peer, ?closing, "closing an idle connection");
            connection.as_mut().graceful_shutdown();
            match tokio::time::timeout(CLOSE_GRACE, connection.as_mut()).await {
                Ok(result) => (result, Some(closing)),
                Err(_) => return Some(closing),
            }
        }
        Err(None) => {
            connection.as_mut().graceful_shutdown();
            (connection.await, None)
        }
    };
    drop(slot);
    if let Err(error) = result {
        debug!(%peer, %error, "connection closed with an error");
    }
    closed
}

/// The router, with each request counted in flight on its connection while it is answered.
#[derive(Clone)]
struct Tracked {
    inner: TowerToHyperService<Router>,
    tracker: Arc<Tracker>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = axum::response::Response;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<axum::response::Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.tracker.begin();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let response = answer.await;
            drop(in_flight);
            response
        })
    }
}
