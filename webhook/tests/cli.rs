//! The `kbatch` binary as users and scripts call it: exit codes, output lines, generated files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn kbatch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .args(args)
        .current_dir(repo())
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

#[test]
fn check_refuses_exactly_the_jobs_meant_to_fail_and_exits_1() {
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        "manifests/examples",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let refused: Vec<&str> = text.lines().filter(|l| !l.contains(": hint: ")).collect();
    // One line per refused job, all from jobs-refused.yaml, in file order.
    let names: Vec<&str> = refused
        .iter()
        .map(|l| l.split(": ").nth(1).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "too-long",
            "too-much-memory",
            "too-much-cpu",
            "gpu-in-cpu-queue",
            "too-many-retries",
            "wrong-gpu-model",
            "gpu-job-without-gpus",
            "unknown-queue",
            "paused-queue",
            "queue-with-missing-constraint",
            "waits-for-itself",
            "malformed"
        ]
    );
    assert!(
        refused
            .iter()
            .all(|l| l.starts_with("manifests/examples/jobs-refused.yaml:")),
        "{text}"
    );
    assert!(
        text.contains(
            "manifests/examples/jobs-refused.yaml:1: too-long: spec.taskGroups[0].maxWallTime: "
        ),
        "{text}"
    );
    // The malformed job lists all of its reasons on its one line.
    let malformed = refused.last().unwrap();
    assert_eq!(malformed.matches("; spec.").count() + 1, 12, "{malformed}");
}

#[test]
fn check_suggests_queues_that_would_accept_the_job() {
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        "manifests/examples/jobs-refused.yaml",
    ]);
    let text = stdout(&out);
    assert!(
        text.contains("too-long: hint: queue \"long\" accepts this job"),
        "{text}"
    );
    assert!(!text.contains("too-long: hint: queue \"gpu\""), "{text}");
}

#[test]
fn check_accepts_good_jobs_with_exit_0_and_prints_them_defaulted() {
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        "manifests/examples/jobs-accepted.yaml",
        "-o",
        "yaml",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert_eq!(text.matches("kind: BatchJob").count(), 6, "{text}");
    assert!(
        text.contains("nvidia.com/gpu: '0'") || text.contains("nvidia.com/gpu: \"0\""),
        "{text}"
    );
}

#[test]
fn check_as_a_user_applies_their_context() {
    let accepted = "manifests/examples/jobs-accepted.yaml";
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        "--user",
        "alice",
        accepted,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        "--user",
        "carol",
        accepted,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("render-frames: spec.taskGroups[0].template.spec.volumes[0]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn check_refuses_a_job_and_leaves_out_a_policy_object_that_break_their_crd_schema() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    let examples = std::fs::read_to_string(repo().join("manifests/examples/policy.yaml")).unwrap();
    std::fs::write(
        &policy,
        format!(
            "{examples}---\napiVersion: kbatch.k8s.io/v1beta1\nkind: BatchPriority\n\
             metadata: {{name: listed}}\nspec: [50, a list is not a spec]\n"
        ),
    )
    .unwrap();
    let job = dir.path().join("typo.yaml");
    // Accepted as written but for `maxWalltime`, which typed decoding alone would drop, and
    // then refuse the job for a missing `maxWallTime` the user did write.
    std::fs::write(
        &job,
        "apiVersion: kbatch.k8s.io/v1beta1\nkind: BatchJob\n\
         metadata: {name: typo, namespace: team-a}\n\
         spec:\n  batchQueueName: default\n  taskGroups:\n  - name: g\n    maxWalltime: 30m\n\
         \x20   template: {spec: {restartPolicy: Never, containers: [{name: c, image: i}]}}\n",
    )
    .unwrap();
    let out = kbatch(&[
        "check",
        "--policy",
        policy.to_str().unwrap(),
        job.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        format!(
            "{}: typo: spec.taskGroups[0].maxWalltime: unknown field (Invalid)\n",
            job.display()
        )
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "warning: {}:16: ignoring policy object \"listed\": BatchPriority breaks its CRD schema: \
             spec: must be of type object, not array (Invalid)",
            policy.display()
        )),
        "{stderr}"
    );
}

#[test]
fn unreadable_input_and_usage_errors_exit_2() {
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        "no/such/file.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/file.yaml"));
    let out = kbatch(&["check", "manifests/examples"]);
    assert_eq!(out.status.code(), Some(2), "--policy is required");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "kind: [unclosed").unwrap();
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn the_committed_crds_are_what_kbatch_crds_prints() {
    let out = kbatch(&["crds"]);
    assert!(out.status.success());
    let committed =
        std::fs::read_to_string(repo().join("manifests/crds/kbatch.k8s.io.yaml")).unwrap();
    assert!(
        stdout(&out) == committed,
        "manifests/crds is stale: run `make manifests`"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    for command in [
        "serve",
        "check",
        "certs",
        "crds",
        "ksub",
        "controller",
        "completions",
    ] {
        let out = kbatch(&[command, "--help"]);
        assert!(out.status.success(), "{command}");
        assert!(
            stdout(&out).contains("Example"),
            "{command} --help has no example"
        );
    }
}

#[test]
fn certs_writes_the_pair_and_prints_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let out = kbatch(&[
        "certs",
        "--out",
        dir.path().to_str().unwrap(),
        "--host",
        "localhost",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["ca.crt", "tls.crt", "tls.key"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let bundle = stdout(&out);
    assert!(
        bundle.trim().starts_with("LS0tLS1CRUdJTi"),
        "base64 of a PEM: {bundle}"
    );
}

#[test]
fn ksub_dry_run_prints_the_defaulted_job_that_check_accepts() {
    let out = kbatch(&[
        "ksub",
        "--dry-run",
        "--policy",
        "manifests/examples",
        "tests/ksub/gpu.sh",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = stdout(&out);
    assert!(yaml.contains("nvidia-l4"), "{yaml}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("job.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let out = kbatch(&[
        "check",
        "--policy",
        "manifests/examples",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn ksub_names_the_line_and_directive_of_every_error() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bad.sh");
    std::fs::write(
        &script,
        "#!/bin/sh\n#KB Image busybox\n#KB Taskcount lots\n#KB Colour blue\necho hi\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ksub"))
        .args(["--dry-run", script.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3: Taskcount"), "{err}");
    assert!(err.contains("line 4: Colour"), "{err}");
    assert!(
        err.contains("Queuename"),
        "the missing required directive is named: {err}"
    );
}

#[test]
fn ksub_refused_by_policy_exits_1_with_the_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("long.sh");
    std::fs::write(&script, "#KB Image busybox\n#KB Queuename default\n#KB Namespace team-a\n#KB MaxWallTime 2d\necho hi\n").unwrap();
    let out = kbatch(&[
        "ksub",
        "--dry-run",
        "--policy",
        "manifests/examples",
        script.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("WallTime LessThan 24h"));
}

#[test]
fn completions_cover_every_subcommand() {
    let out = kbatch(&["completions", "bash"]);
    assert!(out.status.success());
    let script = stdout(&out);
    for command in ["serve", "check", "certs", "crds", "ksub", "controller"] {
        assert!(
            script.contains(command),
            "{command} missing from the bash completions"
        );
    }
}
