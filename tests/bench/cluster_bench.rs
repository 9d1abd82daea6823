//! `make bench-cluster`: kbatch at scale on a real control plane (the cluster tests' harness,
//! `KUBEBUILDER_ASSETS`), measured against the Job controller alone on the same harness.
//!
//! 1. **Baseline**: `BENCH_JOBS` plain Indexed Jobs (one completion each), created by the
//!    administrator; the time until all have completed.
//! 2. **Admission**: `BENCH_ROUNDS` interleaved rounds of `BENCH_ROUND` BatchJob creates into
//!    a paused queue, with the webhook registered and without it (the API server alone);
//!    create latency p50/p99 and throughput per mode.
//! 3. **kbatch**: `BENCH_JOBS` single-task BatchJobs created by a practitioner through the
//!    webhook, run by the simulated kubelet; the time until all have Succeeded, the
//!    controller's peak RSS (VmHWM) and its API requests per job (its own
//!    `kbatch_controller_api_requests_total`, which counts every request it sends).
//!
//! Creates run `BENCH_CONCURRENCY` at a time. Set `KBATCH_BIN` to a release build of `kbatch`
//! for figures worth comparing (the Makefile target does).

use anyhow::Context as _;
use k8s_openapi::api::batch::v1::Job;
use kbatch_e2e::cluster::kubelet::Outcome;
use kbatch_e2e::cluster::{Cluster, assets, install};
use kbatch_policy::api::{BatchJob, JobPhase};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Creates `count` objects made by `object(i)` in `namespace`, `concurrency` at a time;
/// returns each create's latency.
async fn create_all<K>(
    api: &Api<K>,
    count: usize,
    concurrency: usize,
    object: impl Fn(usize) -> anyhow::Result<K>,
) -> anyhow::Result<Vec<Duration>>
where
    K: Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    use futures::StreamExt;
    let objects: Vec<K> = (0..count).map(object).collect::<anyhow::Result<_>>()?;
    let latencies = futures::stream::iter(objects)
        .map(|o| async move {
            let start = Instant::now();
            api.create(&PostParams::default(), &o).await?;
            anyhow::Ok(start.elapsed())
        })
        .buffer_unordered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await;
    latencies.into_iter().collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    // Nearest rank; `p` is in (0, 1].
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Watches until `count` objects satisfy `done`; returns the time since `since`. A watch,
/// not a poll: a LIST of 10,000 objects every few seconds would load the API server the
/// run measures (and custom resources, encoded as unstructured JSON, more than Jobs).
async fn wait_count<K>(
    api: &Api<K>,
    count: usize,
    since: Instant,
    what: &str,
    done: impl Fn(&K) -> bool,
) -> anyhow::Result<Duration>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    use futures::TryStreamExt;
    use kube::runtime::{WatchStreamExt, watcher};
    let mut finished = std::collections::HashSet::new();
    let events = watcher(api.clone(), watcher::Config::default()).default_backoff();
    let counted = async {
        futures::pin_mut!(events);
        while let Some(event) = events.try_next().await? {
            let (watcher::Event::Apply(object) | watcher::Event::InitApply(object)) = event else {
                continue;
            };
            if done(&object) {
                finished.insert(object.meta().uid.clone().unwrap_or_default());
                if finished.len() >= count {
                    return anyhow::Ok(since.elapsed());
                }
            }
        }
        anyhow::bail!("{what}: the watch ended")
    };
    let limit = Duration::from_secs(3 * 3600);
    tokio::time::timeout(limit, counted)
        .await
        .map_err(|_| anyhow::anyhow!("{what}: not all {count} after 3 h"))?
}

/// Deletes `namespace` and waits until it is gone (its Jobs and pods with it).
async fn delete_namespace(cluster: &Cluster, namespace: &str) -> anyhow::Result<()> {
    use k8s_openapi::api::core::v1::Namespace;
    let api: Api<Namespace> = Api::all(cluster.admin.clone());
    api.delete(namespace, &DeleteParams::background()).await?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    while api.get_opt(namespace).await?.is_some() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{namespace} still there after 30 min"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Ok(())
}

fn plain_job(namespace: &str, i: usize) -> anyhow::Result<Job> {
    Ok(serde_json::from_value(json!({
        "metadata": {"name": format!("plain-{i}"), "namespace": namespace},
        "spec": {"completionMode": "Indexed", "completions": 1, "parallelism": 1,
            "backoffLimitPerIndex": 0, "podReplacementPolicy": "Failed",
            "template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "work", "image": "busybox:1.36",
                "resources": {"requests": {"cpu": "10m", "memory": "8Mi"}}}]}}}
    }))?)
}

