//! TLS: the certificate pair, its reload, and the rustls server configuration.
//!
//! The pair lives in a [`CertStore`]; rustls asks it for the certificate on every new handshake
//! (through [`ResolvesServerCert`]), so swapping the pair changes what new connections see and
//! leaves open connections alone. The reload task reads both files every `reload_interval` and
//! hashes their content (modification times can miss a same-size rewrite within their
//! granularity, and two small files a second cost nothing); a changed pair is installed only when
//! both files parse and the key matches the certificate, so a half-written pair is ignored with
//! a warning and tried again when the files change again.

use crate::metrics::Metrics;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// Largest certificate or key file read (a chain is a few KiB).
const MAX_PEM_BYTES: u64 = 1024 * 1024;
/// TLS 1.2 session-ID cache entries (TLS 1.3 and 1.2 tickets need no server state).
const SESSION_CACHE_SIZE: usize = 4096;

/// Why a certificate pair could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is larger than any sensible PEM file.
    #[error("{path} is larger than {MAX_PEM_BYTES} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// A file is not valid PEM, or holds no item of the expected kind.
    #[error("{path}: no PEM {what} ({detail})")]
    Pem {
        /// The file.
        path: PathBuf,
        /// `certificate` or `private key (PKCS#8, SEC1 or PKCS#1)`.
        what: &'static str,
        /// The decoder's reason.
        detail: String,
    },
    /// The key is not one rustls can sign with (ECDSA P-256/P-384, RSA, Ed25519).
    #[error("{path}: unusable private key: {source}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// The rustls reason.
        source: rustls::Error,
    },
    /// The key does not belong to the certificate (or the certificate does not parse).
    #[error("the key does not match the certificate: {0}")]
    Mismatch(rustls::Error),
}

struct Loaded {
    key: Arc<CertifiedKey>,
    hash: u64,
}

/// The serving certificate pair, read from two PEM files and swapped when they change.
pub struct CertStore {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Option<Loaded>>,
}

impl std::fmt::Debug for CertStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertStore")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("loaded", &self.is_loaded())
            .finish()
    }
}

impl CertStore {
    /// A store for the given files, with nothing loaded yet.
    pub fn new(cert_path: impl Into<PathBuf>, key_path: impl Into<PathBuf>) -> Self {
        CertStore {
            cert_path: cert_path.into(),
            key_path: key_path.into(),
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            current: RwLock::new(None),
        }
    }

    /// Reads and installs the pair now (blocking file reads: call it at startup).
    pub fn load(&self) -> Result<(), CertError> {
        let (cert, key) = read_pair(&self.cert_path, &self.key_path)?;
        let hash = pair_hash(&cert, &key);
        self.install(&cert, &key, hash)
    }

    /// True once a pair is installed (for /readyz).
    pub fn is_loaded(&self) -> bool {
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_some()
    }

    /// The pair new handshakes get, if one is loaded.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        let guard = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_ref().map(|loaded| Arc::clone(&loaded.key))
    }

    fn current_hash(&self) -> Option<u64> {
        let guard = self
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        guard.as_ref().map(|loaded| loaded.hash)
    }

    fn install(&self, cert_pem: &[u8], key_pem: &[u8], hash: u64) -> Result<(), CertError> {
        let key = parse_pair(
            cert_pem,
            key_pem,
            &self.key_path,
            &self.cert_path,
            &self.provider,
        )?;
        let mut guard = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard = Some(Loaded {
            key: Arc::new(key),
            hash,
        });
        Ok(())
    }

    /// The rustls configuration: TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`, session resumption
    /// by tickets and by session ID, no client authentication, no SNI needed (the same pair is
    /// served whatever name the client asks for, or none).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<rustls::ServerConfig>, rustls::Error> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(Arc::clone(self))));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE_SIZE);
        config.ticketer = rustls::crypto::ring::Ticketer::new()?;
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct Resolver(Arc<CertStore>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current()
    }
}

