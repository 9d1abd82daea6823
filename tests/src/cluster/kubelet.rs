//! A simulated kubelet, in the spirit of kwok: fake Nodes with capacity, labels and taints,
//! and a loop that drives the pods the real scheduler binds to them through the phases a
//! kubelet would write: Pending → Running (Ready) → Succeeded or Failed, with the exit code a
//! test's [`Script`] chooses per task index and attempt; a pod past its
//! `activeDeadlineSeconds` fails with reason `DeadlineExceeded`; a pod being deleted is
//! removed at once (no container to stop); [`Kubelet::preempt`] fails a pod with a
//! `DisruptionTarget` condition and deletes it, as a node shutdown does.

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// Every fake node's name starts with this; the kubelet drives only pods bound to them.
pub const NODE_PREFIX: &str = "e2e-";
/// Node label of the GPU model (the SPEC's).
pub const GPU_MODEL_LABEL: &str = "cloud.google.com/gke-accelerator";
/// Node label and taint key of preemptible VMs (the SPEC's).
pub const PREEMPTIBLE_LABEL: &str = "cloud.google.com/gke-preemptible";
/// The Job controller's annotation of a pod's completion index.
pub const INDEX_ANNOTATION: &str = "batch.kubernetes.io/job-completion-index";
/// The Job controller's annotation of how many times the pod's index failed before it.
pub const FAILURES_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";

/// One run of a task, as the kubelet sees it when the pod starts.
#[derive(Debug, Clone)]
pub struct TaskRun {
    pub namespace: String,
    pub pod: String,
    pub node: String,
    /// The `kbatch.k8s.io/batchjob` label.
    pub batch_job: Option<String>,
    /// The `kbatch.k8s.io/task-group` label.
    pub group: Option<String>,
    /// The completion index.
    pub index: Option<u32>,
    /// 0 for the first run of the index, 1 for its first retry, …
    pub attempt: u32,
}

/// What a task does once its pod runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Runs for this long, then exits with this code (0 succeeds the pod).
    Exit { after: Duration, code: i32 },
    /// Runs until it is deleted, preempted or past its deadline.
    Hold,
}

impl Outcome {
    /// Succeeds after `secs` seconds.
    pub fn succeed_after(secs: u64) -> Outcome {
        Outcome::Exit {
            after: Duration::from_secs(secs),
            code: 0,
        }
    }

    /// Fails with `code` after `secs` seconds.
    pub fn fail_after(secs: u64, code: i32) -> Outcome {
        Outcome::Exit {
            after: Duration::from_secs(secs),
            code,
        }
    }
}

/// Decides each task run of one namespace.
pub type Script = Arc<dyn Fn(&TaskRun) -> Outcome + Send + Sync>;

/// A fake node.
#[derive(Debug, Clone, Default)]
pub struct FakeNode {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// `(key, value, effect)`.
    pub taints: Vec<(String, String, String)>,
    pub gpus: u32,
}

impl FakeNode {
    /// A plain node named `e2e-<suffix>`.
    pub fn named(suffix: &str) -> FakeNode {
        FakeNode {
            name: format!("{NODE_PREFIX}{suffix}"),
            ..FakeNode::default()
        }
    }

    /// With `count` GPUs of `model`.
    pub fn gpu(mut self, model: &str, count: u32) -> FakeNode {
        self.labels
            .insert(GPU_MODEL_LABEL.to_owned(), model.to_owned());
        self.gpus = count;
        self
    }

    /// A preemptible VM: labelled and tainted as GKE does.
    pub fn preemptible(mut self) -> FakeNode {
        self.labels
            .insert(PREEMPTIBLE_LABEL.to_owned(), "true".to_owned());
        self.taints.push((
            PREEMPTIBLE_LABEL.to_owned(),
            "true".to_owned(),
            "NoSchedule".to_owned(),
        ));
        self
    }
}

#[derive(Default)]
struct State {
    scripts: HashMap<String, Script>,
    start_delays: HashMap<String, Duration>,
    started: HashSet<String>,
    removing: HashSet<String>,
}

/// The simulated kubelet of every fake node.
#[derive(Clone)]
pub struct Kubelet {
    client: Client,
    state: Arc<Mutex<State>>,
    looping: Arc<Mutex<Option<tokio::task::AbortHandle>>>,
}

/// How long a pod stays Pending on its node before it runs (the image pull), unless a
/// namespace asks for another delay.
pub const START_DELAY: Duration = Duration::from_secs(1);

impl std::fmt::Debug for Kubelet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kubelet").finish_non_exhaustive()
    }
}

fn now() -> String {
    Timestamp::now()
        .round(jiff::Unit::Second)
        .unwrap_or(Timestamp::now())
        .to_string()
}

