//! A stateful in-memory API server for crash-injection tests: it keeps every version of the
//! objects the controller writes, enforces `resourceVersion` preconditions (merge patches
//! carrying `metadata.resourceVersion`, JSON patches with a `test` op), removes an object
//! being deleted once its finalizers are gone, and injects a fault at a chosen write.
//!
//! Unlike [`mock`](crate::mock), which checks an exact script of requests, this one lets the
//! real controller code run until it is done, so a test can check the end state.

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::task::JoinHandle;

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

/// A fault injected at one write (PATCH, POST or DELETE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The request fails (500) and nothing is persisted.
    FailBefore,
    /// The write is persisted but the answer is an error (a lost response).
    FailAfter,
}

/// The server's state.
#[derive(Debug, Default)]
pub struct FakeApi {
    /// Every version of each kbatch object by path (no query), current last.
    pub objects: BTreeMap<String, Vec<Value>>,
    /// Objects removed (deleted and their finalizers gone): their last version.
    pub gone: BTreeMap<String, Value>,
    /// The `batch/v1` Jobs, by name (one namespace is enough here).
    pub jobs: BTreeMap<String, Value>,
    next_rv: u64,
    /// Writes received so far (faulted ones included).
    pub writes: usize,
    /// Write index → fault.
    pub faults: BTreeMap<usize, Fault>,
    /// Whether a fault was injected (so a test can act right after it).
    pub faulted: bool,
    /// `METHOD path → code` of every write, for failure messages.
    pub log: Vec<String>,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}),
    )
}

impl FakeApi {
    /// A server holding `objects` (stored at `path`), each given a resourceVersion.
    pub fn new(objects: Vec<(String, Value)>) -> FakeApi {
        let mut api = FakeApi {
            next_rv: 100,
            ..FakeApi::default()
        };
        for (path, mut object) in objects {
            object["metadata"]["resourceVersion"] = json!(api.rv());
            api.objects.insert(path, vec![object]);
        }
        api
    }

    fn rv(&mut self) -> String {
        self.next_rv += 1;
        self.next_rv.to_string()
    }

    /// The current version of the object at `path`.
    pub fn current(&self, path: &str) -> Option<&Value> {
        self.objects.get(path).and_then(|v| v.last())
    }

    /// The version before the current one (a cache one event behind), else the current.
    pub fn previous(&self, path: &str) -> Option<&Value> {
        let versions = self.objects.get(path)?;
        versions
            .len()
            .checked_sub(2)
            .and_then(|i| versions.get(i))
            .or(versions.last())
    }

    /// The current or, once removed, the last version of the object at `path`.
    pub fn last(&self, path: &str) -> Option<&Value> {
        self.current(path).or_else(|| self.gone.get(path))
    }

    /// A user deletes the object at `path`: `deletionTimestamp` is set (it stays while it
    /// has finalizers).
    pub fn delete(&mut self, path: &str, at: &str) {
        let Some(mut object) = self.current(path).cloned() else {
            return;
        };
        object["metadata"]["deletionTimestamp"] = json!(at);
        self.store(path, object);
    }

    fn store(&mut self, path: &str, mut object: Value) -> Value {
        object["metadata"]["resourceVersion"] = json!(self.rv());
        let deleting = !object["metadata"]["deletionTimestamp"].is_null();
        let finalizers = object["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if deleting && !finalizers {
            self.objects.remove(path);
            self.gone.insert(path.to_owned(), object.clone());
        } else {
            self.objects
                .entry(path.to_owned())
                .or_default()
                .push(object.clone());
        }
        object
    }

