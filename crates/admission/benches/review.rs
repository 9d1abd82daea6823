//! One whole admission decision: an AdmissionReview body in, the reply out.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use kbatch_admission::{AdmissionConfig, Endpoint, review};
use std::hint::black_box;
use std::path::PathBuf;

/// The allocator the `kbatch` binary serves with, so that the figures are the served ones.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn bench(c: &mut Criterion) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let docs = kbatch_manifests::read_paths(&[repo.join("manifests/examples")]).unwrap();
    let policy = kbatch_manifests::policy_set(docs.iter().filter_map(|d| d.object.as_ref().ok()));
    let config = AdmissionConfig::default();
    for (name, endpoint, file) in [
        ("validate", Endpoint::Validate, "tests/bench/validate.json"),
        (
            "mutate",
            Endpoint::Mutate,
            "tests/fixtures/admission/019.json",
        ),
    ] {
        let body = std::fs::read(repo.join(file)).unwrap();
        let reply = review(&policy, &config, endpoint, &body);
        assert!(
            reply.outcome.is_allowed(),
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
        c.bench_function(&format!("review/{name}"), |b| {
            b.iter(|| review(black_box(&policy), &config, endpoint, black_box(&body)))
        });
    }
    let body = std::fs::read(repo.join("tests/bench/validate.json")).unwrap();
    c.bench_function("parse/serde_json_value", |b| {
        b.iter(|| serde_json::from_slice::<serde_json::Value>(black_box(&body)).unwrap())
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
