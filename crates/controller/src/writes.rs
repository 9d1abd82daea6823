//! The controller's writes: status merge patches (conditional on `resourceVersion`), Job
//! creation and deletion. The bodies are built by pure functions, tested on their own.

use crate::context::{Context, Error};
use crate::job::{GROUP_LABEL, JOB_LABEL, fallback_job_name};
use k8s_openapi::api::batch::v1::Job;
use kbatch_policy::api::{
    BatchBudget, BatchBudgetStatus, BatchJob, BatchJobStatus, namespace_or_default,
};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use serde_json::{Value, json};

/// List fields of a status that must be written even when empty: a merge patch leaves out
/// an omitted field, it does not clear it.
fn with_lists(mut status: Value, lists: &[&str]) -> Value {
    if let Some(map) = status.as_object_mut() {
        for list in lists {
            map.entry(*list).or_insert_with(|| json!([]));
        }
    }
    status
}

/// The merge patch writing `status` to a BatchJob, conditional on `resource_version` (the
/// API server refuses it with 409 Conflict when the job changed since).
pub fn job_status_patch(
    resource_version: Option<&str>,
    status: &BatchJobStatus,
) -> Result<Value, Error> {
    let status = with_lists(
        serde_json::to_value(status)?,
        &["conditions", "groupStatus"],
    );
    Ok(json!({"metadata": {"resourceVersion": resource_version}, "status": status}))
}

/// The merge patch writing `status` to a BatchBudget, conditional on `resource_version`.
pub fn budget_status_patch(
    resource_version: Option<&str>,
    status: &BatchBudgetStatus,
) -> Result<Value, Error> {
    let status = with_lists(
        serde_json::to_value(status)?,
        &["windowStatusList", "ledger"],
    );
    Ok(json!({"metadata": {"resourceVersion": resource_version}, "status": status}))
}

fn namespace(job: &BatchJob) -> Result<String, Error> {
    job.namespace()
        .ok_or_else(|| Error::unidentified(job, "namespace"))
}

