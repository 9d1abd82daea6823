//! The JSON Patches of mutation: a submitted BatchJob into its defaulted form, and one member
//! of an object (a BatchBudget's start time).
//!
//! Diffing the whole object (both sides turned into `serde_json::Value` trees) cost more than
//! the rest of a mutate request together. Defaulting touches few places, so the typed objects
//! are compared part by part and only the parts that changed are turned into JSON: the
//! annotations, the spec without its task groups, each task group without its pod spec, each
//! pod spec without its containers (its `securityContext` and `restartPolicy` apart), and
//! each container (its `resources` and `securityContext` apart). A member that appears is
//! added whole, a quantity added to `limits`/`requests` is added alone, anything else that
//! changed is diffed. Applied, the patch gives exactly the changed object.

use crate::patch_text::{JsonPatch, PatchWriter, Pointer};
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements};
use kbatch_policy::api::{BatchJob, BatchJobSpec, TaskGroup};
use serde::Serialize;
use std::collections::BTreeMap;

/// The parts of a BatchJob that mutation may change.
#[derive(Debug)]
pub(crate) struct Mutable {
    pub annotations: Option<BTreeMap<String, String>>,
    pub spec: BatchJobSpec,
}

impl Mutable {
    /// A copy of the job's mutable parts (not its managed fields or status).
    pub fn copied(job: &BatchJob) -> Mutable {
        Mutable {
            annotations: job.metadata.annotations.clone(),
            spec: job.spec.clone(),
        }
    }

    /// The job's mutable parts, the rest dropped.
    pub fn taken(job: BatchJob) -> Mutable {
        Mutable {
            annotations: job.metadata.annotations,
            spec: job.spec,
        }
    }
}

/// The patch turning member `name` of the object at path `at` (e.g. `["spec"]`) from
/// `before` into `after` (`None`: absent).
pub(crate) fn member_patch<T: Serialize + PartialEq>(
    at: &[&str],
    name: &str,
    before: &Option<T>,
    after: &Option<T>,
) -> Result<JsonPatch, serde_json::Error> {
    let mut patch = Builder::default();
    patch.member(
        &Pointer::from_tokens(at.iter().copied()),
        name,
        before,
        after,
    )?;
    Ok(patch.ops.finish())
}

/// The patch from `before` to `after` (the same job before and after defaulting).
pub(crate) fn job_patch(before: Mutable, after: Mutable) -> Result<JsonPatch, serde_json::Error> {
    let mut patch = Builder::default();
    let metadata = Pointer::from_tokens(["metadata"]);
    patch.member(
        &metadata,
        "annotations",
        &before.annotations,
        &after.annotations,
    )?;
    let (mut before, mut after) = (before.spec, after.spec);
    let spec = Pointer::from_tokens(["spec"]);
    let mut groups_before = std::mem::take(&mut before.task_groups);
    let mut groups_after = std::mem::take(&mut after.task_groups);
    patch.diff(&spec, &before, &after)?;
    if groups_before.len() == groups_after.len() {
        // The parts are compared in place: a moved TaskGroup, PodSpec or Container is a
        // copy of 1.5 to 2.3 KB.
        let pairs = groups_before.iter_mut().zip(groups_after.iter_mut());
        for (i, (b, a)) in pairs.enumerate() {
            task_group(&mut patch, &spec.child("taskGroups").item(i), b, a)?;
        }
    } else {
        patch.member(
            &spec,
            "taskGroups",
            &Some(groups_before),
            &Some(groups_after),
        )?;
    }
    Ok(patch.ops.finish())
}

fn task_group(
    patch: &mut Builder,
    at: &Pointer,
    before: &mut TaskGroup,
    after: &mut TaskGroup,
) -> Result<(), serde_json::Error> {
    if before == after {
        return Ok(());
    }
    match (&mut before.template.spec, &mut after.template.spec) {
        (Some(b), Some(a)) => pod_spec(patch, &at.child("template").child("spec"), b, a)?,
        (b, a) => patch.member(&at.child("template"), "spec", b, a)?,
    }
    before.template.spec = None;
    after.template.spec = None;
    patch.diff(at, before, after)
}

