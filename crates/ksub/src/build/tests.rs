use super::*;
use crate::{parse_script, to_yaml};

fn script(text: &str) -> Script {
    parse_script(text).unwrap()
}

fn container(job: &BatchJob) -> &Container {
    &job.spec.task_groups[0]
        .template
        .spec
        .as_ref()
        .unwrap()
        .containers[0]
}

fn pod(job: &BatchJob) -> &PodSpec {
    job.spec.task_groups[0].template.spec.as_ref().unwrap()
}

const MINIMAL: &str = "#!/bin/sh\n#KB Image busybox:1.36\n#KB Queuename long\necho hi\n";

#[test]
fn a_minimal_script_leaves_everything_else_to_the_queue() {
    let job = build_job(&script(MINIMAL), "jobs/hello.sh", &BuildOptions::default());
    assert_eq!(job.metadata.generate_name.as_deref(), Some("hello-"));
    assert_eq!(job.metadata.name, None);
    assert_eq!(job.metadata.namespace, None);
    assert_eq!(
        job.metadata.annotations,
        Some(BTreeMap::from([(
            SCRIPT_ANNOTATION.to_owned(),
            "hello.sh".to_owned()
        )]))
    );
    assert_eq!(job.spec.batch_queue_name, "long");
    assert_eq!(job.spec.dependencies, []);
    assert_eq!(job.spec.batch_node_selector, None);
    let group = &job.spec.task_groups[..];
    assert_eq!(group.len(), 1);
    assert_eq!(group[0].name, "main");
    assert_eq!(group[0].max_wall_time, None);
    assert_eq!(group[0].retry_limit, None);
    assert_eq!(group[0].index_spec, None);
    assert_eq!(pod(&job).restart_policy.as_deref(), Some("Never"));
    assert_eq!(pod(&job).volumes, None);
    assert_eq!(pod(&job).containers.len(), 1);
    let c = container(&job);
    assert_eq!(c.name, "main");
    assert_eq!(c.image.as_deref(), Some("busybox:1.36"));
    assert_eq!(
        c.command,
        Some(vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            MINIMAL.to_owned()
        ])
    );
    assert_eq!(c.args, None);
    assert_eq!(c.resources, None);
    assert_eq!(c.volume_mounts, None);
}

#[test]
fn directives_fill_the_task_group() {
    let text = "#KB Image trainer:1\n#KB Queuename gpu\n#KB MaxWallTime 6h\n#KB RetryLimit 2\n\
                #KB Taskcount 10\n#KB MinCpu 4\n#KB MinMemory 16Gi\n#KB GPU nvidia-l4 2\n\
                #KB PreemptibleVM prefer\n#KB Mount inputs /in\n#KB Mount results /out\ntrain\n";
    let job = build_job(&script(text), "train.sh", &BuildOptions::default());
    let group = &job.spec.task_groups[0];
    assert_eq!(group.max_wall_time.as_deref(), Some("6h"));
    assert_eq!(group.retry_limit, Some(2));
    assert_eq!(
        group.index_spec,
        Some(IndexSpec {
            task_count: Some(10)
        })
    );
    let resources = container(&job).resources.clone().unwrap();
    let q = |s: &str| Quantity(s.to_owned());
    assert_eq!(
        resources.requests,
        Some(BTreeMap::from([
            ("cpu".to_owned(), q("4")),
            ("memory".to_owned(), q("16Gi"))
        ]))
    );
    assert_eq!(
        resources.limits,
        Some(BTreeMap::from([("nvidia.com/gpu".to_owned(), q("2"))]))
    );
    let selector = job.spec.batch_node_selector.clone().unwrap();
    let equals = |v: &str| {
        Some(BatchNodeSelectorRequirement {
            operator: "Equals".to_owned(),
            values: vec![v.to_owned()],
        })
    };
    assert_eq!(selector.gpu_type, equals("nvidia-l4"));
    assert_eq!(selector.use_preemptible_vm, equals("Prefer"));
    let volumes = pod(&job).volumes.clone().unwrap();
    let claims: Vec<(&str, &str)> = volumes
        .iter()
        .map(|v| {
            let claim = v.persistent_volume_claim.as_ref().unwrap();
            (v.name.as_str(), claim.claim_name.as_str())
        })
        .collect();
    assert_eq!(claims, [("mount-0", "inputs"), ("mount-1", "results")]);
    let mounts: Vec<(String, String)> = container(&job)
        .volume_mounts
        .clone()
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.mount_path))
        .collect();
    assert_eq!(
        mounts,
        [
            ("mount-0".to_owned(), "/in".to_owned()),
            ("mount-1".to_owned(), "/out".to_owned())
        ]
    );
}

