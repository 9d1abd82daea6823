//! Memory and time of the controller's scheduling pass over 10,000 queued BatchJobs in 20
//! queues (5 priorities, 2 budgets): the population of the policy crate's scheduling bench
//! (`crates/policy/benches/population.rs`, included here by path), held in the controller's reflector
//! stores.
//!
//! The pass runs against an in-process API server whose storage is the controller's own
//! stores: each write (merge patch of a status, JSON patch of finalizers) is applied and
//! reaches the stores at once, as a watch with no delay would. So the time includes
//! building the requests, reading the answers and the ledger's bookkeeping, not a network.
//! Two passes: the first starts what the budgets allow and writes the waiting conditions of
//! the others; the second is the steady state (nothing changed: no writes).
//!
//! Run: `cargo run --release -p kbatch-controller --example memory_10k`. Linux only (reads
//! `VmHWM` from /proc/self/status).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use http::{Method, Request, Response};
use jiff::Timestamp;
use kbatch_controller::schedule_pass::{pass, snapshot};
use kbatch_controller::{Context, Stores};
use kbatch_policy::api::{BatchBudget, BatchJob, BatchJobConstraint};
use kbatch_policy::scheduling::{Action, schedule};
use kube::client::Body;
use kube::runtime::reflector::{self, ObjectRef, Store, store::Writer};
use kube::runtime::watcher::Event;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const QUEUED: usize = 10_000;
#[path = "../../policy/benches/population.rs"]
mod population;
use population::{job, policy};

fn now() -> Timestamp {
    "2026-11-22T15:00:00Z".parse().unwrap()
}

fn store_of<K>(objects: &[K]) -> (Store<K>, Writer<K>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for object in objects {
        writer.apply_watcher_event(&Event::InitApply(object.clone()));
    }
    writer.apply_watcher_event(&Event::InitDone);
    (store, writer)
}

