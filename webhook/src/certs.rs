//! Development certificates (`kbatch certs`): a local CA and a serving pair signed by it.
//!
//! Files written to the output directory, each atomically (a temporary file renamed over the
//! old one, so a server reloading them never reads half a file):
//! - `ca.crt`: the CA certificate (valid 5 years), for a webhook configuration's `caBundle`;
//! - `ca.key`: the CA private key, mode 0600. It is kept so that running the command again
//!   renews the serving pair under the *same* CA, and the `caBundle` already given to the
//!   cluster stays valid. Delete `ca.crt` and `ca.key` to start over with a new CA;
//! - `tls.crt`, `tls.key` (mode 0600): the serving pair, valid 1 year, `serverAuth`, with an IP
//!   SAN for each host that is an IP address and a DNS SAN for each other host.
//!
//! Every new pair is checked before it is written: the serving certificate must verify for each
//! host under the CA at its own last day, or the CA is replaced (with a warning).

use anyhow::Context;
use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SignatureAlgorithm,
};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};
use tracing::warn;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);
/// Validity of the serving certificate.
const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);
/// Validity of a new CA.
const CA_VALIDITY: Duration = Duration::from_secs(5 * 365 * 24 * 60 * 60);
/// Backdating of `notBefore`, for clocks a little behind.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// The key algorithm of generated keys.
///
/// RSA is not offered: rcgen's ring backend cannot generate RSA keys (the server still
/// serves RSA pairs made elsewhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    /// ECDSA on P-256 with SHA-256 (the default).
    #[default]
    EcdsaP256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384,
}

impl KeyKind {
    fn algorithm(self) -> &'static SignatureAlgorithm {
        match self {
            KeyKind::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        }
    }
}

/// The hosts used when none are given: loopback and the in-cluster Service names.
pub fn default_hosts() -> Vec<String> {
    [
        "localhost",
        "127.0.0.1",
        "kbatch-webhook.kbatch-system.svc",
        "kbatch-webhook.kbatch-system.svc.cluster.local",
    ]
    .map(String::from)
    .to_vec()
}

/// What [`generate_dev_certs`] wrote.
#[derive(Debug, Clone)]
pub struct GeneratedCerts {
    /// `ca.crt`.
    pub ca_cert: PathBuf,
    /// `ca.key` (mode 0600).
    pub ca_key: PathBuf,
    /// `tls.crt`.
    pub tls_cert: PathBuf,
    /// `tls.key` (mode 0600).
    pub tls_key: PathBuf,
    /// True when an existing CA in the directory was reused.
    pub ca_reused: bool,
    ca_pem: String,
}

impl GeneratedCerts {
    /// The CA certificate, PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Base64 of the CA PEM: the `caBundle` of a webhook configuration.
    pub fn ca_bundle_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.ca_pem.as_bytes())
    }
}

