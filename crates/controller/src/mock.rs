//! A mocked API server (kube-rs's `tower_test::mock::pair` pattern) that checks every
//! request's method, URI and body in order, answers it, and fails on any extra request.

use crate::context::{Context, Stores};
use http::{Method, Request, Response};
use kube::client::Body;
use kube::runtime::reflector::{self, Store, store::Writer};
use kube::runtime::watcher::Event;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// The fixed clock of the tests.
pub fn test_now() -> jiff::Timestamp {
    "2026-11-22T10:00:00Z".parse().unwrap_or_default()
}

/// One expected request and its answer.
#[derive(Debug, Clone)]
pub struct Expect {
    method: Method,
    uri: String,
    body: Option<Value>,
    status: u16,
    reply: Value,
}

impl Expect {
    /// A `method` request to `uri` (path and query), answered 200 with `reply`.
    pub fn new(method: Method, uri: &str, reply: Value) -> Expect {
        Expect {
            method,
            uri: uri.to_owned(),
            body: None,
            status: 200,
            reply,
        }
    }

    /// Answered with HTTP status `code` instead of 200.
    pub fn status(mut self, code: u16) -> Expect {
        self.status = code;
        self
    }

    /// Whose body must equal `body` (as JSON).
    pub fn body(mut self, body: Value) -> Expect {
        self.body = Some(body);
        self
    }
}

/// A store holding `objects`, initial list done.
pub fn store_of<K>(objects: Vec<K>) -> (Store<K>, Writer<K>)
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (store, mut writer) = reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for object in objects {
        writer.apply_watcher_event(&Event::InitApply(object));
    }
    writer.apply_watcher_event(&Event::InitDone);
    (store, writer)
}

/// Keeps the stores' writers alive for the test.
#[allow(dead_code)] // held only so that the stores stay ready
pub struct Writers(Vec<Box<dyn std::any::Any + Send>>);

/// Store contents for a test.
#[derive(Debug, Default)]
pub struct World {
    /// BatchJobs.
    pub jobs: Vec<kbatch_policy::api::BatchJob>,
    /// BatchQueues.
    pub queues: Vec<kbatch_policy::api::BatchQueue>,
    /// BatchPriorities.
    pub priorities: Vec<kbatch_policy::api::BatchPriority>,
    /// BatchBudgets.
    pub budgets: Vec<kbatch_policy::api::BatchBudget>,
    /// BatchCostModels.
    pub cost_models: Vec<kbatch_policy::api::BatchCostModel>,
    /// Jobs labelled for BatchJobs.
    pub owned: Vec<k8s_openapi::api::batch::v1::Job>,
}

/// A context whose client talks to the returned mock handle, with stores holding `world`.
pub fn context(world: World) -> (Arc<Context>, Handle, Writers) {
    context_at(world, test_now)
}

/// [`context`] with the clock `now`.
pub fn context_at(world: World, now: fn() -> jiff::Timestamp) -> (Arc<Context>, Handle, Writers) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let (jobs, w1) = store_of(world.jobs);
    let (queues, w2) = store_of(world.queues);
    let (priorities, w3) = store_of(world.priorities);
    let (budgets, w4) = store_of(world.budgets);
    let (cost_models, w5) = store_of(world.cost_models);
    let (constraints, w6) = store_of(Vec::new());
    let (owned, w7) = store_of(
        world
            .owned
            .iter()
            .map(crate::owned_job::OwnedJob::from)
            .collect(),
    );
    let stores = Stores {
        jobs,
        queues,
        priorities,
        budgets,
        cost_models,
        constraints,
        owned,
    };
    let mut ctx = Context::new(client, stores);
    ctx.now = now;
    let writers = Writers(vec![
        Box::new(w1),
        Box::new(w2),
        Box::new(w3),
        Box::new(w4),
        Box::new(w5),
        Box::new(w6),
        Box::new(w7),
    ]);
    (Arc::new(ctx), handle, writers)
}

/// [`context`] whose budget store has not had its initial list yet (a controller just
/// started, or after a failover): what the test applies through the returned writer is all
/// it will hold.
pub fn context_with_budgets_unsynced(
    world: World,
) -> (
    Arc<Context>,
    Handle,
    Writers,
    Writer<kbatch_policy::api::BatchBudget>,
) {
    let (ctx, handle, writers) = context(world);
    let (budgets, writer) = reflector::store();
    let mut stores = ctx.stores.clone();
    stores.budgets = budgets;
    let mut unsynced = Context::new(ctx.client.clone(), stores);
    unsynced.now = ctx.now;
    (Arc::new(unsynced), handle, writers, writer)
}

/// The answer `e` describes.
fn response_of(e: &Expect) -> Response<Body> {
    let reply = serde_json::to_vec(&e.reply).unwrap_or_default();
    Response::builder()
        .status(e.status)
        .body(Body::from(reply))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

/// Serves `expected` in order, then asserts that no other request comes (the client must
/// be dropped for the task to end).
pub fn serve(mut handle: Handle, expected: Vec<Expect>) -> JoinHandle<()> {
    tokio::spawn(async move {
        for (i, e) in expected.into_iter().enumerate() {
            let Some((request, send)) = handle.next_request().await else {
                panic!("request {i} ({} {}) never came", e.method, e.uri);
            };
            assert_eq!(request.method(), e.method, "request {i}: method");
            assert_eq!(request.uri().to_string(), e.uri, "request {i}: URI");
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default();
            if let Some(body) = &e.body {
                let got: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                assert_eq!(&got, body, "request {i} ({} {}): body", e.method, e.uri);
            }
            send.send_response(response_of(&e));
        }
        if let Some((request, _)) = handle.next_request().await {
            panic!("unexpected request: {} {}", request.method(), request.uri());
        }
    })
}

/// Serves `expected` in whatever order the requests come (each answered by the first
/// expectation of its method, URI and body not used yet), then asserts that no other request
/// comes: for requests sent concurrently.
pub fn serve_any_order(mut handle: Handle, mut expected: Vec<Expect>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while !expected.is_empty() {
            let Some((request, send)) = handle.next_request().await else {
                panic!("{} requests never came", expected.len());
            };
            let method = request.method().clone();
            let uri = request.uri().to_string();
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default();
            let got: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            let Some(i) = expected.iter().position(|e| {
                e.method == method && e.uri == uri && e.body.as_ref().is_none_or(|b| *b == got)
            }) else {
                panic!("unexpected request: {method} {uri} {got}");
            };
            let e = expected.remove(i);
            send.send_response(response_of(&e));
        }
        if let Some((request, _)) = handle.next_request().await {
            panic!("unexpected request: {} {}", request.method(), request.uri());
        }
    })
}

/// Waits for the verifier (after the test dropped every client).
pub async fn finish(verifier: JoinHandle<()>) {
    match tokio::time::timeout(Duration::from_secs(5), verifier).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => std::panic::resume_unwind(e.into_panic()),
        Err(_) => panic!("the verifier did not finish: is a client still alive?"),
    }
}