/// Parses a PEM chain (leaf first) and a PEM key, and checks that they belong together.
fn parse_pair(
    cert_pem: &[u8],
    key_pem: &[u8],
    key_path: &Path,
    cert_path: &Path,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertError> {
    let pem_error = |path: &Path, what, detail: String| CertError::Pem {
        path: path.to_path_buf(),
        what,
        detail,
    };
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert_path, "certificate", e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(cert_path, "certificate", "none found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        pem_error(
            key_path,
            "private key (PKCS#8, SEC1 or PKCS#1)",
            e.to_string(),
        )
    })?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| CertError::Key {
            path: key_path.to_path_buf(),
            source,
        })?;
    let certified = CertifiedKey::new(chain, signing_key);
    match certified.keys_match() {
        // ring knows the public key of every key type it loads; `Unknown` cannot be checked.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(e) => Err(CertError::Mismatch(e)),
    }
}

fn read_bounded(path: &Path) -> Result<Vec<u8>, CertError> {
    let read_error = |source| CertError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PEM_BYTES {
        return Err(CertError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(bytes)
}

fn read_pair(cert_path: &Path, key_path: &Path) -> Result<(Vec<u8>, Vec<u8>), CertError> {
    Ok((read_bounded(cert_path)?, read_bounded(key_path)?))
}

fn pair_hash(cert: &[u8], key: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    cert.hash(&mut hasher);
    key.hash(&mut hasher);
    hasher.finish()
}

/// What one look at the files found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Poll {
    /// Same content as last time.
    Unchanged,
    /// A new pair is installed.
    Reloaded,
    /// The files changed but do not form a valid pair (yet).
    Rejected,
}

/// Watches the two files and installs a changed pair.
#[derive(Debug)]
pub(crate) struct Reloader {
    store: Arc<CertStore>,
    metrics: Arc<Metrics>,
    /// Hash of the last content tried, installed or not.
    last_tried: Option<u64>,
    /// The last read error reported, to warn once per distinct error.
    last_error: Option<String>,
}

impl Reloader {
    pub(crate) fn new(store: Arc<CertStore>, metrics: Arc<Metrics>) -> Self {
        let last_tried = store.current_hash();
        Reloader {
            store,
            metrics,
            last_tried,
            last_error: None,
        }
    }

    /// Reads the files once and installs them if they changed and form a valid pair.
    pub(crate) async fn poll(&mut self) -> Poll {
        let (cert_path, key_path) = (self.store.cert_path.clone(), self.store.key_path.clone());
        let read = tokio::task::spawn_blocking(move || read_pair(&cert_path, &key_path)).await;
        let (cert, key) = match read {
            Ok(Ok(pair)) => pair,
            Ok(Err(error)) => return self.reject(error.to_string()),
            Err(join_error) => return self.reject(format!("reading the files: {join_error}")),
        };
        let hash = pair_hash(&cert, &key);
        if self.last_tried == Some(hash) {
            return Poll::Unchanged;
        }
        self.last_tried = Some(hash);
        match self.store.install(&cert, &key, hash) {
            Ok(()) => {
                self.last_error = None;
                self.metrics.certificate_reload(true);
                info!(cert = %self.store.cert_path.display(), "reloaded the TLS certificate");
                Poll::Reloaded
            }
            Err(error) => {
                self.metrics.certificate_reload(false);
                self.reject(error.to_string())
            }
        }
    }

    fn reject(&mut self, reason: String) -> Poll {
        if self.last_error.as_deref() != Some(reason.as_str()) {
            warn!(%reason, "ignoring the changed TLS certificate files until they change again");
            self.last_error = Some(reason);
        }
        Poll::Rejected
    }

    /// Polls every `interval` until `stop` turns true.
    pub(crate) async fn run(mut self, interval: Duration, mut stop: watch::Receiver<bool>) {
        // `interval` panics on zero: poll at most every 10 ms.
        let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                // The guard `wait_for` returns must not live across the poll's await.
                () = async { let _ = stop.wait_for(|stopped| *stopped).await; } => return,
            }
            self.poll().await;
        }
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
