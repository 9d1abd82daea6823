//! What the scenarios share: a team's policy objects, jobs, and watching what a user would
//! see with `kubectl get -w`.

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kbatch_e2e::cluster::wait::{self, PATIENCE};
use kbatch_e2e::cluster::{Cluster, install};
use kbatch_policy::api::{BatchBudget, BatchJob, BatchJobCondition, JobPhase};
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The cost of one vCPU-hour in every scenario's cost model: 0.36 makes one vCPU-second
/// cost exactly 0.0001. A GPU-hour costs twice as much; memory is free.
pub const CPU_HOUR: &str = "0.36";
pub const GPU_HOUR: &str = "0.72";

/// A team: a namespace with a queue `main` (its own priority, budget and cost model) and a
/// BatchUserContext that lets everyone run unprivileged pods.
#[derive(Debug, Clone)]
pub struct Team {
    pub namespace: String,
    pub queue: String,
    pub budget: String,
    pub priority: String,
    pub cost_model: String,
}

/// Creates a team in a new namespace `<prefix>-<n>` with a 24h budget window of `amount`.
pub async fn team(cluster: &Cluster, prefix: &str, amount: f64) -> anyhow::Result<Team> {
    let namespace = cluster.namespace(prefix).await?;
    let team = Team {
        queue: "main".to_owned(),
        budget: format!("{namespace}-budget"),
        priority: format!("{namespace}-priority"),
        cost_model: format!("{namespace}-costs"),
        namespace,
    };
    let objects = [
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchPriority",
            "metadata": {"name": team.priority}, "spec": {"value": 10, "description": "e2e"}}),
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
            "metadata": {"name": team.cost_model},
            "spec": {"resources": {"cpu": CPU_HOUR.parse::<f64>()?, "memory": 0,
                "nvidia.com/gpu": GPU_HOUR.parse::<f64>()?}}}),
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchBudget",
            "metadata": {"name": team.budget},
            "spec": {"batchCostModelName": team.cost_model,
                "budgetWindows": [{"duration": "24h", "amount": amount}]}}),
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
            "metadata": {"name": team.queue, "namespace": team.namespace},
            "spec": {"batchPriorityName": team.priority, "batchBudgetName": team.budget}}),
        install::everyone_runs_unprivileged_pods(&team.namespace),
    ];
    install::apply_all(&cluster.admin, &objects, None).await?;
    let probe = job("dry-run", &team.queue, 1, "1m");
    wait_admissible(cluster, &team.namespace, &probe).await?;
    Ok(team)
}

/// Waits until the webhook, whose policy comes from watches, has seen the policy objects just
/// applied: a server-side dry run of `job` (which calls the webhooks and stores nothing) is
/// accepted. Without it a job created in the same instant as its queue may be refused for a
/// queue "that does not exist" (see the README's note on the webhook's watch cache).
pub async fn wait_admissible(
    cluster: &Cluster,
    namespace: &str,
    job: &Value,
) -> anyhow::Result<()> {
    let probe: BatchJob = serde_json::from_value(job.clone())?;
    let api: Api<BatchJob> = Api::namespaced(cluster.admin.clone(), namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    wait::until(
        "the webhook to see the policy objects",
        PATIENCE,
        || async {
            Ok(match api.create(&dry_run, &probe).await {
                Ok(_) => Ok(()),
                Err(kube::Error::Api(e)) => Err(e.message),
                Err(e) => return Err(e.into()),
            })
        },
    )
    .await
}

/// A BatchJob `name` of `tasks` tasks in `queue`, one vCPU each, `maxWallTime: wall`.
pub fn job(name: &str, queue: &str, tasks: i32, wall: &str) -> Value {
    json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": name},
        "spec": {"batchQueueName": queue, "taskGroups": [{
            "name": "main", "maxWallTime": wall, "retryLimit": 0,
            "indexSpec": {"taskCount": tasks},
            "template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "work", "image": "busybox:1.36",
                "command": ["sh", "-c", "echo task ${KBATCH_ARRAY_INDEX}"],
                "resources": {"requests": {"cpu": "1", "memory": "64Mi"},
                              "limits": {"cpu": "1", "memory": "64Mi"}}}]}}
        }]}
    })
}

/// Creates `job` in `namespace` as `client` (the way `kubectl create -f` would).
pub async fn create(client: &Client, namespace: &str, job: &Value) -> anyhow::Result<BatchJob> {
    let job: BatchJob = serde_json::from_value(job.clone())?;
    Ok(Api::<BatchJob>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &job)
        .await?)
}

/// The API answer's message when `result` was refused (fails the test when it was not).
pub fn refusal<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> anyhow::Result<String> {
    match result {
        Ok(value) => anyhow::bail!("expected a refusal, got {value:?}"),
        Err(kube::Error::Api(status)) => Ok(status.message),
        Err(other) => anyhow::bail!("expected a refusal from the API server, got {other}"),
    }
}

pub fn jobs(cluster: &Cluster, namespace: &str) -> Api<BatchJob> {
    Api::namespaced(cluster.admin.clone(), namespace)
}

