//! The finalizer plan, and the finalizer reconcile against a mocked API server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::fixtures::{priority, queue, to_json};
use crate::mock::{Expect, World, context, finish, serve};
use http::Method;

#[test]
fn adds_the_finalizer_when_absent() {
    let mut p = priority(false);
    p.metadata.finalizers = None;
    assert_eq!(
        plan(&p.metadata, String::new),
        FinalizerPlan::Patch(json!([
            {"op": "test", "path": "/metadata/resourceVersion", "value": "3"},
            {"op": "add", "path": "/metadata/finalizers", "value": [IN_USE_FINALIZER]}
        ]))
    );
    p.metadata.finalizers = Some(vec!["other".into()]);
    let FinalizerPlan::Patch(patch) = plan(&p.metadata, String::new) else {
        panic!("expected a patch")
    };
    assert_eq!(patch[1]["path"], "/metadata/finalizers/-");
}

#[test]
fn keeps_it_while_live_or_referred_to() {
    assert_eq!(
        plan(&priority(false).metadata, String::new),
        FinalizerPlan::Keep
    );
    assert_eq!(
        plan(&priority(true).metadata, || "BatchQueue ns/q".into()),
        FinalizerPlan::Blocked("BatchQueue ns/q".into())
    );
}

#[test]
fn removes_it_once_unreferenced() {
    let FinalizerPlan::Patch(patch) = plan(&priority(true).metadata, String::new) else {
        panic!("expected a patch")
    };
    assert_eq!(
        patch[1],
        json!({"op": "remove", "path": "/metadata/finalizers/0"})
    );
}

#[tokio::test]
async fn an_unreferenced_priority_being_deleted_loses_its_finalizer() {
    let deleting = priority(true);
    let mut released = deleting.clone();
    released.metadata.finalizers = None;
    let (ctx, handle, _writers) = context(World {
        priorities: vec![deleting.clone()],
        ..World::default()
    });
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::PATCH,
                "/apis/kbatch.k8s.io/v1beta1/batchpriorities/high?",
                to_json(&released),
            )
            .body(json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "3"},
                {"op": "remove", "path": "/metadata/finalizers/0"}
            ])),
        ],
    );
    let action = reconcile(Arc::new(deleting), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::await_change());
    drop(ctx);
    finish(verifier).await;
}

/// The API server refuses a conditional patch whose `test` fails (the priority changed since
/// it was read) with 422: a stale view, retried in a second, not a permanent error.
#[tokio::test]
async fn a_finalizer_patch_refused_for_a_stale_view_is_retried_soon() {
    let deleting = priority(true);
    let (ctx, handle, _writers) = context(World {
        priorities: vec![deleting.clone()],
        ..World::default()
    });
    let refused = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
        "message": "the server rejected our request due to an error in our request",
        "reason": "Invalid", "code": 422});
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::PATCH,
                "/apis/kbatch.k8s.io/v1beta1/batchpriorities/high?",
                refused,
            )
            .status(422),
        ],
    );
    let error = reconcile(Arc::new(deleting.clone()), ctx.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, Error::StalePatch { what } if what == "BatchPriority high"),
        "{error:?}"
    );
    assert_eq!(
        error_policy(Arc::new(deleting), &error, ctx.clone()),
        Action::requeue(crate::context::CONFLICT_RETRY)
    );
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_priority_a_queue_names_keeps_its_finalizer() {
    let deleting = priority(true);
    let (ctx, handle, _writers) = context(World {
        priorities: vec![deleting.clone()],
        queues: vec![queue()],
        ..World::default()
    });
    let verifier = serve(handle, vec![]);
    let action = reconcile(Arc::new(deleting), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(BLOCKED_RETRY));
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_live_priority_gets_the_finalizer() {
    let mut live = priority(false);
    live.metadata.finalizers = None;
    let (ctx, handle, _writers) = context(World::default());
    let verifier = serve(
        handle,
        vec![
            Expect::new(
                Method::PATCH,
                "/apis/kbatch.k8s.io/v1beta1/batchpriorities/high?",
                to_json(&priority(false)),
            )
            .body(json!([
                {"op": "test", "path": "/metadata/resourceVersion", "value": "3"},
                {"op": "add", "path": "/metadata/finalizers",
                    "value": ["kbatch.k8s.io/in-use-protection"]}
            ])),
        ],
    );
    reconcile(Arc::new(live), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}
