#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Reconciles against a mocked API server: every request checked in order.

use super::*;
use crate::fixtures::{BatchJobExt, batch_job, budget, job_list, owned_job, progress, to_json};
use crate::mock::{Expect, World, context, finish, serve, test_now};
use crate::writes::job_status_patch;
use http::Method;
use kbatch_policy::api::{GroupStatus, JobPhase};
use kbatch_policy::phase::reason;
use kbatch_policy::scheduling::{Condition, merge_conditions};

const LIST: &str = "/apis/batch/v1/namespaces/ns/jobs?&labelSelector=kbatch.k8s.io%2Fbatchjob%3Dpi";
const STATUS: &str = "/apis/kbatch.k8s.io/v1beta1/namespaces/ns/batchjobs/pi/status?";

fn world(job: &BatchJob) -> World {
    World {
        jobs: vec![job.clone()],
        budgets: vec![budget()],
        ..World::default()
    }
}

/// The status `job` should end with: `phase` with condition `reason: message`, and
/// `groups` as its groupStatus.
fn expected_status(
    job: &BatchJob,
    phase: JobPhase,
    why: &'static str,
    message: &str,
    groups: Vec<GroupStatus>,
) -> kbatch_policy::api::BatchJobStatus {
    let mut status = job.status.clone().unwrap_or_default();
    status.group_status = groups;
    status.conditions = merge_conditions(
        &status.conditions,
        &[Condition::new(why, why, message.to_owned())],
        test_now(),
    );
    status.phase = Some(phase);
    status
}

#[tokio::test]
async fn a_ready_job_gets_exactly_its_jobs() {
    let job = batch_job(3).in_phase(JobPhase::Ready);
    let expected = crate::job::jobs_for(&job).unwrap();
    assert_eq!(expected.len(), 1);
    let (ctx, handle, _writers) = context(world(&job));
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::GET, LIST, job_list(vec![])),
            Expect::new(
                Method::POST,
                "/apis/batch/v1/namespaces/ns/jobs?",
                to_json(&expected[0]),
            )
            .body(to_json(&expected[0])),
        ],
    );
    let action = reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(RESYNC));
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn a_job_whose_tasks_all_succeeded_succeeds() {
    let job = batch_job(2).in_phase(JobPhase::Running);
    let done = owned_job(2, progress(0, 2));
    let status = expected_status(
        &job,
        JobPhase::Succeeded,
        reason::COMPLETED,
        "2 tasks succeeded",
        vec![GroupStatus {
            name: "main".into(),
            succeeded_indexes: "0-1".into(),
            succeeded: 2,
            ..GroupStatus::default()
        }],
    );
    let mut patched = job.clone();
    patched.status = Some(status.clone());
    let (ctx, handle, _writers) = context(world(&job));
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::GET, LIST, job_list(vec![done])),
            Expect::new(Method::PATCH, STATUS, to_json(&patched))
                .body(job_status_patch(Some("7"), &status).unwrap()),
        ],
    );
    reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}

#[tokio::test]
async fn terminate_deletes_the_jobs_and_fails_the_job() {
    let job = batch_job(2).in_phase(JobPhase::Running).terminated();
    let running = owned_job(2, progress(1, 1));
    let status = expected_status(
        &job,
        JobPhase::Failed,
        reason::TERMINATED,
        "terminated by userCommand: Terminate",
        vec![GroupStatus {
            name: "main".into(),
            succeeded_indexes: "0".into(),
            active: 1,
            succeeded: 1,
            ..GroupStatus::default()
        }],
    );
    let mut patched = job.clone();
    patched.status = Some(status.clone());
    let (ctx, handle, _writers) = context(world(&job));
    let verifier = serve(
        handle,
        vec![
            Expect::new(Method::GET, LIST, job_list(vec![running.clone()])),
            Expect::new(
                Method::DELETE,
                "/apis/batch/v1/namespaces/ns/jobs/pi-main?",
                to_json(&running),
            )
            .body(serde_json::json!({"propagationPolicy": "Background"})),
            Expect::new(Method::PATCH, STATUS, to_json(&patched))
                .body(job_status_patch(Some("7"), &status).unwrap()),
        ],
    );
    reconcile(Arc::new(job), ctx.clone()).await.unwrap();
    drop(ctx);
    finish(verifier).await;
}