/// Writes `status` to `job` (conditionally) and returns the job as stored.
pub async fn write_job_status(
    ctx: &Context,
    job: &BatchJob,
    status: &BatchJobStatus,
) -> Result<BatchJob, Error> {
    let api: Api<BatchJob> = Api::namespaced(ctx.client.clone(), &namespace(job)?);
    let patch = job_status_patch(job.metadata.resource_version.as_deref(), status)?;
    let written = api
        .patch_status(
            &job.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    crate::events::publish(ctx.events.as_ref(), job.status.as_ref(), &written);
    ctx.remember_job(&written);
    Ok(written)
}

/// Writes `status` to `budget` (conditionally) and returns the budget as stored.
pub async fn write_budget_status(
    client: &kube::Client,
    budget: &BatchBudget,
    status: &BatchBudgetStatus,
) -> Result<BatchBudget, Error> {
    let api: Api<BatchBudget> = Api::all(client.clone());
    let patch = budget_status_patch(budget.metadata.resource_version.as_deref(), status)?;
    Ok(api
        .patch_status(
            &budget.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
}

/// The uid of `job`'s controlling owner.
fn owner_uid(job: &Job) -> Option<&str> {
    job.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| o.uid.as_str())
}

/// Creates `job`: `true` when it was created or a Job of that name is already the same
/// owner's (a retry after a lost answer), `false` when another owner holds the name.
async fn create_unless_taken(api: &Api<Job>, job: &Job) -> Result<bool, Error> {
    match api.create(&PostParams::default(), job).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let existing = api.get_opt(&job.name_any()).await?;
            Ok(existing.is_none_or(|e| owner_uid(&e) == owner_uid(job)))
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates `job`. When another BatchJob holds its name (their names joined alike, `a` + `b-c`
/// and `a-b` + `c`), it takes [`fallback_job_name`] instead, a name no other owner can reach.
pub async fn create_job(client: &kube::Client, job: &Job) -> Result<(), Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace_or_default(&job.metadata));
    if create_unless_taken(&api, job).await? {
        return Ok(());
    }
    let name = job.name_any();
    let labels = job.labels();
    let (Some(batch_job), Some(group), Some(owner)) = (
        labels.get(JOB_LABEL),
        labels.get(GROUP_LABEL),
        owner_uid(job),
    ) else {
        return Err(Error::JobNameTaken(format!(
            "Job {name} belongs to another BatchJob"
        )));
    };
    let fallback = fallback_job_name(batch_job, group, owner);
    tracing::info!(job = %name, %fallback, "the Job name is another BatchJob's; using the fallback name");
    let mut renamed = job.clone();
    renamed.metadata.name = Some(fallback.clone());
    if create_unless_taken(&api, &renamed).await? {
        Ok(())
    } else {
        Err(Error::JobNameTaken(format!(
            "Jobs {name} and {fallback} both belong to other BatchJobs"
        )))
    }
}

/// Deletes Job `namespace/name` with background propagation (its pods go too); a Job
/// already gone (404) is success.
pub async fn delete_job(client: &kube::Client, namespace: &str, name: &str) -> Result<(), Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    use crate::mock::{Expect, World, context, finish, serve};
    use http::Method;

    fn k8s_job(name: &str, owner: &str) -> Job {
        serde_json::from_value(json!({
            "apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": "ns",
                "labels": {JOB_LABEL: "a", GROUP_LABEL: "b-c"},
                "ownerReferences": [{"apiVersion": "kbatch.k8s.io/v1beta1", "kind": "BatchJob",
                    "name": "x", "uid": owner, "controller": true}]},
            "spec": {"template": {}}
        }))
        .unwrap()
    }

    fn conflict() -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "AlreadyExists", "code": 409, "message": "exists"})
    }

    const JOBS: &str = "/apis/batch/v1/namespaces/ns/jobs";

    /// `a` + `b-c` names its Job like `a-b` + `c`: the second to come takes the fallback.
    #[tokio::test]
    async fn a_name_another_batchjob_holds_is_left_to_it() {
        let ours = k8s_job("a-b-c", "uid-a");
        let fallback = fallback_job_name("a", "b-c", "uid-a");
        let mut renamed = ours.clone();
        renamed.metadata.name = Some(fallback.clone());
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(
            handle,
            vec![
                Expect::new(Method::POST, &format!("{JOBS}?"), conflict()).status(409),
                Expect::new(
                    Method::GET,
                    &format!("{JOBS}/a-b-c"),
                    serde_json::to_value(k8s_job("a-b-c", "uid-a-b")).unwrap(),
                ),
                Expect::new(
                    Method::POST,
                    &format!("{JOBS}?"),
                    serde_json::to_value(&renamed).unwrap(),
                )
                .status(201)
                .body(serde_json::to_value(&renamed).unwrap()),
            ],
        );
        create_job(&ctx.client, &ours).await.unwrap();
        drop(ctx);
        finish(verifier).await;
    }

    /// Our own Job already there (a retry after a lost answer) is success, with no rename.
    #[tokio::test]
    async fn our_own_job_already_there_is_success() {
        let ours = k8s_job("a-b-c", "uid-a");
        let (ctx, handle, _writers) = context(World::default());
        let verifier = serve(
            handle,
            vec![
                Expect::new(Method::POST, &format!("{JOBS}?"), conflict()).status(409),
                Expect::new(
                    Method::GET,
                    &format!("{JOBS}/a-b-c"),
                    serde_json::to_value(&ours).unwrap(),
                ),
            ],
        );
        create_job(&ctx.client, &ours).await.unwrap();
        drop(ctx);
        finish(verifier).await;
    }

    #[test]
    fn empty_lists_are_written_out() {
        let patch = budget_status_patch(Some("9"), &BatchBudgetStatus::default()).unwrap();
        assert_eq!(
            patch,
            json!({"metadata": {"resourceVersion": "9"},
                "status": {"windowStatusList": [], "ledger": []}})
        );
        let patch = job_status_patch(Some("3"), &BatchJobStatus::default()).unwrap();
        assert_eq!(
            patch["status"],
            json!({"conditions": [], "groupStatus": []})
        );
    }
}
