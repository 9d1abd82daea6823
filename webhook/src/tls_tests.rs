//! Unit tests of `tls.rs`: key formats, mismatches, and the reload rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::certs::{KeyKind, generate_dev_certs};
use rcgen::{CertificateParams, KeyPair};

const RSA_PKCS8: &str = include_str!("../tests/fixtures/rsa-pkcs8.key");
const RSA_PKCS1: &str = include_str!("../tests/fixtures/rsa-pkcs1.key");
const EC_PKCS8: &str = include_str!("../tests/fixtures/ec-pkcs8.key");
const EC_SEC1: &str = include_str!("../tests/fixtures/ec-sec1.key");

/// A self-signed certificate for the PKCS#8 key `key_pem`, signed with `alg`.
fn self_signed(key_pem: &str, alg: &'static rcgen::SignatureAlgorithm) -> String {
    let key = KeyPair::from_pem_and_sign_algo(key_pem, alg).unwrap();
    let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.self_signed(&key).unwrap().pem()
}

fn parse(cert: &str, key: &str) -> Result<CertifiedKey, CertError> {
    let provider = rustls::crypto::ring::default_provider();
    parse_pair(
        cert.as_bytes(),
        key.as_bytes(),
        Path::new("tls.key"),
        Path::new("tls.crt"),
        &provider,
    )
}

#[test]
fn every_key_format_loads() {
    let rsa_cert = self_signed(RSA_PKCS8, &rcgen::PKCS_RSA_SHA256);
    let ec_cert = self_signed(EC_PKCS8, &rcgen::PKCS_ECDSA_P256_SHA256);
    for (cert, key, what) in [
        (&rsa_cert, RSA_PKCS8, "RSA PKCS#8"),
        (&rsa_cert, RSA_PKCS1, "RSA PKCS#1"),
        (&ec_cert, EC_PKCS8, "P-256 PKCS#8"),
        (&ec_cert, EC_SEC1, "P-256 SEC1 after EC PARAMETERS"),
    ] {
        let loaded = parse(cert, key);
        assert!(loaded.is_ok(), "{what}: {:?}", loaded.err());
    }
}

#[test]
fn mismatched_and_broken_pairs_are_refused() {
    let rsa_cert = self_signed(RSA_PKCS8, &rcgen::PKCS_RSA_SHA256);
    let ec_cert = self_signed(EC_PKCS8, &rcgen::PKCS_ECDSA_P256_SHA256);
    assert!(matches!(
        parse(&rsa_cert, EC_PKCS8),
        Err(CertError::Mismatch(_))
    ));
    assert!(matches!(
        parse(&ec_cert, RSA_PKCS1),
        Err(CertError::Mismatch(_))
    ));
    assert!(matches!(parse("", EC_PKCS8), Err(CertError::Pem { .. })));
    assert!(matches!(parse(&ec_cert, ""), Err(CertError::Pem { .. })));
    assert!(matches!(
        parse(&ec_cert, "garbage"),
        Err(CertError::Pem { .. })
    ));
    // A certificate cut in the middle (a half-written file).
    let half = &ec_cert[..ec_cert.len() / 2];
    assert!(parse(half, EC_PKCS8).is_err());
    // A key PEM block whose content is not a key.
    let bogus_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    assert!(matches!(
        parse(&ec_cert, bogus_key),
        Err(CertError::Key { .. })
    ));
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, contents).expect("writing a test file");
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("reading a test file")
}

fn leaf_der(store: &CertStore) -> Vec<u8> {
    store
        .current()
        .and_then(|key| key.cert.first().map(|c| c.to_vec()))
        .unwrap_or_default()
}

#[tokio::test]
async fn reload_installs_only_complete_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let first = generate_dev_certs(dir.path(), &[], KeyKind::EcdsaP256).unwrap();
    let store = Arc::new(CertStore::new(&first.tls_cert, &first.tls_key));
    assert!(!store.is_loaded());
    store.load().unwrap();
    assert!(store.is_loaded());
    let metrics = Arc::new(Metrics::new());
    let mut reloader = Reloader::new(Arc::clone(&store), Arc::clone(&metrics));
    assert_eq!(reloader.poll().await, Poll::Unchanged);
    let original = leaf_der(&store);

    // A new pair elsewhere; copy the certificate first, as a non-atomic rotation would.
    let other_dir = tempfile::tempdir().unwrap();
    let second = generate_dev_certs(other_dir.path(), &[], KeyKind::EcdsaP256).unwrap();
    write(&first.tls_cert, &read(&second.tls_cert));
    assert_eq!(reloader.poll().await, Poll::Rejected);
    assert_eq!(
        reloader.poll().await,
        Poll::Unchanged,
        "the same half pair is not tried twice"
    );
    assert_eq!(leaf_der(&store), original, "a half pair is not installed");

    write(&first.tls_key, &read(&second.tls_key));
    assert_eq!(reloader.poll().await, Poll::Reloaded);
    let rotated = leaf_der(&store);
    assert_ne!(rotated, original);

    // Files that vanish (mid-rename) or are truncated keep the current pair.
    std::fs::remove_file(&first.tls_key).unwrap();
    assert_eq!(reloader.poll().await, Poll::Rejected);
    write(&first.tls_key, "");
    assert_eq!(reloader.poll().await, Poll::Rejected);
    assert_eq!(leaf_der(&store), rotated);
    assert!(store.is_loaded());

    let text = metrics.encode().unwrap_or_default();
    assert!(
        text.contains(r#"kbatch_tls_certificate_reloads_total{result="success"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kbatch_tls_certificate_reloads_total{result="failure"} 2"#),
        "{text}"
    );
}

#[test]
fn oversized_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.crt");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(MAX_PEM_BYTES + 1).unwrap();
    let store = CertStore::new(&big, &big);
    assert!(matches!(store.load(), Err(CertError::TooLarge { .. })));
    assert!(!store.is_loaded());
}