pub fn phase(job: &BatchJob) -> Option<JobPhase> {
    job.status.as_ref().and_then(|s| s.phase)
}

/// The condition of `type_` on `job`.
pub fn condition<'a>(job: &'a BatchJob, type_: &str) -> Option<&'a BatchJobCondition> {
    job.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
}

/// What `kubectl get bj` would show of `job`: phase and conditions.
pub fn describe(job: &BatchJob) -> String {
    let status = job.status.clone().unwrap_or_default();
    let conditions: Vec<String> = status
        .conditions
        .iter()
        .map(|c| {
            format!(
                "{}={} {} {:?}",
                c.type_,
                c.status,
                c.reason.as_deref().unwrap_or(""),
                c.message.as_deref().unwrap_or("")
            )
        })
        .collect();
    format!(
        "phase {:?}; conditions [{}]",
        status.phase,
        conditions.join("; ")
    )
}

/// Waits until BatchJob `namespace/name` satisfies `test`, and returns it.
pub async fn wait_for(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    what: &str,
    within: Duration,
    test: impl Fn(&BatchJob) -> bool,
) -> anyhow::Result<BatchJob> {
    let api = jobs(cluster, namespace);
    wait::until(
        &format!("BatchJob {namespace}/{name}: {what}"),
        within,
        || async {
            let job = api.get(name).await?;
            Ok(if test(&job) {
                Ok(job)
            } else {
                Err(describe(&job))
            })
        },
    )
    .await
}

/// Waits until BatchJob `namespace/name` is in `phase`.
pub async fn wait_phase(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    expected: JobPhase,
) -> anyhow::Result<BatchJob> {
    wait_for(
        cluster,
        namespace,
        name,
        &format!("phase {expected:?}"),
        PATIENCE,
        |j| phase(j) == Some(expected),
    )
    .await
}

/// Waits until the reservation of the finished BatchJob `namespace/name` is refunded (the
/// controller refunds after it writes the final phase): the budget then holds what it cost.
pub async fn wait_settled(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
) -> anyhow::Result<BatchJob> {
    wait_for(
        cluster,
        namespace,
        name,
        "its reservation refunded",
        PATIENCE,
        |j| {
            j.status
                .as_ref()
                .and_then(|s| s.reservation.as_ref())
                .is_some_and(|r| r.refunded_at.is_some())
        },
    )
    .await
}

/// Records every phase a watch sees of the BatchJobs of a namespace, in order, per job.
#[derive(Clone, Default)]
pub struct PhaseLog {
    seen: Arc<Mutex<HashMap<String, Vec<JobPhase>>>>,
}

impl PhaseLog {
    /// Starts watching `namespace` (before the jobs are created, so that no phase is missed).
    pub async fn watch(cluster: &Cluster, namespace: &str) -> anyhow::Result<PhaseLog> {
        let log = PhaseLog::default();
        let seen = Arc::clone(&log.seen);
        let api = jobs(cluster, namespace);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                let job = match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                        continue;
                    }
                    Ok(watcher::Event::Apply(job) | watcher::Event::InitApply(job)) => job,
                    _ => continue,
                };
                let Some(p) = phase(&job) else { continue };
                let mut seen = seen.lock().unwrap();
                let phases = seen.entry(job.name_any()).or_default();
                if phases.last() != Some(&p) {
                    phases.push(p);
                }
            }
        });
        ready_rx
            .await
            .context("the BatchJob watch ended before listing")?;
        Ok(log)
    }

    /// The phases seen of `name`, in order, each once per stretch.
    pub fn of(&self, name: &str) -> Vec<JobPhase> {
        self.seen
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

/// Watches the pods of a namespace and remembers every moment two live pods (neither
/// Succeeded nor Failed) held the same task index of the same Job.
#[derive(Clone, Default)]
pub struct PodLog {
    /// pod uid → (job/index, live)
    pods: Arc<Mutex<BTreeMap<String, (String, bool)>>>,
    overlaps: Arc<Mutex<Vec<String>>>,
}

impl PodLog {
    pub async fn watch(cluster: &Cluster, namespace: &str) -> anyhow::Result<PodLog> {
        let log = PodLog::default();
        let state = log.clone();
        let api: Api<Pod> = Api::namespaced(cluster.admin.clone(), namespace);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let mut ready = Some(ready_tx);
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                match event {
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = ready.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Apply(pod) | watcher::Event::InitApply(pod)) => {
                        state.seen(&pod, true);
                    }
                    Ok(watcher::Event::Delete(pod)) => state.seen(&pod, false),
                    _ => {}
                }
            }
        });
        ready_rx
            .await
            .context("the pod watch ended before listing")?;
        Ok(log)
    }

    fn seen(&self, pod: &Pod, exists: bool) {
        let Some(index) = pod
            .annotations()
            .get(kbatch_e2e::cluster::kubelet::INDEX_ANNOTATION)
        else {
            return;
        };
        let job = pod.labels().get("job-name").cloned().unwrap_or_default();
        let key = format!("{job}/{index}");
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        let live = exists && !matches!(phase, Some("Succeeded" | "Failed"));
        let mut pods = self.pods.lock().unwrap();
        pods.insert(pod.uid().unwrap_or_default(), (key.clone(), live));
        let holders = pods.values().filter(|(k, l)| *k == key && *l).count();
        if holders > 1 {
            self.overlaps
                .lock()
                .unwrap()
                .push(format!("{holders} live pods for index {key}"));
        }
    }

    /// Every moment two live pods held one index.
    pub fn overlaps(&self) -> Vec<String> {
        self.overlaps.lock().unwrap().clone()
    }
}

