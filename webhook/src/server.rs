//! The HTTPS listener (TLS, HTTP/1.1 and HTTP/2 on one port), the probe listener, and the
//! graceful shutdown that ties them together.

use crate::admission::{self, AdmissionState};
use crate::config::ServerConfig;
use crate::metrics::Metrics;
use crate::probes::{self, ProbeState};
use crate::review::Reviewer;
use crate::tls::{CertStore, Reloader};
use anyhow::Context;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
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
    let probe = TcpListener::bind(config.probe_addr)
        .await
        .with_context(|| format!("binding the probe address {}", config.probe_addr))?;
    let https_addr = https.local_addr().context("reading the HTTPS address")?;
    let probe_addr = probe.local_addr().context("reading the probe address")?;
    let draining = Arc::new(AtomicBool::new(false));
    let (stop, stopped) = watch::channel(false);
    let router = admission::router(AdmissionState {
        reviewer: Arc::clone(&reviewer),
        metrics: Arc::clone(&metrics),
        limiter: Arc::new(Semaphore::new(permits(config.max_concurrent_requests))),
        body_limit: config.body_limit_bytes,
        request_timeout: config.request_timeout,
    });
    let probes = probes::router(ProbeState {
        reviewer,
        certs: Arc::clone(&certs),
        metrics: Arc::clone(&metrics),
        draining: Arc::clone(&draining),
    });
    let context = Arc::new(ConnContext {
        acceptor,
        http: http_builder(&config),
        router,
        metrics: Arc::clone(&metrics),
        handshake_timeout: config.tls_handshake_timeout,
    });
    let reloader = Reloader::new(Arc::clone(&certs), metrics);
    let task = tokio::spawn(run(Run {
        https,
        probe,
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
}

/// Everything the background task owns.
struct Run {
    https: TcpListener,
    probe: TcpListener,
    probes: Router,
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
        probe,
        probes,
        context,
        reloader,
        draining,
        mut stopped,
        config,
    } = run;
    let reload = tokio::spawn(reloader.run(config.reload_interval, stopped.clone()));
    let (probe_stop, mut probe_stopped) = watch::channel(false);
    let mut probe_server = tokio::spawn(
        axum::serve(probe, probes)
            .with_graceful_shutdown(async move { stop_requested(&mut probe_stopped).await })
            .into_future(),
    );

    let limit = Arc::new(Semaphore::new(permits(config.max_connections)));
    let mut connections = JoinSet::new();
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
            accepted = accept(&https, &limit) => match accepted {
                Ok((tcp, peer, permit)) => {
                    let task = serve_connection(tcp, peer, permit, Arc::clone(&context), stopped.clone());
                    connections.spawn(task);
                }
                Err(error) => {
                    warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
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
    probe_stop.send_replace(true);
    match tokio::time::timeout(PROBE_STOP_TIMEOUT, &mut probe_server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(error))) => warn!(%error, "the probe server failed"),
        Ok(Err(error)) => warn!(%error, "the probe server task failed"),
        Err(_) => {
            debug!("the probe server did not stop in time; closing it");
            probe_server.abort();
        }
    }
    let _ = reload.await;
    info!("kbatch webhook stopped");
    Ok(())
}

/// A configured limit as semaphore permits: at least 1, at most what tokio allows.
fn permits(limit: usize) -> usize {
    limit.clamp(1, Semaphore::MAX_PERMITS)
}

/// Waits for a connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    limit: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = Arc::clone(limit)
        .acquire_owned()
        .await
        .map_err(std::io::Error::other)?;
    let (tcp, peer) = listener.accept().await?;
    Ok((tcp, peer, permit))
}

/// One HTTPS connection: handshake, then HTTP/1.1 or HTTP/2 until it closes or shutdown.
async fn serve_connection(
    tcp: TcpStream,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
    context: Arc<ConnContext>,
    mut stopped: watch::Receiver<bool>,
) {
    let _open = context.metrics.connection_open();
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(context.handshake_timeout, context.acceptor.accept(tcp));
    let tls = tokio::select! {
        () = stop_requested(&mut stopped) => return,
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
    let service = TowerToHyperService::new(context.router.clone());
    let mut connection = std::pin::pin!(context.http.serve_connection(TokioIo::new(tls), service));
    let finished = tokio::select! {
        result = connection.as_mut() => Some(result),
        () = stop_requested(&mut stopped) => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        debug!(%peer, %error, "connection closed with an error");
    }
}