fn batch_job(queue: &str, i: usize) -> anyhow::Result<BatchJob> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
        "metadata": {"name": format!("job-{i}")},
        "spec": {"batchQueueName": queue, "taskGroups": [{
            "name": "main", "maxWallTime": "1m", "retryLimit": 0,
            "indexSpec": {"taskCount": 1},
            "template": {"spec": {"restartPolicy": "Never", "containers": [{
                "name": "work", "image": "busybox:1.36",
                "resources": {"requests": {"cpu": "10m", "memory": "8Mi"},
                              "limits": {"cpu": "10m", "memory": "8Mi"}}}]}}
        }]}
    }))?)
}

/// A namespace with a queue `main` on a budget big enough for everything, `paused` or not.
async fn queue(cluster: &Cluster, prefix: &str, paused: bool) -> anyhow::Result<String> {
    let namespace = cluster.namespace(prefix).await?;
    let objects = [
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchPriority",
            "metadata": {"name": format!("{namespace}-priority")},
            "spec": {"value": 10, "description": "bench"}}),
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchCostModel",
            "metadata": {"name": format!("{namespace}-costs")},
            "spec": {"resources": {"cpu": 0.36, "memory": 0, "nvidia.com/gpu": 0.72}}}),
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchBudget",
            "metadata": {"name": format!("{namespace}-budget")},
            "spec": {"batchCostModelName": format!("{namespace}-costs"),
                "budgetWindows": [{"duration": "24h", "amount": 1_000_000}]}}),
        json!({"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchQueue",
            "metadata": {"name": "main", "namespace": namespace},
            "spec": {"batchPriorityName": format!("{namespace}-priority"),
                "batchBudgetName": format!("{namespace}-budget"), "pauseScheduling": paused}}),
        install::everyone_runs_unprivileged_pods(&namespace),
    ];
    install::apply_all(&cluster.admin, &objects, None).await?;
    // The webhook decides from watches: wait until it has seen the queue.
    let probe = batch_job("main", 0)?;
    let api: Api<BatchJob> = Api::namespaced(cluster.admin.clone(), &namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let start = Instant::now();
    while let Err(e) = api.create(&dry_run, &probe).await {
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(60),
            "queue not admissible: {e}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(namespace)
}

/// The controller's metrics text.
async fn controller_metrics(cluster: &Cluster) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(cluster.controller_probe_addr()).await?;
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut text = String::new();
    stream.read_to_string(&mut text).await?;
    Ok(text)
}

/// The controller's API requests so far, by verb.
async fn controller_requests(cluster: &Cluster) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = controller_metrics(cluster).await?;
    let mut by_verb = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("kbatch_controller_api_requests_total{") else {
            continue;
        };
        let label = |name: &str| {
            rest.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|v| v.split('"').next())
                .unwrap_or_default()
                .to_owned()
        };
        let verb = format!("{} {}", label("verb"), label("resource"));
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *by_verb.entry(verb.to_owned()).or_insert(0.0) += value;
    }
    Ok(by_verb)
}

/// Per stage of the jobs' lives, each job's time in it (seconds): created → Scheduled
/// (waiting for the scheduling pass), → its Job created (the reconcile), → the Job started
/// (the Job controller's first sync), → the Job complete (pods created, scheduled, run by the
/// simulated kubelet), → Succeeded (the refund and the final status).
fn stages<'a>(jobs: &'a [BatchJob], owned: &[Job]) -> Vec<(&'static str, Vec<i64>)> {
    let condition = |job: &'a BatchJob, type_: &str| {
        let conditions = job.status.as_ref().map(|s| s.conditions.as_slice());
        conditions
            .unwrap_or_default()
            .iter()
            .find(|c| c.type_ == type_)
            .and_then(|c| c.time.as_ref())
            .map(|t| t.0)
    };
    let by_owner: BTreeMap<&str, &Job> = owned
        .iter()
        .filter_map(|j| {
            Some((
                j.metadata.owner_references.as_ref()?.first()?.uid.as_str(),
                j,
            ))
        })
        .collect();
    let names = [
        "created → Scheduled",
        "Scheduled → Job created",
        "Job created → Job started",
        "Job started → Job complete",
        "Job complete → Succeeded",
    ];
    let mut secs: Vec<Vec<i64>> = vec![Vec::new(); names.len()];
    for job in jobs {
        let k8s = job
            .metadata
            .uid
            .as_deref()
            .and_then(|uid| by_owner.get(uid));
        let k8s_status = k8s.and_then(|j| j.status.as_ref());
        let times = [
            job.metadata.creation_timestamp.as_ref().map(|t| t.0),
            condition(job, "Scheduled"),
            k8s.and_then(|j| j.metadata.creation_timestamp.as_ref())
                .map(|t| t.0),
            k8s_status.and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            k8s_status
                .and_then(|s| s.completion_time.as_ref())
                .map(|t| t.0),
            condition(job, "Completed"),
        ];
        let Some(times) = times.into_iter().collect::<Option<Vec<_>>>() else {
            continue;
        };
        for (stage, pair) in times.windows(2).enumerate() {
            secs[stage].push(pair[1].duration_since(pair[0]).as_secs());
        }
    }
    names.into_iter().zip(secs).collect()
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