/// Applies the write `body` to `object` (a merge patch of its status, or a JSON patch),
/// bumps its resourceVersion and returns it.
fn apply<K>(object: &K, status_only: bool, body: &[u8]) -> K
where
    K: serde::Serialize + DeserializeOwned,
{
    let mut value = serde_json::to_value(object).unwrap();
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if status_only {
        json_patch::merge(&mut value["status"], &body["status"]);
    } else {
        let patch: json_patch::Patch = serde_json::from_value(body).unwrap();
        json_patch::patch(&mut value, &patch.0).unwrap();
    }
    let rv: u64 = value["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    value["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
    serde_json::from_value(value).unwrap()
}

/// The in-process API server: the stores are its storage, and each write reaches them at
/// once (a watch with no delay), as the controller's reflectors would see it.
struct Server {
    jobs: Store<BatchJob>,
    job_writer: Writer<BatchJob>,
    budgets: Store<BatchBudget>,
    budget_writer: Writer<BatchBudget>,
    writes: usize,
}

impl Server {
    fn answer(&mut self, method: &Method, uri: &str, body: &[u8]) -> (u16, Value) {
        self.writes += 1;
        let path = uri.split('?').next().unwrap_or_default();
        let (key, status_only) = match path.strip_suffix("/status") {
            Some(key) => (key, true),
            None => (path, false),
        };
        let parts: Vec<&str> = key.split('/').collect();
        let not_found = (
            404,
            json!({"kind": "Status", "code": 404, "reason": "NotFound"}),
        );
        if *method != Method::PATCH {
            return (
                405,
                json!({"kind": "Status", "code": 405, "reason": "MethodNotAllowed"}),
            );
        }
        match parts.as_slice() {
            [
                "",
                "apis",
                "kbatch.k8s.io",
                "v1beta1",
                "namespaces",
                ns,
                "batchjobs",
                name,
            ] => {
                let Some(job) = self.jobs.get(&ObjectRef::new(name).within(ns)) else {
                    return not_found;
                };
                let written = apply(&*job, status_only, body);
                let reply = serde_json::to_value(&written).unwrap();
                self.job_writer.apply_watcher_event(&Event::Apply(written));
                (200, reply)
            }
            ["", "apis", "kbatch.k8s.io", "v1beta1", "batchbudgets", name] => {
                let Some(budget) = self.budgets.get(&ObjectRef::new(name)) else {
                    return not_found;
                };
                let written = apply(&*budget, status_only, body);
                let reply = serde_json::to_value(&written).unwrap();
                self.budget_writer
                    .apply_watcher_event(&Event::Apply(written));
                (200, reply)
            }
            _ => not_found,
        }
    }
}

fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("unknown".into(), |k| {
        format!("{:.1} MiB", k as f64 / 1024.0)
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    println!("start: RSS {}", mib(proc_status_kib("VmRSS:")));
    let (queues, priorities, budgets, models) = policy();
    // Jobs go into the store one by one: no second copy of the population stays around.
    let (job_store, mut job_writer) = reflector::store::<BatchJob>();
    job_writer.apply_watcher_event(&Event::Init);
    for i in 0..QUEUED {
        job_writer.apply_watcher_event(&Event::InitApply(job(i)));
    }
    job_writer.apply_watcher_event(&Event::InitDone);
    let (queue_store, _w1) = store_of(&queues);
    let (priority_store, _w2) = store_of(&priorities);
    let (budget_store, budget_writer) = store_of(&budgets);
    let (model_store, _w3) = store_of(&models);
    let (constraint_store, _w4) = store_of::<BatchJobConstraint>(&[]);
    // Queued jobs own no Job yet.
    let (owned_store, _w5) = store_of::<kbatch_controller::owned_job::OwnedJob>(&[]);
    let stores = Stores {
        jobs: job_store.clone(),
        queues: queue_store,
        priorities: priority_store,
        budgets: budget_store.clone(),
        cost_models: model_store,
        constraints: constraint_store,
        owned: owned_store,
    };
    println!(
        "stores hold {QUEUED} jobs: RSS {}",
        mib(proc_status_kib("VmRSS:"))
    );

    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = Arc::new(Mutex::new(Server {
        jobs: job_store,
        job_writer,
        budgets: budget_store,
        budget_writer,
        writes: 0,
    }));
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let method = request.method().clone();
                let uri = request.uri().to_string();
                let bytes = request
                    .into_body()
                    .collect_bytes()
                    .await
                    .unwrap_or_default();
                let (code, reply) = server.lock().unwrap().answer(&method, &uri, &bytes);
                let response = Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap();
                send.send_response(response);
            }
        })
    };
    let mut ctx = Context::new(Client::new(service, "default"), stores);
    ctx.now = now;

    let t = Instant::now();
    let view = snapshot(&ctx);
    let snapshot_time = t.elapsed();
    let t = Instant::now();
    let actions = schedule(&view, now());
    let schedule_time = t.elapsed();
    let starts = actions
        .iter()
        .filter(|a| matches!(a, Action::Start { .. }))
        .count();
    println!(
        "snapshot from the stores: {snapshot_time:.1?}; schedule: {schedule_time:.1?} \
         ({} actions, {starts} starts)",
        actions.len()
    );
    drop(actions);
    drop(view);

    let writes = |server: &Arc<Mutex<Server>>| server.lock().unwrap().writes;
    let t = Instant::now();
    let failed = pass(&ctx, now()).await;
    let first = t.elapsed();
    let first_writes = writes(&server);
    println!(
        "pass 1 (starts what the budgets allow, writes the waiting conditions): {first:.1?}, \
         {first_writes} writes, {failed} failed"
    );
    let t = Instant::now();
    let failed = pass(&ctx, now()).await;
    let second = t.elapsed();
    println!(
        "pass 2 (steady state, nothing changed): {second:.1?}, {} writes, {failed} failed",
        writes(&server) - first_writes
    );
    let ledger = ctx
        .stores
        .budgets
        .state()
        .iter()
        .map(|b| b.status.as_ref().map_or(0, |s| s.ledger.len()))
        .sum::<usize>();
    println!(
        "budget ledger entries left: {ledger}; RSS {}; peak RSS (VmHWM): {}",
        mib(proc_status_kib("VmRSS:")),
        mib(proc_status_kib("VmHWM:"))
    );
    drop(ctx);
    serving.await.unwrap();
}