/// Writes a CA (or reuses the one in `out_dir`) and a serving pair for `hosts` signed by it;
/// see the module documentation. No hosts means [`default_hosts`].
pub fn generate_dev_certs(
    out_dir: &Path,
    hosts: &[String],
    key_kind: KeyKind,
) -> anyhow::Result<GeneratedCerts> {
    let hosts = if hosts.is_empty() {
        default_hosts()
    } else {
        hosts.to_vec()
    };
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let paths = GeneratedCerts {
        ca_cert: out_dir.join("ca.crt"),
        ca_key: out_dir.join("ca.key"),
        tls_cert: out_dir.join("tls.crt"),
        tls_key: out_dir.join("tls.key"),
        ca_reused: false,
        ca_pem: String::new(),
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .context("the system clock is before 1970")?;

    let existing = read_existing_ca(&paths);
    let reused = match existing {
        Some((ca_pem, ca_key_pem)) => {
            let leaf = issue_leaf(&ca_pem, &ca_key_pem, &hosts, key_kind, now);
            match leaf {
                Ok(leaf) => Some((ca_pem, ca_key_pem, leaf)),
                Err(error) => {
                    warn!(%error, dir = %out_dir.display(), "the existing CA cannot sign for a year; making a new CA");
                    None
                }
            }
        }
        None => None,
    };
    let ca_reused = reused.is_some();
    let (ca_pem, ca_key_pem, (leaf_pem, leaf_key_pem)) = match reused {
        Some(all) => all,
        None => {
            let (ca_pem, ca_key_pem) = new_ca(key_kind, now)?;
            let leaf = issue_leaf(&ca_pem, &ca_key_pem, &hosts, key_kind, now)?;
            (ca_pem, ca_key_pem, leaf)
        }
    };
    if !ca_reused {
        write_atomic(&paths.ca_key, ca_key_pem.as_bytes(), 0o600)?;
        write_atomic(&paths.ca_cert, ca_pem.as_bytes(), 0o644)?;
    }
    write_atomic(&paths.tls_key, leaf_key_pem.as_bytes(), 0o600)?;
    write_atomic(&paths.tls_cert, leaf_pem.as_bytes(), 0o644)?;
    Ok(GeneratedCerts {
        ca_reused,
        ca_pem,
        ..paths
    })
}

/// The existing `ca.crt` and `ca.key`, if both are there and readable.
fn read_existing_ca(paths: &GeneratedCerts) -> Option<(String, String)> {
    let cert = std::fs::read_to_string(&paths.ca_cert).ok()?;
    let key = std::fs::read_to_string(&paths.ca_key).ok()?;
    Some((cert, key))
}

/// Sets `notBefore` an hour back and `notAfter` `validity` ahead of `now` (since the epoch).
fn set_validity(params: &mut CertificateParams, now: Duration, validity: Duration) {
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    params.not_before = epoch + now.saturating_sub(BACKDATE);
    params.not_after = epoch + now + validity;
}

/// A new self-signed CA: (certificate PEM, PKCS#8 key PEM).
fn new_ca(key_kind: KeyKind, now: Duration) -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(key_kind.algorithm()).context("generating the CA key")?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "kbatch webhook development CA");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "kbatch");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    set_validity(&mut params, now, CA_VALIDITY);
    let cert = params
        .self_signed(&key)
        .context("signing the CA certificate")?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A serving pair for `hosts` signed by the CA, checked: (certificate PEM, PKCS#8 key PEM).
fn issue_leaf(
    ca_pem: &str,
    ca_key_pem: &str,
    hosts: &[String],
    key_kind: KeyKind,
    now: Duration,
) -> anyhow::Result<(String, String)> {
    let ca_key = KeyPair::from_pem(ca_key_pem).context("reading the CA key (PKCS#8 PEM)")?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).context("reading the CA certificate")?;
    let key = KeyPair::generate_for(key_kind.algorithm()).context("generating the serving key")?;
    let mut params = CertificateParams::new(hosts.to_vec())
        .context("a host is neither an IP address nor an ASCII DNS name")?;
    if let Some(first) = hosts.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, now, LEAF_VALIDITY);
    let cert = params
        .signed_by(&key, &issuer)
        .context("signing the serving certificate")?;
    // Valid for every host under the CA until the serving certificate's last day.
    verify_leaf(ca_pem, cert.der(), hosts, now + LEAF_VALIDITY - DAY)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Verifies `leaf` for each host (that is a valid server name) under the CA at time `at`.
fn verify_leaf(
    ca_pem: &str,
    leaf: &CertificateDer<'_>,
    hosts: &[String],
    at: Duration,
) -> anyhow::Result<()> {
    use rustls::pki_types::pem::PemObject;
    let ca = CertificateDer::from_pem_slice(ca_pem.as_bytes()).context("reading the CA PEM")?;
    let mut roots = RootCertStore::empty();
    roots.add(ca).context("the CA certificate")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .context("building a verifier")?;
    for host in hosts {
        // A wildcard SAN is not a server name a client would ask for: nothing to check.
        let Ok(name) = ServerName::try_from(host.as_str()) else {
            continue;
        };
        verifier
            .verify_server_cert(leaf, &[], &name, &[], UnixTime::since_unix_epoch(at))
            .with_context(|| format!("the serving certificate does not verify for {host}"))?;
    }
    Ok(())
}

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Writes `contents` to a temporary file beside `path` with `mode`, then renames it over `path`.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.{}.{unique}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
        let mut file = options.open(&tmp)?;
        // The umask may have cleared bits of `mode`: set it exactly.
        #[cfg(unix)]
        file.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        #[cfg(not(unix))]
        let _ = mode;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}