struct Admission {
    with: Vec<Duration>,
    without: Vec<Duration>,
    with_time: Duration,
    without_time: Duration,
}

async fn admission(
    cluster: &Cluster,
    practitioner: &Client,
    rounds: usize,
    per_round: usize,
    concurrency: usize,
) -> anyhow::Result<Admission> {
    let mut result = Admission {
        with: Vec::new(),
        without: Vec::new(),
        with_time: Duration::ZERO,
        without_time: Duration::ZERO,
    };
    for round in 0..rounds * 2 {
        let webhook = round % 2 == 0;
        if webhook {
            cluster.register_webhooks().await?;
        } else {
            cluster.unregister_webhooks().await?;
        }
        // The API server picks webhook configurations up from a watch.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let namespace = queue(cluster, &format!("admission-{round}"), true).await?;
        let api: Api<BatchJob> = Api::namespaced(practitioner.clone(), &namespace);
        let start = Instant::now();
        let latencies = create_all(&api, per_round, concurrency, |i| batch_job("main", i))
            .await
            .with_context(|| format!("round {round} (webhook: {webhook})"))?;
        let took = start.elapsed();
        // Paused jobs are unfinished: out of the way of the cluster-wide cap.
        Api::<BatchJob>::namespaced(cluster.admin.clone(), &namespace)
            .delete_collection(&DeleteParams::default(), &ListParams::default())
            .await?;
        if webhook {
            result.with.extend(latencies);
            result.with_time += took;
        } else {
            result.without.extend(latencies);
            result.without_time += took;
        }
    }
    cluster.register_webhooks().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(result)
}