fn pod_spec(
    patch: &mut Builder,
    at: &Pointer,
    before: &mut PodSpec,
    after: &mut PodSpec,
) -> Result<(), serde_json::Error> {
    if before == after {
        return Ok(());
    }
    let lists = [
        (
            "containers",
            Some(std::mem::take(&mut before.containers)),
            Some(std::mem::take(&mut after.containers)),
        ),
        (
            "initContainers",
            before.init_containers.take(),
            after.init_containers.take(),
        ),
    ];
    for (name, b, a) in lists {
        match (b, a) {
            (Some(mut b), Some(mut a)) if b.len() == a.len() => {
                for (j, (b, a)) in b.iter_mut().zip(a.iter_mut()).enumerate() {
                    container(patch, &at.child(name).item(j), b, a)?;
                }
            }
            (b, a) => patch.member(at, name, &b, &a)?,
        }
    }
    patch.member(
        at,
        "securityContext",
        &before.security_context.take(),
        &after.security_context.take(),
    )?;
    patch.member(
        at,
        "restartPolicy",
        &before.restart_policy.take(),
        &after.restart_policy.take(),
    )?;
    // Ephemeral containers are rare in a BatchJob: diffed whole with the rest of the spec.
    patch.diff(at, before, after)
}

fn container(
    patch: &mut Builder,
    at: &Pointer,
    before: &mut Container,
    after: &mut Container,
) -> Result<(), serde_json::Error> {
    if before == after {
        return Ok(());
    }
    resources(patch, at, before.resources.take(), after.resources.take())?;
    patch.member(
        at,
        "securityContext",
        &before.security_context.take(),
        &after.security_context.take(),
    )?;
    patch.diff(at, before, after)
}

/// A container's `resources`: defaulting adds a quantity to `limits` or `requests`, which
/// becomes one `add` of that quantity.
fn resources(
    patch: &mut Builder,
    at: &Pointer,
    before: Option<ResourceRequirements>,
    after: Option<ResourceRequirements>,
) -> Result<(), serde_json::Error> {
    match (before, after) {
        (Some(before), Some(after)) if before.claims == after.claims => {
            let at = at.child("resources");
            for (name, before, after) in [
                ("limits", before.limits, after.limits),
                ("requests", before.requests, after.requests),
            ] {
                match (before, after) {
                    (Some(before), Some(after)) => {
                        patch.entries(&at.child(name), &before, &after)?
                    }
                    (before, after) => patch.member(&at, name, &before, &after)?,
                }
            }
            Ok(())
        }
        (before, after) => patch.member(at, "resources", &before, &after),
    }
}

#[derive(Default)]
struct Builder {
    ops: PatchWriter,
}

impl Builder {
    /// The operations turning `before` into `after`, both objects at `at`.
    fn diff<T: Serialize + PartialEq>(
        &mut self,
        at: &Pointer,
        before: &T,
        after: &T,
    ) -> Result<(), serde_json::Error> {
        if before == after {
            return Ok(());
        }
        let before = serde_json::to_value(before)?;
        let after = serde_json::to_value(after)?;
        self.ops
            .extend_under(at, &json_patch::diff(&before, &after))
    }

    /// The operations turning member `name` of the object at `at` from `before` into `after`
    /// (`None` is an absent member): an `add` or `remove` of the whole member when it appears
    /// or goes, else a diff into it, so that what the user wrote (a quantity written as a
    /// number, say) stays as written unless defaulting changed it.
    fn member<T: Serialize + PartialEq>(
        &mut self,
        at: &Pointer,
        name: &str,
        before: &Option<T>,
        after: &Option<T>,
    ) -> Result<(), serde_json::Error> {
        if before == after {
            return Ok(());
        }
        let path = at.child(name);
        match (before, after) {
            (_, None) => self.ops.remove(path.as_str()),
            (None, Some(after)) => self.ops.add(path.as_str(), after),
            (Some(before), Some(after)) => self.diff(&path, before, after),
        }
    }

