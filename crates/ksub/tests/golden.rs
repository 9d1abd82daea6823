//! Golden tests of ksub over the scripts in `tests/ksub/` at the workspace root.
//!
//! Each script `<name>.sh` must build exactly the BatchJob YAML stored next to it in
//! `<name>.yaml`, and that job must be accepted by the example policy in
//! `manifests/examples/` exactly as the admission webhook would accept it.
//!
//! After an intended change to the output, regenerate the expected files and review the diff:
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test -p kbatch-ksub --test golden
//! git diff tests/ksub/
//! ```
//!
//! With `UPDATE_GOLDEN=1` the YAML test rewrites every `<name>.yaml` instead of comparing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_ksub::{BuildOptions, build_job, parse_dependency_arg, parse_script, to_yaml};
use kbatch_policy::api::BatchJob;
use std::path::{Path, PathBuf};

/// A script and the `--dependency` arguments it is submitted with.
struct Case {
    name: &'static str,
    dependencies: &'static [&'static str],
}

const CASES: [Case; 5] = [
    Case {
        name: "array",
        dependencies: &[],
    },
    Case {
        name: "gpu",
        dependencies: &[],
    },
    Case {
        name: "preemptible",
        dependencies: &[],
    },
    Case {
        name: "mount",
        dependencies: &[],
    },
    Case {
        name: "dependency",
        dependencies: &["Success:render-frames"],
    },
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scripts_dir() -> PathBuf {
    workspace().join("tests/ksub")
}

/// Builds a case's job as `ksub --dry-run [--dependency …] <name>.sh` would, with a
/// kubeconfig namespace that the scripts' `Namespace` directive overrides.
fn build(case: &Case) -> BatchJob {
    let file = format!("{}.sh", case.name);
    let text = std::fs::read_to_string(scripts_dir().join(&file)).unwrap();
    let script = parse_script(&text).unwrap_or_else(|errors| {
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("{file}:\n{}", shown.join("\n"))
    });
    assert_eq!(script.warnings, [], "{file}");
    let dependencies = case
        .dependencies
        .iter()
        .map(|arg| {
            let (kind, job) = parse_dependency_arg(arg).unwrap();
            (kind.parse().unwrap(), job)
        })
        .collect();
    let options = BuildOptions {
        namespace: Some("default".to_owned()),
        dependencies,
    };
    build_job(&script, &file, &options)
}

#[test]
fn scripts_build_the_expected_yaml() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for case in &CASES {
        let job = build(case);
        let yaml = to_yaml(&job).unwrap();
        let path = scripts_dir().join(format!("{}.yaml", case.name));
        if update {
            std::fs::write(&path, &yaml).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run with UPDATE_GOLDEN=1 to create it)",
                path.display()
            )
        });
        // The stored file is also what `kubectl create -f` would read: it must decode to the job.
        let decoded: BatchJob = serde_saphyr::from_str(&expected)
            .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
        if decoded != job {
            stale.push(format!("{} decodes to another job", path.display()));
        }
        if yaml != expected {
            stale.push(format!(
                "{}:\n--- expected\n{expected}\n--- generated\n{yaml}",
                path.display()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "generated YAML differs (UPDATE_GOLDEN=1 rewrites the files):\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_job_is_accepted_by_the_example_policy() {
    let docs = kbatch_manifests::read_paths(&[workspace().join("manifests/examples")]).unwrap();
    let policy = kbatch_manifests::policy_set(docs.iter().filter_map(|d| d.object.as_ref().ok()));
    for case in &CASES {
        let job = build(case);
        assert_eq!(
            job.metadata.namespace.as_deref(),
            Some("team-a"),
            "{}",
            case.name
        );
        if let Err(violations) = kbatch_policy::submission::submit_job(&policy, &job) {
            panic!("{}.sh is refused: {violations:?}", case.name);
        }
    }
}

#[test]
fn cases_cover_what_ksub_promises() {
    let jobs: Vec<BatchJob> = CASES.iter().map(build).collect();
    let [array, gpu, preemptible, mount, dependency] = &jobs[..] else {
        panic!("five cases");
    };
    let group = |job: &BatchJob| job.spec.task_groups[0].clone();
    let container = |job: &BatchJob| group(job).template.spec.unwrap().containers[0].clone();

    assert_eq!(group(array).index_spec.and_then(|s| s.task_count), Some(10));
    assert!(container(array).command.unwrap()[2].contains("${KBATCH_ARRAY_INDEX}"));

    assert_eq!(gpu.spec.batch_queue_name, "gpu");
    assert_eq!(group(gpu).max_wall_time.as_deref(), Some("6h"));
    let selector = gpu.spec.batch_node_selector.clone().unwrap();
    assert_eq!(selector.gpu_type.unwrap().values, ["nvidia-l4"]);
    let limits = container(gpu).resources.unwrap().limits.unwrap();
    assert_eq!(limits["nvidia.com/gpu"].0, "2");

    let selector = preemptible.spec.batch_node_selector.clone().unwrap();
    assert_eq!(selector.use_preemptible_vm.unwrap().values, ["Require"]);

    assert_eq!(container(mount).volume_mounts.unwrap().len(), 2);

    let items = &dependency.spec.dependencies[0].dependency_items;
    assert_eq!(items[0].names, ["render-frames"]);
    assert_eq!(items[0].type_.as_deref(), Some("Success"));
}
