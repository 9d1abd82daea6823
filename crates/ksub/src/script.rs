//! A parsed script: its directives' values and its text.

use crate::error::Warning;
use std::fmt;

/// A shell script whose `#KB` directives parsed without error.
///
/// Values are kept as the script wrote them once they are known to be valid (a BatchJob
/// carries quantities and durations as text too), so `MaxWallTime 90m` stays `90m`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Script {
    /// The whole script, exactly as read: it becomes the container's `sh -c` argument.
    pub text: String,
    /// `Jobname`: the prefix of the job's generated name, as written.
    pub job_name: Option<String>,
    /// `Namespace`.
    pub namespace: Option<String>,
    /// `Image` (required).
    pub image: String,
    /// `Queuename` (required).
    pub queue_name: String,
    /// `MaxWallTime`, e.g. `6h` or `1h30m`.
    pub max_wall_time: Option<String>,
    /// `MinCpu`: the container's cpu request, e.g. `500m`.
    pub min_cpu: Option<String>,
    /// `MinMemory`: the container's memory request, e.g. `4Gi`.
    pub min_memory: Option<String>,
    /// `GPU <model> <count>`.
    pub gpu: Option<GpuRequest>,
    /// `Mount <pvc-name> <path>`, in the order given.
    pub mounts: Vec<Mount>,
    /// `Taskcount`: the number of tasks of the array job (1..=1000).
    pub task_count: Option<i32>,
    /// `RetryLimit`: retries per task.
    pub retry_limit: Option<i32>,
    /// `PreemptibleVM`.
    pub preemptible_vm: Option<PreemptibleVm>,
    /// Lines that are allowed but almost certainly mistakes (see [`crate::parse_script`]).
    pub warnings: Vec<Warning>,
}

/// `#KB GPU <model> <count>`: GPUs per task and the model they must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRequest {
    /// The GPU model, e.g. `nvidia-l4`: `spec.batchNodeSelector.gpuType`.
    pub model: String,
    /// GPUs per task (at least 1): the container's `nvidia.com/gpu` limit.
    pub count: u32,
}

/// `#KB Mount <pvc-name> <path>`: a PersistentVolumeClaim mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Name of the PersistentVolumeClaim, in the job's namespace.
    pub claim_name: String,
    /// Absolute path in the container.
    pub path: String,
}

/// `#KB PreemptibleVM`: whether tasks must, may or must not run on preemptible nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PreemptibleVm {
    /// Only on preemptible nodes.
    Require,
    /// Preferably on preemptible nodes.
    Prefer,
    /// Never on preemptible nodes.
    Forbid,
}

impl PreemptibleVm {
    /// Every value, in the order messages list them.
    pub const ALL: [PreemptibleVm; 3] = [
        PreemptibleVm::Require,
        PreemptibleVm::Prefer,
        PreemptibleVm::Forbid,
    ];

    /// The API's spelling: `Require`, `Prefer` or `Forbid`.
    pub fn as_str(self) -> &'static str {
        match self {
            PreemptibleVm::Require => "Require",
            PreemptibleVm::Prefer => "Prefer",
            PreemptibleVm::Forbid => "Forbid",
        }
    }

    /// Parses a value without regard to ASCII case (`require` is `Require`).
    pub fn parse(text: &str) -> Option<PreemptibleVm> {
        PreemptibleVm::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(text))
    }
}

impl fmt::Display for PreemptibleVm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