/// The pods of BatchJob `name` in `namespace`.
pub async fn pods_of(cluster: &Cluster, namespace: &str, name: &str) -> anyhow::Result<Vec<Pod>> {
    let api: Api<Pod> = Api::namespaced(cluster.admin.clone(), namespace);
    Ok(api
        .list(&ListParams::default().labels(&format!("kbatch.k8s.io/batchjob={name}")))
        .await?
        .items)
}

/// The runs (pods) of task `index` of BatchJob `name` in `namespace`.
pub async fn runs_of(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    index: u32,
) -> anyhow::Result<Vec<Pod>> {
    let index = index.to_string();
    Ok(pods_of(cluster, namespace, name)
        .await?
        .into_iter()
        .filter(|p| {
            p.annotations()
                .get(kbatch_e2e::cluster::kubelet::INDEX_ANNOTATION)
                == Some(&index)
        })
        .collect())
}

/// The `batch/v1` Jobs of BatchJob `name` in `namespace`.
pub async fn jobs_of(cluster: &Cluster, namespace: &str, name: &str) -> anyhow::Result<Vec<Job>> {
    let api: Api<Job> = Api::namespaced(cluster.admin.clone(), namespace);
    Ok(api
        .list(&ListParams::default().labels(&format!("kbatch.k8s.io/batchjob={name}")))
        .await?
        .items)
}

/// The exact amount spent in `budget`'s window of `duration` (`status.windowStatusList[]
/// .amountExact`), as text; `"0"` before anything was charged.
pub async fn spent(cluster: &Cluster, budget: &str, duration: &str) -> anyhow::Result<String> {
    let budget = Api::<BatchBudget>::all(cluster.admin.clone())
        .get(budget)
        .await?;
    let window = budget
        .status
        .unwrap_or_default()
        .window_status_list
        .into_iter()
        .find(|w| w.duration == duration);
    Ok(window
        .and_then(|w| w.amount_exact)
        .map_or_else(|| "0".to_owned(), |m| m.to_string()))
}

/// `text` as nano-units: exact decimal arithmetic for the budget assertions, independent of
/// the policy crate's.
pub fn nanos(text: &str) -> anyhow::Result<i128> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    anyhow::ensure!(frac.len() <= 9, "{text} has more than 9 decimals");
    let padded = format!("{frac:0<9}");
    Ok(int.parse::<i128>()? * 1_000_000_000 + padded.parse::<i128>()?)
}

/// `a / b` rounded up, for positive `b`: how the ledger prorates a cost.
pub fn ceil_div(a: i128, b: i128) -> i128 {
    a / b + i128::from(a % b > 0)
}

/// The time of `job`'s condition `type_`.
pub fn condition_time(job: &BatchJob, type_: &str) -> anyhow::Result<jiff::Timestamp> {
    condition(job, type_)
        .and_then(|c| c.time.as_ref())
        .map(|t| t.0)
        .with_context(|| format!("no {type_} condition time: {}", describe(job)))
}

/// Polls while `during` elapses and fails if `test` ever holds.
pub async fn never_for(
    cluster: &Cluster,
    namespace: &str,
    name: &str,
    during: Duration,
    what: &str,
    test: impl Fn(&BatchJob) -> bool,
) -> anyhow::Result<BatchJob> {
    let api = jobs(cluster, namespace);
    let end = tokio::time::Instant::now() + during;
    loop {
        let job = api.get(name).await?;
        anyhow::ensure!(!test(&job), "{what}: {}", describe(&job));
        if tokio::time::Instant::now() >= end {
            return Ok(job);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The seconds the containers of `namespace/name`'s pods ran, summed over every pod (every
/// run of every task): what the job is billed for.
pub async fn task_seconds(cluster: &Cluster, namespace: &str, name: &str) -> anyhow::Result<i64> {
    let mut total = 0;
    for pod in pods_of(cluster, namespace, name).await? {
        let state = pod
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|c| c.first())
            .and_then(|c| c.state.as_ref())
            .and_then(|s| s.terminated.clone())
            .with_context(|| format!("a run that did not end: {}", pod.name_any()))?;
        let (Some(start), Some(end)) = (state.started_at, state.finished_at) else {
            anyhow::bail!("a run without times: {}", pod.name_any());
        };
        total += end.0.duration_since(start.0).as_secs();
    }
    Ok(total)
}