    /// The operations turning the map at `at` from `before` into `after`, entry by entry.
    fn entries<V: Serialize + PartialEq>(
        &mut self,
        at: &Pointer,
        before: &BTreeMap<String, V>,
        after: &BTreeMap<String, V>,
    ) -> Result<(), serde_json::Error> {
        if before == after {
            return Ok(());
        }
        for (key, value) in after {
            match before.get(key) {
                None => self.ops.add(at.child(key).as_str(), value)?,
                Some(old) if old != value => self.ops.replace(at.child(key).as_str(), value)?,
                Some(_) => {}
            }
        }
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            self.ops.remove(at.child(key).as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::api::core::v1::{
        PodSecurityContext, PodTemplateSpec, ResourceRequirements, SecurityContext,
    };
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kbatch_policy::api::IndexSpec;
    use proptest::prelude::*;
    use serde_json::Value;

    fn container(name: &str) -> Container {
        Container {
            name: name.to_owned(),
            image: Some("busybox".to_owned()),
            ..Default::default()
        }
    }

    fn limited(mut c: Container) -> Container {
        c.resources = Some(ResourceRequirements {
            limits: Some([("memory".to_owned(), Quantity("1Gi".to_owned()))].into()),
            ..Default::default()
        });
        c
    }

    fn job(groups: usize, containers: usize, init: bool, limits: bool) -> BatchJob {
        let group = |i: usize| TaskGroup {
            name: format!("g{i}"),
            template: PodTemplateSpec {
                metadata: None,
                spec: Some(PodSpec {
                    containers: (0..containers)
                        .map(|j| container(&format!("c{j}")))
                        .map(|c| if limits { limited(c) } else { c })
                        .collect(),
                    init_containers: init.then(|| vec![container("init")]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        };
        let mut job = BatchJob::new(
            "j",
            BatchJobSpec {
                batch_queue_name: "default".to_owned(),
                task_groups: (0..groups).map(group).collect(),
                ..Default::default()
            },
        );
        job.metadata.namespace = Some("ns".to_owned());
        job
    }

    /// The changes defaulting can make, and some it does not make today.
    #[derive(Debug, Clone, Copy)]
    enum Change {
        Annotate,
        RetryLimit(usize),
        TaskCount(usize),
        RestartPolicy(usize),
        PodSecurity(usize),
        Requests(usize, usize),
        RunAsUser(usize, usize),
        InitRunAsUser(usize),
        Image(usize, usize),
        GpuLimit(usize, usize),
        MoreMemory(usize, usize),
        UserCommand,
        DropTemplateSpec(usize),
        AddContainer(usize),
    }

    fn apply(job: &mut BatchJob, change: Change) {
        let groups = job.spec.task_groups.len();
        let group = |i: usize| i % groups.max(1);
        if groups == 0 && !matches!(change, Change::Annotate | Change::UserCommand) {
            return;
        }
        fn pod(job: &mut BatchJob, i: usize) -> Option<&mut PodSpec> {
            let n = job.spec.task_groups.len().max(1);
            job.spec.task_groups[i % n].template.spec.as_mut()
        }
        fn container_mut(job: &mut BatchJob, i: usize, j: usize) -> Option<&mut Container> {
            let pod = pod(job, i)?;
            let n = pod.containers.len().max(1);
            pod.containers.get_mut(j % n)
        }
        match change {
            Change::Annotate => {
                job.metadata
                    .annotations
                    .get_or_insert_with(Default::default)
                    .insert("kbatch.k8s.io/submitted-by".to_owned(), "alice".to_owned());
            }
            Change::RetryLimit(i) => job.spec.task_groups[group(i)].retry_limit = Some(0),
            Change::TaskCount(i) => {
                job.spec.task_groups[group(i)].index_spec = Some(IndexSpec {
                    task_count: Some(1),
                })
            }
            Change::RestartPolicy(i) => {
                if let Some(pod) = pod(job, i) {
                    pod.restart_policy = Some("Never".to_owned());
                }
            }
            Change::PodSecurity(i) => {
                if let Some(pod) = pod(job, i) {
                    pod.security_context
                        .get_or_insert_with(PodSecurityContext::default)
                        .run_as_non_root = Some(true);
                }
            }
            Change::Requests(i, j) => {
                if let Some(c) = container_mut(job, i, j) {
                    c.resources
                        .get_or_insert_with(ResourceRequirements::default)
                        .requests
                        .get_or_insert_with(Default::default)
                        .insert("cpu".to_owned(), Quantity("1".to_owned()));
                }
            }
            Change::RunAsUser(i, j) => {
                if let Some(c) = container_mut(job, i, j) {
                    c.security_context
                        .get_or_insert_with(SecurityContext::default)
                        .run_as_user = Some(1000);
                }
            }
            Change::InitRunAsUser(i) => {
                if let Some(c) = pod(job, i)
                    .and_then(|p| p.init_containers.as_mut())
                    .and_then(|c| c.first_mut())
                {
                    c.security_context
                        .get_or_insert_with(SecurityContext::default)
                        .run_as_user = Some(1000);
                }
            }
            Change::Image(i, j) => {
                if let Some(c) = container_mut(job, i, j) {
                    c.image = Some("busybox:2".to_owned());
                }
            }
            Change::GpuLimit(i, j) | Change::MoreMemory(i, j) => {
                if let Some(c) = container_mut(job, i, j) {
                    let (key, value) = match change {
                        Change::GpuLimit(..) => ("nvidia.com/gpu", "0"),
                        _ => ("memory", "2Gi"),
                    };
                    c.resources
                        .get_or_insert_with(ResourceRequirements::default)
                        .limits
                        .get_or_insert_with(Default::default)
                        .insert(key.to_owned(), Quantity(value.to_owned()));
                }
            }
            Change::UserCommand => job.spec.user_command = Some("Terminate".to_owned()),
            Change::DropTemplateSpec(i) => job.spec.task_groups[group(i)].template.spec = None,
            Change::AddContainer(i) => {
                if let Some(pod) = pod(job, i) {
                    pod.containers.push(container("extra"));
                }
            }
        }
    }

    fn change() -> impl Strategy<Value = Change> {
        let ij = (0usize..3, 0usize..3);
        prop_oneof![
            Just(Change::Annotate),
            (0usize..3).prop_map(Change::RetryLimit),
            (0usize..3).prop_map(Change::TaskCount),
            (0usize..3).prop_map(Change::RestartPolicy),
            (0usize..3).prop_map(Change::PodSecurity),
            ij.clone().prop_map(|(i, j)| Change::Requests(i, j)),
            ij.clone().prop_map(|(i, j)| Change::RunAsUser(i, j)),
            (0usize..3).prop_map(Change::InitRunAsUser),
            ij.clone().prop_map(|(i, j)| Change::Image(i, j)),
            ij.clone().prop_map(|(i, j)| Change::GpuLimit(i, j)),
            ij.prop_map(|(i, j)| Change::MoreMemory(i, j)),
            Just(Change::UserCommand),
            (0usize..3).prop_map(Change::DropTemplateSpec),
            (0usize..3).prop_map(Change::AddContainer),
        ]
    }

    /// Applies the patch to the job as JSON, the way the API server does.
    fn patched(before: &BatchJob, after: &BatchJob) -> (Value, json_patch::Patch) {
        let written = job_patch(Mutable::copied(before), Mutable::copied(after)).unwrap();
        let patch: json_patch::Patch = serde_json::from_slice(written.as_bytes()).unwrap();
        assert_eq!(patch.0.len(), written.len());
        let mut value = serde_json::to_value(before).unwrap();
        json_patch::patch(&mut value, &patch).unwrap();
        (value, patch)
    }

    proptest! {
        #[test]
        fn applying_the_patch_gives_the_changed_job(
            groups in 0usize..3,
            containers in 1usize..3,
            init in any::<bool>(),
            limits in any::<bool>(),
            annotated in any::<bool>(),
            changes in proptest::collection::vec(change(), 0..8),
        ) {
            let mut before = job(groups, containers, init, limits);
            if annotated {
                before.metadata.annotations = Some([("a".to_owned(), "b".to_owned())].into());
            }
            let mut after = before.clone();
            for change in changes {
                apply(&mut after, change);
            }
            let (value, patch) = patched(&before, &after);
            prop_assert_eq!(value, serde_json::to_value(&after).unwrap());
            // Nothing changed, nothing patched; and never more operations than a whole diff.
            let whole = json_patch::diff(
                &serde_json::to_value(&before).unwrap(),
                &serde_json::to_value(&after).unwrap(),
            );
            prop_assert_eq!(patch.0.is_empty(), whole.0.is_empty());
            prop_assert!(patch.0.len() <= whole.0.len() + 1, "{patch:?} vs {whole:?}");
        }
    }

    #[test]
    fn a_defaulted_container_is_patched_at_its_own_path() {
        let mut before = job(2, 2, false, true);
        before.metadata.annotations = None;
        let mut after = before.clone();
        apply(&mut after, Change::RunAsUser(1, 1));
        apply(&mut after, Change::GpuLimit(0, 0));
        apply(&mut after, Change::Annotate);
        let (value, patch) = patched(&before, &after);
        assert_eq!(value, serde_json::to_value(&after).unwrap());
        let paths: Vec<String> = patch.0.iter().map(|op| op.path().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/metadata/annotations",
                "/spec/taskGroups/0/template/spec/containers/0/resources/limits/nvidia.com~1gpu",
                "/spec/taskGroups/1/template/spec/containers/1/securityContext"
            ]
        );
    }

    #[test]
    fn an_unchanged_job_has_an_empty_patch() {
        let job = job(3, 2, true, true);
        assert!(
            job_patch(Mutable::copied(&job), Mutable::taken(job.clone()))
                .unwrap()
                .is_empty()
        );
    }
}