#[test]
fn gpu_without_preemptible_and_requests_without_gpu() {
    let gpu = script("#KB Image x\n#KB Queuename gpu\n#KB GPU nvidia-tesla-t4 1\n");
    let job = build_job(&gpu, "a.sh", &BuildOptions::default());
    let selector = job.spec.batch_node_selector.unwrap();
    assert_eq!(selector.use_preemptible_vm, None);
    assert!(selector.gpu_type.is_some());
    let cpu = script("#KB Image x\n#KB Queuename q\n#KB MinCpu 250m\n");
    let job = build_job(&cpu, "a.sh", &BuildOptions::default());
    let resources = container(&job).resources.clone().unwrap();
    assert_eq!(resources.limits, None);
    assert_eq!(resources.requests.unwrap().len(), 1);
}

#[test]
fn namespace_directive_wins_over_the_kubeconfig() {
    let options = BuildOptions {
        namespace: Some("from-kubeconfig".to_owned()),
        ..BuildOptions::default()
    };
    let job = build_job(&script(MINIMAL), "a.sh", &options);
    assert_eq!(job.metadata.namespace.as_deref(), Some("from-kubeconfig"));
    let with = script("#KB Namespace team-a\n#KB Image x\n#KB Queuename q\n");
    let job = build_job(&with, "a.sh", &options);
    assert_eq!(job.metadata.namespace.as_deref(), Some("team-a"));
}

#[test]
fn jobname_becomes_generate_name() {
    for (directive, expected) in [
        ("render", "render-"),
        ("render-", "render-"),
        ("r--", "r--"),
    ] {
        let s = script(&format!(
            "#KB Jobname {directive}\n#KB Image x\n#KB Queuename q\n"
        ));
        let job = build_job(&s, "other.sh", &BuildOptions::default());
        assert_eq!(
            job.metadata.generate_name.as_deref(),
            Some(expected),
            "{directive}"
        );
    }
}

#[test]
fn default_generate_name_from_the_file_name() {
    let long = format!("{}.sh", "a".repeat(100));
    let cases = [
        ("render_frames.sh", "render-frames-"),
        ("jobs/Big Job.v2.sh", "big-job-v2-"),
        ("/abs/path/2pass", "2pass-"),
        ("--weird--name--.sh", "weird-name-"),
        ("Ünïcode.sh", "n-code-"),
        ("___.sh", "ksub-"),
        (".sh", "sh-"),
        ("", "ksub-"),
        ("-", "ksub-"),
        (long.as_str(), &format!("{}-", "a".repeat(57))),
    ];
    for (source, expected) in cases {
        let name = default_generate_name(source);
        assert_eq!(name, expected, "{source:?}");
        assert!(name.len() <= MAX_GENERATE_NAME, "{source:?}");
        assert!(
            crate::values::job_name(&name).is_ok(),
            "{source:?} gives an invalid {name:?}"
        );
    }
}

#[test]
fn annotation_names_the_file_not_the_path() {
    let job = build_job(
        &script(MINIMAL),
        "/home/alice/jobs/x.sh",
        &BuildOptions::default(),
    );
    let annotations = job.metadata.annotations.unwrap();
    assert_eq!(annotations[SCRIPT_ANNOTATION], "x.sh");
    for stdin in ["", "-"] {
        let job = build_job(&script(MINIMAL), stdin, &BuildOptions::default());
        assert_eq!(job.metadata.annotations, None, "{stdin:?}");
    }
}

#[test]
fn dependencies_are_one_entry_with_one_item_per_type() {
    use DependencyType::*;
    let deps = vec![
        (Success, "a".to_owned()),
        (Failure, "b".to_owned()),
        (Success, "c".to_owned()),
        (Success, "a".to_owned()),
        (Complete, "d".to_owned()),
    ];
    let options = BuildOptions {
        dependencies: deps,
        ..BuildOptions::default()
    };
    let job = build_job(&script(MINIMAL), "a.sh", &options);
    let item = |names: &[&str], kind: &str| DependencyItem {
        names: names.iter().map(|n| (*n).to_owned()).collect(),
        type_: Some(kind.to_owned()),
    };
    assert_eq!(
        job.spec.dependencies,
        [JobDependency {
            dependency_items: vec![
                item(&["a", "c"], "Success"),
                item(&["b"], "Failure"),
                item(&["d"], "Complete"),
            ],
        }]
    );
}

#[test]
fn yaml_round_trips_awkward_scripts() {
    let bodies = [
        "echo plain\n",
        "echo no trailing newline",
        "  indented first line\n",
        "\ttabs\tinside\n",
        "trailing spaces   \n",
        "---\nkey: value\n- item\n",
        "echo \"quotes\" 'and' \\backslashes\\ & $HOME ${KBATCH_ARRAY_INDEX}\n",
        "unicode: é ü 日本語 🚀\n",
        "\n\n\nblank lines before and after\n\n\n",
        "crlf\r\nlines\r\n",
        "# only comments\n",
    ];
    for body in bodies {
        let text = format!("#KB Image x\n#KB Queuename q\n{body}");
        let job = build_job(&script(&text), "r.sh", &BuildOptions::default());
        let yaml = to_yaml(&job).unwrap();
        let back: BatchJob = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, job, "{body:?}\n{yaml}");
    }
}
