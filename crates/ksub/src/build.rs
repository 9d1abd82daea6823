//! From a parsed script to the BatchJob that runs it.

use crate::dependency::DependencyType;
use crate::script::Script;
use crate::values::{MAX_GENERATE_NAME, generate_name};
use k8s_openapi::api::core::v1::{
    Container, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, ResourceRequirements,
    Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_policy::api::{
    BatchJob, BatchJobSpec, BatchNodeSelector, BatchNodeSelectorRequirement, DependencyItem,
    IndexSpec, JobDependency, TaskGroup,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Annotation naming the script file a BatchJob was built from.
pub const SCRIPT_ANNOTATION: &str = "kbatch.k8s.io/ksub-script";

/// The interpreter the job runs the script with: `[SHELL, "-c", <script>]`.
pub const SHELL: &str = "/bin/sh";

/// Name of the job's one task group and of its one container.
pub const TASK_GROUP: &str = "main";

/// The extended resource name of NVIDIA GPUs.
const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// `generateName` when the script's file name leaves nothing usable.
const FALLBACK_NAME: &str = "ksub";

/// What the command line adds to a script's directives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// The namespace when the script has no `Namespace` directive: the current kubeconfig
    /// context's namespace. `None` leaves `metadata.namespace` unset.
    pub namespace: Option<String>,
    /// `--dependency TYPE:JOB` arguments, in the order given (see
    /// [`parse_dependency_arg`](crate::parse_dependency_arg)).
    pub dependencies: Vec<(DependencyType, String)>,
}

/// Builds the BatchJob that runs `script`.
///
/// `source` is the script's file name or path as given on the command line (not its text:
/// that is [`Script::text`]). Its file name goes into the [`SCRIPT_ANNOTATION`] annotation
/// and, without its extension and made a DNS-1123 label, into `metadata.generateName` when
/// the script has no `Jobname` directive.
///
/// The job has one task group and one container, both named [`TASK_GROUP`]; the container
/// runs `/bin/sh -c <script text>`. Directives the script leaves out stay unset in the job,
/// so the queue's constraint defaults and the API's defaults apply when it is submitted.
///
/// ```
/// use kbatch_ksub::{BuildOptions, DependencyType, build_job, parse_script};
///
/// let script = parse_script("#KB Image busybox:1.36\n#KB Queuename long\necho hi\n").unwrap();
/// let options = BuildOptions {
///     namespace: Some("team-a".into()),
///     dependencies: vec![(DependencyType::Success, "prep".into())],
/// };
/// let job = build_job(&script, "jobs/Hello_World.sh", &options);
/// assert_eq!(job.metadata.generate_name.as_deref(), Some("hello-world-"));
/// assert_eq!(job.metadata.namespace.as_deref(), Some("team-a"));
/// assert_eq!(job.spec.dependencies[0].dependency_items[0].names, ["prep"]);
/// ```
pub fn build_job(script: &Script, source: &str, options: &BuildOptions) -> BatchJob {
    let file_name = Path::new(source)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        // `-` is how command lines name standard input, not a file.
        .filter(|n| !n.is_empty() && n != "-");
    let generate_name = match &script.job_name {
        Some(prefix) => generate_name(prefix),
        None => default_generate_name(source),
    };
    let annotations = file_name.map(|name| BTreeMap::from([(SCRIPT_ANNOTATION.to_owned(), name)]));
    BatchJob {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: script
                .namespace
                .clone()
                .or_else(|| options.namespace.clone()),
            annotations,
            ..ObjectMeta::default()
        },
        spec: BatchJobSpec {
            batch_queue_name: script.queue_name.clone(),
            task_groups: vec![task_group(script)],
            dependencies: dependencies(&options.dependencies),
            user_command: None,
            batch_node_selector: node_selector(script),
        },
        status: None,
    }
}