fn main() -> anyhow::Result<()> {
    let jobs = env_usize("BENCH_JOBS", 10_000);
    let concurrency = env_usize("BENCH_CONCURRENCY", 32);
    let rounds = env_usize("BENCH_ROUNDS", 3);
    let per_round = env_usize("BENCH_ROUND", 200);
    let assets = assets().map_err(anyhow::Error::msg)?;
    println!("starting the control plane ({})", assets.display());
    let cluster = Cluster::start(&assets)?;

    // 1. The Job controller alone.
    let plain_ns = cluster.run(cluster.namespace("plain"))?;
    cluster
        .kubelet
        .script(&plain_ns, |_| Outcome::succeed_after(1));
    let plain = cluster.run(async {
        let api: Api<Job> = Api::namespaced(cluster.admin.clone(), &plain_ns);
        let start = Instant::now();
        create_all(&api, jobs, concurrency, |i| plain_job(&plain_ns, i)).await?;
        wait_count(&api, jobs, start, "plain Jobs complete", |j| {
            j.status.as_ref().and_then(|s| s.succeeded) == Some(1)
        })
        .await
    })?;
    println!(
        "plain Jobs: {jobs} complete in {:.1} s",
        plain.as_secs_f64()
    );
    // Gone before kbatch's turn, so that both start from the same cluster: left, their
    // finished pods would take the cluster past the Job controller's threshold of 12,500
    // terminated pods, and its pod GC would delete thousands of them during kbatch's run.
    let cleared = Instant::now();
    cluster.run(delete_namespace(&cluster, &plain_ns))?;
    println!(
        "plain namespace deleted in {:.1} s",
        cleared.elapsed().as_secs_f64()
    );

    // 2. Admission, with and without the webhook.
    let alice = cluster.run(cluster.practitioner("alice"))?;
    let mut admitted = cluster.run(admission(&cluster, &alice, rounds, per_round, concurrency))?;
    admitted.with.sort();
    admitted.without.sort();

    // 3. kbatch: BatchJobs through the webhook to Succeeded.
    let ns = cluster.run(queue(&cluster, "kbatch", false))?;
    cluster.kubelet.script(&ns, |_| Outcome::succeed_after(1));
    let before = cluster.run(controller_requests(&cluster))?;
    let ran = cluster.run(async {
        let api: Api<BatchJob> = Api::namespaced(alice.clone(), &ns);
        let start = Instant::now();
        create_all(&api, jobs, concurrency, |i| batch_job("main", i)).await?;
        let admin: Api<BatchJob> = Api::namespaced(cluster.admin.clone(), &ns);
        wait_count(&admin, jobs, start, "BatchJobs succeed", |j| {
            j.status.as_ref().and_then(|s| s.phase) == Some(JobPhase::Succeeded)
        })
        .await
    })?;
    let after = cluster.run(controller_requests(&cluster))?;
    let rss = cluster.controller_pid().and_then(peak_rss_mib);
    let (finished, owned) = cluster.run(async {
        let api: Api<BatchJob> = Api::namespaced(cluster.admin.clone(), &ns);
        let jobs: Api<Job> = Api::namespaced(cluster.admin.clone(), &ns);
        anyhow::Ok((
            api.list(&ListParams::default()).await?.items,
            jobs.list(&ListParams::default()).await?.items,
        ))
    })?;

    // Requests during the run, by "verb resource"; writes per job leave out Events.
    let per_job = |verbs: &[&str]| -> f64 {
        after
            .iter()
            .filter(|(key, _)| {
                let mut parts = key.split(' ');
                let verb = parts.next().unwrap_or_default();
                let resource = parts.next().unwrap_or_default();
                verbs.contains(&verb) && resource != "events"
            })
            .map(|(key, n)| n - before.get(key).copied().unwrap_or(0.0))
            .sum::<f64>()
            / jobs as f64
    };
    let writes = per_job(&["create", "update", "patch", "delete"]);
    let reads = per_job(&["get", "list"]);
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let rate = |n: usize, d: Duration| n as f64 / d.as_secs_f64().max(f64::EPSILON);
    println!();
    println!("| measure | kbatch | baseline | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| create p50 (webhook vs API server alone) | {:.1} ms | {:.1} ms | {:.2} | |",
        ms(percentile(&admitted.with, 0.5)),
        ms(percentile(&admitted.without, 0.5)),
        ms(percentile(&admitted.with, 0.5)) / ms(percentile(&admitted.without, 0.5)).max(1e-9)
    );
    println!(
        "| create p99 | {:.1} ms | {:.1} ms | {:.2} | |",
        ms(percentile(&admitted.with, 0.99)),
        ms(percentile(&admitted.without, 0.99)),
        ms(percentile(&admitted.with, 0.99)) / ms(percentile(&admitted.without, 0.99)).max(1e-9)
    );
    println!(
        "| creates per second | {:.0} | {:.0} | {:.2} | |",
        rate(admitted.with.len(), admitted.with_time),
        rate(admitted.without.len(), admitted.without_time),
        rate(admitted.with.len(), admitted.with_time)
            / rate(admitted.without.len(), admitted.without_time).max(1e-9)
    );
    println!(
        "| {jobs} jobs drained (BatchJobs vs plain Jobs) | {:.1} s | {:.1} s | {:.2} | ≤ 2 |",
        ran.as_secs_f64(),
        plain.as_secs_f64(),
        ran.as_secs_f64() / plain.as_secs_f64().max(1e-9)
    );
    println!("| controller writes per job (Events aside) | {writes:.2} | | | ≤ 6 |");
    println!("| controller reads per job | {reads:.2} | | | |");
    match rss {
        Some(mib) => println!("| controller peak RSS | {mib:.0} MiB | | | ≤ 200 MB |"),
        None => println!("| controller peak RSS | unknown | | | ≤ 200 MB |"),
    }
    println!("\nwhere a job's time went (whole seconds, from its conditions):");
    println!("| stage | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for (stage, mut secs) in stages(&finished, &owned) {
        secs.sort_unstable();
        let at = |p: f64| {
            let rank = ((p * secs.len() as f64).ceil() as usize).clamp(1, secs.len().max(1));
            secs.get(rank - 1).copied().unwrap_or_default()
        };
        let max = secs.last().copied().unwrap_or_default();
        println!("| {stage} | {} s | {} s | {max} s |", at(0.5), at(0.99));
    }
    println!("\ncontroller reconciles and events dropped (whole run):");
    let text = cluster.run(controller_metrics(&cluster))?;
    for line in text.lines().filter(|l| {
        l.starts_with("kbatch_controller_reconciles_total")
            || l.starts_with("kbatch_controller_events_dropped_total")
    }) {
        println!("  {line}");
    }
    println!("\ncontroller requests during the run, by verb and resource:");
    for (key, n) in &after {
        println!("  {key}: {}", n - before.get(key).copied().unwrap_or(0.0));
    }
    Ok(())
}
