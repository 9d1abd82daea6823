//! # kbatch-ksub
//!
//! `ksub` lets practitioners coming from Slurm submit a shell script to kbatch without writing
//! YAML: `#KB` directive lines at the top of the script (like `#SBATCH`) say where and how it
//! runs, and the script itself travels inside the BatchJob as the container's `sh -c`
//! argument, so no image has to be rebuilt. This crate is the pure part of `ksub`: parse the
//! directives ([`parse_script`]), build the BatchJob ([`build_job`]) and render it for
//! `--dry-run` ([`to_yaml`]). Talking to the cluster is the CLI's business.
//!
//! ```sh
//! #!/bin/sh
//! # Render one frame per task.
//! #KB Jobname render
//! #KB Namespace team-a
//! #KB Image registry.example.com/render:2
//! #KB Queuename default
//! #KB MaxWallTime 2h
//! #KB MinCpu 2
//! #KB MinMemory 4Gi
//! #KB Taskcount 10
//! render --frame "${KBATCH_ARRAY_INDEX}" --out /data/frames
//! ```
//!
//! ## Directives
//!
//! | directive | arguments | becomes | rule |
//! |---|---|---|---|
//! | `Jobname` | `<prefix>` | `metadata.generateName`: `<prefix>-` (kept as is if it already ends with `-`) | lower case letters, digits, `-`; starts with a letter or digit; at most 58 characters with the `-`. Default: the script's file name without extension, made a DNS-1123 label |
//! | `Namespace` | `<ns>` | `metadata.namespace` | DNS-1123 label. Default: the kubeconfig's namespace ([`BuildOptions::namespace`]) |
//! | `Image` | `<image>` | the container's `image` | **required** |
//! | `Queuename` | `<queue>` | `spec.batchQueueName` | **required**; DNS-1123 subdomain |
//! | `MaxWallTime` | `<dur>` | `maxWallTime` | a wall time longer than zero: `30m`, `6h`, `1d`, `1h30m` |
//! | `MinCpu` | `<qty>` | `requests.cpu` | a Kubernetes quantity, 0 or more: `500m`, `2` |
//! | `MinMemory` | `<qty>` | `requests.memory` | a Kubernetes quantity, 0 or more: `512Mi`, `4Gi` |
//! | `GPU` | `<model> <count>` | `limits["nvidia.com/gpu"]` and `spec.batchNodeSelector.gpuType` | the model is a node label value; the count a whole number, at least 1 |
//! | `Mount` | `<pvc-name> <path>` | a `persistentVolumeClaim` volume `mount-<i>` and its volumeMount | repeatable; the claim a DNS-1123 subdomain, the path absolute; no claim or path twice |
//! | `Taskcount` | `<n>` | `indexSpec.taskCount` | 1 to 1000 |
//! | `RetryLimit` | `<n>` | `retryLimit` | 0 or more |
//! | `PreemptibleVM` | `Require`, `Prefer` or `Forbid` | `spec.batchNodeSelector.usePreemptibleVM` | any case, written back capitalised |
//!
//! The rules of the language:
//! - A directive is a line `#KB <Keyword> <arguments>`; `#KB` and the keywords are
//!   case-insensitive (`#kb image busybox` is `#KB Image busybox`) and `#KB` must be followed by
//!   whitespace (`#KBATCH` is an ordinary comment). Leading whitespace is ignored. Arguments are
//!   separated by whitespace and cannot contain any; a word starting with `#` starts a trailing
//!   comment: `#KB Taskcount 10  # one per shard`.
//! - Directives are read from the top of the script: the `#!` line, ordinary comments and
//!   blank lines may come before and between them. They end at the first other line (the
//!   first command). A `#KB` line after it is an ordinary comment for the shell and is ignored
//!   here too, but it is reported in [`Script::warnings`], since it is almost always a
//!   mistake.
//! - Each directive may be given once, except `Mount`. `Image` and `Queuename` are required;
//!   a directive left out leaves its field unset, so the queue's constraint defaults and the
//!   API's defaults (one task, no retries) apply when the job is submitted.
//! - Every mistake is reported, not only the first: each [`DirectiveError`] names the 1-based
//!   line, the directive and what was expected, e.g.
//!   `line 7: MinCpu: "two" is not a Kubernetes quantity (e.g. 500m, 2): …`. A missing required
//!   directive belongs to no line: it has line `0`, and its message leaves the line out.
//!
//! ## Inside the script
//!
//! The job runs `/bin/sh -c <the whole script>` in one container named `main` (of one task
//! group named `main`), with `restartPolicy: Never`. In an array job (`Taskcount` > 1) every
//! task runs the same script; the controller gives each task its index, `0` to
//! `Taskcount - 1`, in the environment variable `KBATCH_ARRAY_INDEX`, so the script reads
//! `${KBATCH_ARRAY_INDEX}` to pick its share of the work. Because `/bin/sh` runs the script
//! whatever its `#!` line says, a `#!` line naming another interpreter (bash, python, …) is
//! reported in [`Script::warnings`].
//!
//! ## Dependencies
//!
//! `ksub --dependency Success:<job>` (also `Failure:` and `Complete:`, or Slurm's `afterok:`,
//! `afternotok:`, `afterany:`) makes the job wait for other BatchJobs of its namespace. Parse
//! each argument with [`parse_dependency_arg`] and pass them in
//! [`BuildOptions::dependencies`]: they become one `spec.dependencies` entry whose items must
//! all hold (one item per type, jobs grouped).

#![warn(missing_docs)]

mod build;
mod dependency;
mod directives;
mod error;
mod keyword;
mod script;
mod values;

pub use build::{BuildOptions, SCRIPT_ANNOTATION, SHELL, TASK_GROUP, build_job};
pub use dependency::{DependencyType, parse_dependency_arg};
pub use directives::parse_script;
pub use error::{DirectiveError, DirectiveErrorKind, Warning};
pub use script::{GpuRequest, Mount, PreemptibleVm, Script};

use kbatch_policy::api::BatchJob;

/// The BatchJob could not be rendered as YAML.
#[derive(Debug, thiserror::Error)]
#[error("cannot render the BatchJob as YAML: {0}")]
pub struct YamlError(String);

/// Renders a job as YAML, as `ksub --dry-run` prints it (`apiVersion` and `kind` first; the
/// script as a literal block).
///
/// ```
/// use kbatch_ksub::{BuildOptions, build_job, parse_script, to_yaml};
///
/// let script = parse_script("#KB Image busybox:1.36\n#KB Queuename long\necho hi\n").unwrap();
/// let yaml = to_yaml(&build_job(&script, "hello.sh", &BuildOptions::default())).unwrap();
/// assert!(yaml.starts_with("apiVersion: kbatch.k8s.io/v1beta1\nkind: BatchJob\n"));
/// assert!(yaml.contains("generateName: hello-"));
/// ```
pub fn to_yaml(job: &BatchJob) -> Result<String, YamlError> {
    serde_saphyr::to_string(job).map_err(|e| YamlError(e.to_string()))
}