    /// Answers one request: `(code, body)`.
    fn handle(&mut self, method: &Method, uri: &str, body: &[u8]) -> (u16, Value) {
        let path = uri.split('?').next().unwrap_or_default().to_owned();
        if *method == Method::GET {
            if path.ends_with("/pods") {
                // No pod is kept here: a refund bills by the job's run time.
                return (
                    200,
                    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": []}),
                );
            }
            if path.ends_with("/jobs") {
                let items: Vec<Value> = self.jobs.values().cloned().collect();
                return (
                    200,
                    json!({"apiVersion": "batch/v1", "kind": "JobList", "metadata": {}, "items": items}),
                );
            }
            return match self.current(&path) {
                Some(o) => (200, o.clone()),
                None => status(404, "NotFound", "not found"),
            };
        }
        let index = self.writes;
        self.writes += 1;
        let fault = self.faults.get(&index).copied();
        if fault.is_some() {
            self.faulted = true;
        }
        if fault == Some(Fault::FailBefore) {
            self.log.push(format!("{method} {path} → injected 500"));
            return status(500, "InternalError", "injected before persisting");
        }
        let (code, reply) = self.write(method, &path, body);
        self.log.push(format!("{method} {path} → {code}"));
        if fault == Some(Fault::FailAfter) {
            return status(500, "InternalError", "injected after persisting");
        }
        (code, reply)
    }

    fn write(&mut self, method: &Method, path: &str, body: &[u8]) -> (u16, Value) {
        let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if path.contains("/apis/batch/v1/") {
            return match *method {
                Method::POST => {
                    let name = body["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    if self.jobs.contains_key(&name) {
                        return status(409, "AlreadyExists", "exists");
                    }
                    // Its pod runs at once (the Job controller and a kubelet, condensed).
                    let mut body = body;
                    body["status"] = json!({"active": 1, "ready": 1});
                    self.jobs.insert(name, body.clone());
                    (201, body)
                }
                Method::DELETE => {
                    let name = path.rsplit('/').next().unwrap_or_default();
                    match self.jobs.remove(name) {
                        Some(_) => (
                            200,
                            json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                        ),
                        None => status(404, "NotFound", "not found"),
                    }
                }
                _ => status(405, "MethodNotAllowed", "not served"),
            };
        }
        if *method != Method::PATCH {
            return status(405, "MethodNotAllowed", "not served");
        }
        let (key, status_only) = match path.strip_suffix("/status") {
            Some(key) => (key.to_owned(), true),
            None => (path.to_owned(), false),
        };
        let Some(mut object) = self.current(&key).cloned() else {
            return status(404, "NotFound", "not found");
        };
        if status_only {
            // A merge patch of the status subresource, conditional when it names a version.
            let expected = &body["metadata"]["resourceVersion"];
            if !expected.is_null() && *expected != object["metadata"]["resourceVersion"] {
                return status(409, "Conflict", "the object has been modified");
            }
            json_patch::merge(&mut object["status"], &body["status"]);
        } else {
            let Ok(patch) = serde_json::from_value::<json_patch::Patch>(body) else {
                return status(400, "BadRequest", "not a JSON patch");
            };
            if let Some(op) = patch.0.iter().find(|op| {
                matches!(op, json_patch::PatchOperation::Add(_))
                    && !object["metadata"]["deletionTimestamp"].is_null()
            }) {
                // The API server refuses new finalizers on an object being deleted.
                return status(
                    422,
                    "Invalid",
                    &format!("{op:?} on an object being deleted"),
                );
            }
            if let Err(e) = json_patch::patch(&mut object, &patch.0) {
                return status(422, "Invalid", &e.to_string());
            }
        }
        (200, self.store(&key, object))
    }
}

/// Serves `api` on `handle` until the client is dropped.
pub fn serve(mut handle: Handle, api: Arc<Mutex<FakeApi>>) -> JoinHandle<()> {
    tokio::spawn(async move {
        while let Some((request, send)) = handle.next_request().await {
            let method = request.method().clone();
            let uri = request.uri().to_string();
            let bytes = request
                .into_body()
                .collect_bytes()
                .await
                .unwrap_or_default();
            let (code, reply) = api
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .handle(&method, &uri, &bytes);
            let response = Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&reply).unwrap_or_default()))
                .unwrap_or_else(|_| Response::new(Body::empty()));
            send.send_response(response);
        }
    })
}