fn task_group(script: &Script) -> TaskGroup {
    let volumes: Vec<Volume> = script
        .mounts
        .iter()
        .enumerate()
        .map(|(i, m)| Volume {
            name: format!("mount-{i}"),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: m.claim_name.clone(),
                read_only: None,
            }),
            ..Volume::default()
        })
        .collect();
    let volume_mounts: Vec<VolumeMount> = script
        .mounts
        .iter()
        .zip(&volumes)
        .map(|(m, v)| VolumeMount {
            name: v.name.clone(),
            mount_path: m.path.clone(),
            ..VolumeMount::default()
        })
        .collect();
    let container = Container {
        name: TASK_GROUP.to_owned(),
        image: Some(script.image.clone()),
        command: Some(vec![SHELL.to_owned(), "-c".to_owned(), script.text.clone()]),
        resources: resources(script),
        volume_mounts: (!volume_mounts.is_empty()).then_some(volume_mounts),
        ..Container::default()
    };
    TaskGroup {
        name: TASK_GROUP.to_owned(),
        max_wall_time: script.max_wall_time.clone(),
        retry_limit: script.retry_limit,
        index_spec: script.task_count.map(|n| IndexSpec {
            task_count: Some(n),
        }),
        template: PodTemplateSpec {
            metadata: None,
            spec: Some(PodSpec {
                restart_policy: Some("Never".to_owned()),
                containers: vec![container],
                volumes: (!volumes.is_empty()).then_some(volumes),
                ..PodSpec::default()
            }),
        },
    }
}

/// `MinCpu` and `MinMemory` as requests, the GPU count as the `nvidia.com/gpu` limit.
fn resources(script: &Script) -> Option<ResourceRequirements> {
    let mut requests = BTreeMap::new();
    if let Some(cpu) = &script.min_cpu {
        requests.insert("cpu".to_owned(), Quantity(cpu.clone()));
    }
    if let Some(memory) = &script.min_memory {
        requests.insert("memory".to_owned(), Quantity(memory.clone()));
    }
    let limits = script
        .gpu
        .as_ref()
        .map(|gpu| BTreeMap::from([(GPU_RESOURCE.to_owned(), Quantity(gpu.count.to_string()))]));
    if requests.is_empty() && limits.is_none() {
        return None;
    }
    Some(ResourceRequirements {
        requests: (!requests.is_empty()).then_some(requests),
        limits,
        ..ResourceRequirements::default()
    })
}

fn node_selector(script: &Script) -> Option<BatchNodeSelector> {
    let equals = |value: &str| BatchNodeSelectorRequirement {
        operator: "Equals".to_owned(),
        values: vec![value.to_owned()],
    };
    let selector = BatchNodeSelector {
        use_preemptible_vm: script.preemptible_vm.map(|p| equals(p.as_str())),
        gpu_type: script.gpu.as_ref().map(|g| equals(&g.model)),
    };
    (selector != BatchNodeSelector::default()).then_some(selector)
}

/// All `--dependency` arguments as one entry (its items are AND-ed): one item per type, in
/// the order the types first appear, each with its jobs in the order given, repeats dropped.
fn dependencies(deps: &[(DependencyType, String)]) -> Vec<JobDependency> {
    let mut items: Vec<(DependencyType, Vec<String>)> = Vec::new();
    for (kind, job) in deps {
        match items.iter_mut().find(|(k, _)| k == kind) {
            Some((_, names)) => {
                if !names.contains(job) {
                    names.push(job.clone());
                }
            }
            None => items.push((*kind, vec![job.clone()])),
        }
    }
    if items.is_empty() {
        return Vec::new();
    }
    vec![JobDependency {
        dependency_items: items
            .into_iter()
            .map(|(kind, names)| DependencyItem {
                names,
                type_: Some(kind.as_str().to_owned()),
            })
            .collect(),
    }]
}

/// `generateName` from the script's file name: the name without its extension, lower-cased,
/// every run of other characters than `a-z0-9` made one `-`, trimmed, and `-` appended.
fn default_generate_name(source: &str) -> String {
    let stem = Path::new(source)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name = String::new();
    for c in stem.chars().map(|c| c.to_ascii_lowercase()) {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            name.push(c);
        } else if !name.is_empty() && !name.ends_with('-') {
            name.push('-');
        }
    }
    // Room for the '-' appended below; the name is ASCII, so any byte is a char boundary.
    name.truncate(MAX_GENERATE_NAME - 1);
    let name = name.trim_end_matches('-');
    let name = if name.is_empty() { FALLBACK_NAME } else { name };
    format!("{name}-")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
