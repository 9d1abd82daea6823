//! The controller's writes: status merge patches (conditional on `resourceVersion`), Job
//! creation and deletion. The bodies are built by pure functions, tested on their own.

use crate::context::Error;
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
        .ok_or_else(|| Error::Permanent(format!("BatchJob {} has no namespace", job.name_any())))
}

/// Writes `status` to `job` (conditionally) and returns the job as stored.
pub async fn write_job_status(
    client: &kube::Client,
    job: &BatchJob,
    status: &BatchJobStatus,
) -> Result<BatchJob, Error> {
    let api: Api<BatchJob> = Api::namespaced(client.clone(), &namespace(job)?);
    let patch = job_status_patch(job.metadata.resource_version.as_deref(), status)?;
    Ok(api
        .patch_status(
            &job.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?)
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

/// Creates `job` unless a Job of that name exists (409 AlreadyExists is success).
pub async fn create_job(client: &kube::Client, job: &Job) -> Result<(), Error> {
    let api: Api<Job> = Api::namespaced(client.clone(), namespace_or_default(&job.metadata));
    match api.create(&PostParams::default(), job).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
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
