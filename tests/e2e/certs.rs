//! `generate_dev_certs`: files, modes, SANs, key type, CA reuse.

use kbatch_webhook::{KeyKind, default_hosts, generate_dev_certs};
use rustls::RootCertStore;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

fn der(path: &Path) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(path).unwrap()
}

/// Verifies the serving certificate in `dir` for `host` under `ca.crt` now.
fn verifies(dir: &Path, leaf: &CertificateDer<'_>, host: &str) -> bool {
    let mut roots = RootCertStore::empty();
    roots.add(der(&dir.join("ca.crt"))).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .unwrap();
    let name = ServerName::try_from(host.to_owned()).unwrap();
    verifier
        .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
        .is_ok()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn default_pair_is_p256_with_every_san_and_private_keys() {
    let dir = tempfile::tempdir().unwrap();
    let files = generate_dev_certs(dir.path(), &[], KeyKind::EcdsaP256).unwrap();
    assert!(!files.ca_reused);
    assert_eq!(files.tls_cert, dir.path().join("tls.crt"));
    let leaf = der(&files.tls_cert);
    // webpki matches IP names only against IP SANs and DNS names only against DNS SANs.
    for host in default_hosts() {
        assert!(verifies(dir.path(), &leaf, &host), "{host}");
    }
    assert!(!verifies(dir.path(), &leaf, "kbatch-webhook.other.svc"));
    assert!(!verifies(dir.path(), &leaf, "127.0.0.2"));

    let key = std::fs::read_to_string(&files.tls_key).unwrap();
    let key = rcgen::KeyPair::from_pem(&key).unwrap();
    assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P256_SHA256);
    assert_eq!(mode(&files.tls_key), 0o600);
    assert_eq!(mode(&files.ca_key), 0o600);
    assert_eq!(mode(&files.tls_cert), 0o644);

    use base64::Engine;
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(files.ca_bundle_base64())
        .unwrap();
    assert_eq!(bundle, std::fs::read(&files.ca_cert).unwrap());
    // Only the four files: no temporary file left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 4);
}

#[test]
fn renewal_keeps_the_ca_and_custom_hosts_apply() {
    let dir = tempfile::tempdir().unwrap();
    let first = generate_dev_certs(dir.path(), &[], KeyKind::EcdsaP256).unwrap();
    let ca_before = std::fs::read(&first.ca_cert).unwrap();
    let leaf_before = der(&first.tls_cert);
    let hosts = ["webhook.test".to_owned(), "127.0.0.2".to_owned()];
    let second = generate_dev_certs(dir.path(), &hosts, KeyKind::EcdsaP384).unwrap();
    assert!(second.ca_reused);
    assert_eq!(std::fs::read(&second.ca_cert).unwrap(), ca_before);
    let leaf = der(&second.tls_cert);
    assert_ne!(leaf, leaf_before);
    assert!(
        verifies(dir.path(), &leaf_before, "localhost"),
        "old leaf still under the CA"
    );
    assert!(verifies(dir.path(), &leaf, "webhook.test"));
    assert!(verifies(dir.path(), &leaf, "127.0.0.2"));
    assert!(!verifies(dir.path(), &leaf, "localhost"));
    let key = std::fs::read_to_string(&second.tls_key).unwrap();
    let key = rcgen::KeyPair::from_pem(&key).unwrap();
    assert_eq!(key.algorithm(), &rcgen::PKCS_ECDSA_P384_SHA384);

    // A broken CA is replaced, not used.
    std::fs::write(&second.ca_key, "not a key").unwrap();
    let third = generate_dev_certs(dir.path(), &[], KeyKind::EcdsaP256).unwrap();
    assert!(!third.ca_reused);
    assert_ne!(std::fs::read(&third.ca_cert).unwrap(), ca_before);
    assert!(verifies(dir.path(), &der(&third.tls_cert), "localhost"));
}

#[test]
fn hosts_that_are_not_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let result = generate_dev_certs(dir.path(), &["bad name ü".to_owned()], KeyKind::EcdsaP256);
    assert!(result.is_err());
}
