//! The example policy and jobs of `manifests/examples` mean what they say: every job in
//! `jobs-accepted.yaml` is admitted; every job in `jobs-refused.yaml` is refused with exactly
//! the violations its `examples.kbatch.k8s.io/expected-refusal` annotation lists.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_manifests::{Object, policy_set, read_paths};
use kbatch_policy::api::BatchJob;
use kbatch_policy::submission::submit_job;
use std::collections::BTreeSet;
use std::path::PathBuf;

const EXPECTED: &str = "examples.kbatch.k8s.io/expected-refusal";

fn examples() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../manifests/examples")
}

fn jobs(file: &str) -> Vec<BatchJob> {
    read_paths(&[examples().join(file)])
        .unwrap()
        .into_iter()
        .map(|d| match d.object {
            Ok(Object::BatchJob(job)) => job,
            other => panic!("{}:{}: not a BatchJob: {other:?}", d.source, d.index),
        })
        .collect()
}

fn policy() -> kbatch_policy::snapshot::PolicySet {
    let docs = read_paths(&[examples().join("policy.yaml")]).unwrap();
    for d in &docs {
        assert!(d.object.is_ok(), "{}:{}: {:?}", d.source, d.index, d.object);
    }
    policy_set(docs.iter().filter_map(|d| d.object.as_ref().ok()))
}

#[test]
fn every_accepted_example_is_admitted() {
    let policy = policy();
    let jobs = jobs("jobs-accepted.yaml");
    assert!(jobs.len() >= 5);
    for job in jobs {
        if let Err(v) = submit_job(&policy, &job) {
            panic!(
                "{:?} is refused: {v}",
                job.metadata.name.or(job.metadata.generate_name)
            );
        }
    }
}

#[test]
fn every_refused_example_fails_for_exactly_its_listed_reasons() {
    let policy = policy();
    let jobs = jobs("jobs-refused.yaml");
    assert!(jobs.len() >= 10);
    let mut reasons_seen = BTreeSet::new();
    for job in jobs {
        let name = job.metadata.name.clone().unwrap();
        let expected: BTreeSet<String> = job
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(EXPECTED))
            .unwrap_or_else(|| panic!("{name} has no {EXPECTED} annotation"))
            .split(';')
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let refused = submit_job(&policy, &job).expect_err(&name);
        let got: BTreeSet<String> = refused
            .iter()
            .map(|v| format!("{} {}", v.reason, v.field))
            .collect();
        assert_eq!(got, expected, "{name}: {refused}");
        reasons_seen.extend(refused.iter().map(|v| v.reason));
    }
    // At least one refused example per kind of rule.
    use kbatch_policy::Reason::*;
    for reason in [
        ConstraintViolated,
        QueueNotFound,
        QueuePaused,
        ConstraintNotFound,
        DependencyCycle,
        Invalid,
        OutOfRange,
        Required,
        Duplicate,
        InvalidName,
    ] {
        assert!(
            reasons_seen.contains(&reason),
            "no example is refused with {reason}"
        );
    }
}