impl Kubelet {
    /// Starts the kubelet loop on the current runtime, acting as `client` (an identity that
    /// may write pod status and delete pods).
    pub fn start(client: Client) -> Kubelet {
        let kubelet = Kubelet {
            client,
            state: Arc::new(Mutex::new(State::default())),
            looping: Arc::default(),
        };
        let looping = kubelet.clone();
        let handle = tokio::spawn(async move { looping.run().await });
        *kubelet
            .looping
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(handle.abort_handle());
        kubelet
    }

    /// Stops the kubelet loop (before the API server goes away).
    pub fn stop(&self) {
        if let Some(handle) = self
            .looping
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            handle.abort();
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs the tasks of `namespace` as `script` decides (default: succeed after 2 s).
    pub fn script(
        &self,
        namespace: &str,
        script: impl Fn(&TaskRun) -> Outcome + Send + Sync + 'static,
    ) {
        self.state()
            .scripts
            .insert(namespace.to_owned(), Arc::new(script));
    }

    /// Keeps the pods of `namespace` Pending on their node for `delay` before they run.
    pub fn start_delay(&self, namespace: &str, delay: Duration) {
        self.state()
            .start_delays
            .insert(namespace.to_owned(), delay);
    }

    /// Registers `node`: created, then its status written as a ready kubelet's.
    pub async fn add_node(&self, node: &FakeNode) -> anyhow::Result<()> {
        let api: Api<Node> = Api::all(self.client.clone());
        let mut labels = node.labels.clone();
        labels.insert("kubernetes.io/hostname".into(), node.name.clone());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert("kubernetes.io/arch".into(), "amd64".into());
        labels.insert("type".into(), "kbatch-e2e-fake".into());
        let taints: Vec<Value> = node
            .taints
            .iter()
            .map(|(key, value, effect)| json!({"key": key, "value": value, "effect": effect}))
            .collect();
        let object: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": node.name, "labels": labels},
            "spec": {"taints": taints},
        }))?;
        match api.create(&PostParams::default(), &object).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let mut capacity =
            json!({"cpu": "64", "memory": "256Gi", "pods": "110", "ephemeral-storage": "1Ti"});
        if node.gpus > 0 {
            capacity["nvidia.com/gpu"] = json!(node.gpus.to_string());
        }
        let t = now();
        let status = json!({"status": {
            "capacity": capacity, "allocatable": capacity,
            "conditions": [
                {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "simulated kubelet is posting ready status",
                 "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure",
                 "lastHeartbeatTime": t, "lastTransitionTime": t},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID",
                 "lastHeartbeatTime": t, "lastTransitionTime": t}
            ],
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": node.name}],
            "nodeInfo": {"kubeletVersion": "v1.36.0-kbatch-e2e", "kubeProxyVersion": "",
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                "osImage": "simulated", "containerRuntimeVersion": "simulated://1",
                "operatingSystem": "linux", "architecture": "amd64"}
        }});
        api.patch_status(&node.name, &PatchParams::default(), &Patch::Merge(&status))
            .await?;
        Ok(())
    }

    async fn run(self) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let mut events = watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                    self.handle(pod);
                }
                Ok(_) => {}
                Err(error) => {
                    eprintln!("simulated kubelet: watch error: {error}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn handle(&self, pod: Pod) {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else {
            return;
        };
        if !node.starts_with(NODE_PREFIX) {
            return;
        }
        let Some(uid) = pod.uid() else { return };
        if pod.metadata.deletion_timestamp.is_some() {
            if self.state().removing.insert(uid) {
                let kubelet = self.clone();
                tokio::spawn(async move { kubelet.remove(&pod).await });
            }
            return;
        }
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if matches!(phase, None | Some("Pending")) && self.state().started.insert(uid) {
            let kubelet = self.clone();
            tokio::spawn(async move {
                if let Err(error) = kubelet.run_pod(pod, node).await {
                    eprintln!("simulated kubelet: {error:#}");
                }
            });
        }
    }

    async fn remove(&self, pod: &Pod) {
        let api: Api<Pod> =
            Api::namespaced(self.client.clone(), &pod.namespace().unwrap_or_default());
        let params = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: pod.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        let _ = api.delete(&pod.name_any(), &params).await;
    }

    async fn run_pod(&self, pod: Pod, node: String) -> anyhow::Result<()> {
        let namespace = pod.namespace().unwrap_or_default();
        let name = pod.name_any();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &namespace);
        let delay = self.state().start_delays.get(&namespace).copied();
        tokio::time::sleep(delay.unwrap_or(START_DELAY)).await;
        let containers: Vec<(String, String)> = pod
            .spec
            .as_ref()
            .map(|s| {
                s.containers
                    .iter()
                    .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        let started = now();
        let running: Vec<Value> = containers
            .iter()
            .map(|(c, image)| {
                json!({"name": c, "image": image, "imageID": "", "ready": true,
                "restartCount": 0, "started": true, "state": {"running": {"startedAt": started}}})
            })
            .collect();
        let patch = json!({"status": {
            "phase": "Running", "startTime": started, "hostIP": "127.0.0.1", "podIP": "10.1.0.1",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": started},
                {"type": "Ready", "status": "True", "lastTransitionTime": started}],
            "containerStatuses": running}});
        if !self.still_pending(&api, &pod).await {
            return Ok(());
        }
        api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;

        let labels = pod.labels();
        let annotations = pod.annotations();
        let run = TaskRun {
            namespace: namespace.clone(),
            pod: name.clone(),
            node,
            batch_job: labels.get("kbatch.k8s.io/batchjob").cloned(),
            group: labels.get("kbatch.k8s.io/task-group").cloned(),
            index: annotations
                .get(INDEX_ANNOTATION)
                .and_then(|i| i.parse().ok()),
            attempt: annotations
                .get(FAILURES_ANNOTATION)
                .and_then(|i| i.parse().ok())
                .unwrap_or(0),
        };
        let script = self.state().scripts.get(&namespace).cloned();
        let outcome = script.map_or(Outcome::succeed_after(2), |s| s(&run));
        let deadline = pod
            .spec
            .as_ref()
            .and_then(|s| s.active_deadline_seconds)
            .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)));
        let runs_for = match outcome {
            Outcome::Exit { after, .. } => Some(after),
            Outcome::Hold => None,
        };
        let (wait, past_deadline) = match (runs_for, deadline) {
            (Some(run), Some(limit)) if limit < run => (Some(limit), true),
            (None, Some(limit)) => (Some(limit), true),
            (run, _) => (run, false),
        };
        let Some(wait) = wait else { return Ok(()) };
        tokio::time::sleep(wait).await;
        // A pod preempted, deleted or replaced meanwhile is no longer ours to finish.
        let Ok(current) = api.get(&name).await else {
            return Ok(());
        };
        let current_phase = current.status.as_ref().and_then(|s| s.phase.as_deref());
        if current.uid() != pod.uid()
            || current.metadata.deletion_timestamp.is_some()
            || matches!(current_phase, Some("Succeeded" | "Failed"))
        {
            return Ok(());
        }
        let finished = now();
        let code = match outcome {
            Outcome::Exit { code, .. } if !past_deadline => code,
            _ => 137,
        };
        let terminated: Vec<Value> = containers
            .iter()
            .map(|(c, image)| {
                json!({"name": c, "image": image, "imageID": "", "ready": false,
                "restartCount": 0, "started": false, "state": {"terminated": {
                    "exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" },
                    "startedAt": started, "finishedAt": finished}}})
            })
            .collect();
        let not_ready = json!([
            {"type": "ContainersReady", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished},
            {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": finished}]);
        let status = if past_deadline {
            json!({"phase": "Failed", "reason": "DeadlineExceeded",
                "message": "Pod was active on the node longer than the specified deadline",
                "conditions": not_ready, "containerStatuses": terminated})
        } else {
            json!({"phase": if code == 0 { "Succeeded" } else { "Failed" },
                "conditions": not_ready, "containerStatuses": terminated})
        };
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Strategic(&json!({"status": status})),
        )
        .await?;
        Ok(())
    }

    async fn still_pending(&self, api: &Api<Pod>, pod: &Pod) -> bool {
        match api.get(&pod.name_any()).await {
            Ok(current) => {
                current.uid() == pod.uid()
                    && current.metadata.deletion_timestamp.is_none()
                    && matches!(
                        current.status.as_ref().and_then(|s| s.phase.as_deref()),
                        None | Some("Pending")
                    )
            }
            Err(_) => false,
        }
    }

    /// Preempts the pod `namespace/name` as a node shutdown does: it fails with a
    /// `DisruptionTarget` condition, then is deleted.
    pub async fn preempt(&self, namespace: &str, name: &str) -> anyhow::Result<()> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let t = now();
        let patch = json!({"status": {
            "phase": "Failed", "reason": "Terminated",
            "message": "Pod was terminated in response to imminent node shutdown.",
            "conditions": [
                {"type": "DisruptionTarget", "status": "True", "reason": "TerminationByKubelet",
                 "message": "Pod was terminated in response to imminent node shutdown.",
                 "lastTransitionTime": t},
                {"type": "Ready", "status": "False", "reason": "PodFailed", "lastTransitionTime": t},
                {"type": "ContainersReady", "status": "False", "reason": "PodFailed", "lastTransitionTime": t}]}});
        api.patch_status(name, &PatchParams::default(), &Patch::Strategic(&patch))
            .await?;
        api.delete(
            name,
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await?;
        Ok(())
    }
}
