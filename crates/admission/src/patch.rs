//! The JSON Patches of mutation: a submitted BatchJob into its defaulted form, and one member
//! of an object (a BatchBudget's start time).
//!
//! Diffing the whole object (both sides turned into `serde_json::Value` trees) cost more than
//! the rest of a mutate request together, and so did a whole copy of the job to diff against:
//! a pod spec's containers, volumes and arguments are most of a job, and defaulting never
//! writes them. So before defaulting runs, only the parts it writes are copied
//! ([`Defaultable`]); afterwards each copy is compared with its part of the defaulted job and
//! only the parts that changed are turned into JSON. A member that appears is added whole, a
//! quantity added to `limits`/`requests` is added alone, anything else that changed is
//! diffed. Applied, the patch gives exactly the defaulted object. Two checks keep it so when
//! defaulting learns to write somewhere new: debug builds compare on every mutate review
//! ([`check_reproduces`]), so every test that mutates a job would catch a default written
//! outside the copied parts, and `tests/defaulting_patch.rs` compares the patched object
//! with the policy's defaulting for random jobs, queue defaults and security policies.

use crate::patch_text::{JsonPatch, PatchWriter, Pointer};
use k8s_openapi::api::core::v1::{
    Container, EphemeralContainer, PodSecurityContext, PodSpec, ResourceRequirements,
    SecurityContext,
};
use kbatch_policy::api::{BatchJob, BatchJobSpec, TaskGroup};
use serde::Serialize;
use std::collections::BTreeMap;

/// Why a patch could not be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PatchError {
    /// A value does not serialise (a map with non-string keys, say).
    #[error("the object cannot be re-encoded: {0}")]
    Encoding(#[from] serde_json::Error),
    /// Defaulting added or removed items of a list it only copies item by item.
    #[error("defaulting changed the number of {0}, which the mutating webhook cannot patch")]
    ListResized(&'static str),
}

/// Copies of the parts of a BatchJob that defaulting writes, taken before it runs: the
/// annotations, the spec without its task groups, each task group without its pod template,
/// and of each pod spec its `restartPolicy`, `automountServiceAccountToken`, `securityContext`
/// and every container's
/// `resources` and `securityContext` (`containers`, `initContainers`, `ephemeralContainers`).
/// Everything else (images, commands, volumes, the template's metadata…) is neither copied
/// nor compared.
#[derive(Debug)]
pub(crate) struct Defaultable {
    annotations: Option<BTreeMap<String, String>>,
    finalizers: Option<Vec<String>>,
    /// Its `task_groups` are empty: [`GroupParts`] copy them.
    spec: BatchJobSpec,
    groups: Vec<GroupParts>,
}

#[derive(Debug)]
struct GroupParts {
    /// Its `template` is empty.
    group: TaskGroup,
    /// `None` when the template has no pod spec.
    pod: Option<PodParts>,
}

#[derive(Debug)]
struct PodParts {
    restart_policy: Option<String>,
    automount_service_account_token: Option<bool>,
    security_context: Option<PodSecurityContext>,
    containers: Vec<ContainerParts>,
    init_containers: Option<Vec<ContainerParts>>,
    ephemeral_containers: Option<Vec<ContainerParts>>,
}

#[derive(Debug)]
struct ContainerParts {
    resources: Option<ResourceRequirements>,
    security_context: Option<SecurityContext>,
}

impl Defaultable {
    /// Copies the parts of `job` that defaulting writes.
    pub fn of(job: &BatchJob) -> Defaultable {
        // Destructured without `..`: a field added to the spec or a task group must be
        // placed here (copied, or known to be outside defaulting) before this compiles.
        let BatchJobSpec {
            batch_queue_name,
            task_groups,
            dependencies,
            user_command,
            batch_node_selector,
        } = &job.spec;
        Defaultable {
            annotations: job.metadata.annotations.clone(),
            finalizers: job.metadata.finalizers.clone(),
            spec: BatchJobSpec {
                batch_queue_name: batch_queue_name.clone(),
                task_groups: Vec::new(),
                dependencies: dependencies.clone(),
                user_command: user_command.clone(),
                batch_node_selector: batch_node_selector.clone(),
            },
            groups: task_groups.iter().map(GroupParts::of).collect(),
        }
    }
}

impl GroupParts {
    fn of(group: &TaskGroup) -> GroupParts {
        let TaskGroup {
            name,
            max_wall_time,
            retry_limit,
            index_spec,
            template,
        } = group;
        GroupParts {
            group: TaskGroup {
                name: name.clone(),
                max_wall_time: max_wall_time.clone(),
                retry_limit: *retry_limit,
                index_spec: index_spec.clone(),
                template: Default::default(),
            },
            pod: template.spec.as_ref().map(PodParts::of),
        }
    }
}

impl PodParts {
    fn of(pod: &PodSpec) -> PodParts {
        PodParts {
            restart_policy: pod.restart_policy.clone(),
            automount_service_account_token: pod.automount_service_account_token,
            security_context: pod.security_context.clone(),
            containers: copy_parts(&pod.containers),
            init_containers: pod.init_containers.as_deref().map(copy_parts),
            ephemeral_containers: pod.ephemeral_containers.as_deref().map(copy_parts),
        }
    }
}

fn copy_parts<C: DefaultedContainer>(list: &[C]) -> Vec<ContainerParts> {
    list.iter().map(C::copy_parts).collect()
}

/// The patch from `before` (copied from the job before defaulting) to `after` (the same job
/// defaulted): the changes to the copied parts.
pub(crate) fn job_patch(before: Defaultable, mut after: BatchJob) -> Result<JsonPatch, PatchError> {
    let mut patch = Builder::default();
    // Room for the longest path written, e.g.
    // `/spec/taskGroups/0/template/spec/initContainers/0/resources/limits/nvidia.com~1gpu`.
    let mut at = Pointer::with_capacity(128);
    at.in_member("metadata", |at| {
        patch.member(
            at,
            "annotations",
            &before.annotations,
            &after.metadata.annotations,
        )?;
        patch.member(
            at,
            "finalizers",
            &before.finalizers,
            &after.metadata.finalizers,
        )
    })?;
    let mut groups = std::mem::take(&mut after.spec.task_groups);
    if before.groups.len() != groups.len() {
        return Err(PatchError::ListResized("task groups"));
    }
    at.in_member("spec", |at| {
        patch.diff(at, &before.spec, &after.spec)?;
        at.in_member("taskGroups", |at| {
            let pairs = before.groups.into_iter().zip(&mut groups);
            for (i, (b, a)) in pairs.enumerate() {
                at.in_item(i, |at| task_group(&mut patch, at, b, a))?;
            }
            Ok::<_, PatchError>(())
        })
    })?;
    Ok(patch.ops.finish())
}

fn task_group(
    patch: &mut Builder,
    at: &mut Pointer,
    before: GroupParts,
    after: &mut TaskGroup,
) -> Result<(), PatchError> {
    at.in_member("template", |at| {
        match (before.pod, after.template.spec.as_ref()) {
            (Some(b), Some(a)) => at.in_member("spec", |at| pod_spec(patch, at, b, a)),
            (b, a) => Ok(patch.appeared_or_went(at, "spec", b.is_some(), a)?),
        }
    })?;
    // `before.group` has an empty template: compare the rest of the group alike. Emptied in
    // place rather than taken out, which would copy the kilobytes of a pod spec.
    after.template.spec = None;
    after.template.metadata = None;
    patch.diff(at, &before.group, after)?;
    Ok(())
}

fn pod_spec(
    patch: &mut Builder,
    at: &mut Pointer,
    before: PodParts,
    after: &PodSpec,
) -> Result<(), PatchError> {
    let lists = [
        (
            "containers",
            Some(before.containers),
            Some(&after.containers),
        ),
        (
            "initContainers",
            before.init_containers,
            after.init_containers.as_ref(),
        ),
    ];
    for (list, b, a) in lists {
        containers(patch, at, list, b, a)?;
    }
    // Of another type, so outside the loop.
    containers(
        patch,
        at,
        "ephemeralContainers",
        before.ephemeral_containers,
        after.ephemeral_containers.as_ref(),
    )?;
    patch.member(
        at,
        "restartPolicy",
        &before.restart_policy,
        &after.restart_policy,
    )?;
    patch.member(
        at,
        "automountServiceAccountToken",
        &before.automount_service_account_token,
        &after.automount_service_account_token,
    )?;
    patch.member(
        at,
        "securityContext",
        &before.security_context,
        &after.security_context,
    )?;
    Ok(())
}

/// A container of any of the three lists, as far as defaulting writes it.
trait DefaultedContainer: Serialize + PartialEq {
    fn resources(&self) -> &Option<ResourceRequirements>;
    fn security_context(&self) -> &Option<SecurityContext>;

    fn copy_parts(&self) -> ContainerParts {
        ContainerParts {
            resources: self.resources().clone(),
            security_context: self.security_context().clone(),
        }
    }
}

/// `Container` and `EphemeralContainer` are distinct types with the same two members.
macro_rules! defaulted_container {
    ($type:ty) => {
        impl DefaultedContainer for $type {
            fn resources(&self) -> &Option<ResourceRequirements> {
                &self.resources
            }

            fn security_context(&self) -> &Option<SecurityContext> {
                &self.security_context
            }
        }
    };
}

defaulted_container!(Container);
defaulted_container!(EphemeralContainer);

/// Compares each container with its copy by reference: a container is kilobytes, mostly
/// members defaulting never writes.
fn containers<C: DefaultedContainer>(
    patch: &mut Builder,
    at: &mut Pointer,
    list: &'static str,
    before: Option<Vec<ContainerParts>>,
    after: Option<&Vec<C>>,
) -> Result<(), PatchError> {
    match (before, after) {
        (Some(before), Some(after)) if before.len() == after.len() => at.in_member(list, |at| {
            for (j, (b, a)) in before.into_iter().zip(after).enumerate() {
                at.in_item(j, |at| {
                    container_resources(patch, at, &b.resources, a.resources())?;
                    patch.member(
                        at,
                        "securityContext",
                        &b.security_context,
                        a.security_context(),
                    )
                })?;
            }
            Ok(())
        }),
        (Some(_), Some(_)) => Err(PatchError::ListResized(list)),
        (b, a) => Ok(patch.appeared_or_went(at, list, b.is_some(), a)?),
    }
}

/// A container's `resources`: defaulting adds a quantity to `limits` or `requests`, which
/// becomes one `add` of that quantity.
fn container_resources(
    patch: &mut Builder,
    at: &mut Pointer,
    before: &Option<ResourceRequirements>,
    after: &Option<ResourceRequirements>,
) -> Result<(), serde_json::Error> {
    match (before, after) {
        (Some(before), Some(after)) if before.claims == after.claims => {
            at.in_member("resources", |at| {
                for (name, before, after) in [
                    ("limits", &before.limits, &after.limits),
                    ("requests", &before.requests, &after.requests),
                ] {
                    match (before, after) {
                        (Some(before), Some(after)) => {
                            at.in_member(name, |at| patch.entries(at, before, after))?
                        }
                        (before, after) => patch.member(at, name, before, after)?,
                    }
                }
                Ok(())
            })
        }
        _ => patch.member(at, "resources", before, after),
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
        &mut Pointer::from_tokens(at.iter().copied()),
        name,
        before,
        after,
    )?;
    Ok(patch.ops.finish())
}

/// Panics unless `patch`, applied to `submitted` (the job as decoded, as JSON), gives
/// `defaulted`: a default written outside the parts [`Defaultable`] copies would be missing
/// from the patch. Debug builds only: release builds trust what the tests checked.
#[cfg(debug_assertions)]
pub(crate) fn check_reproduces(
    submitted: serde_json::Value,
    patch: &JsonPatch,
    defaulted: &serde_json::Value,
) {
    let mut patched = submitted;
    let applied = serde_json::from_slice::<json_patch::Patch>(patch.as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|p| json_patch::patch(&mut patched, &p).map_err(|e| e.to_string()));
    assert!(
        applied.is_ok() && patched == *defaulted,
        "the mutate patch does not turn the submitted job into the defaulted one \
         (does defaulting write a part patch::Defaultable does not copy?): {applied:?}, \
         patched {patched}, defaulted {defaulted}"
    );
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
        at: &mut Pointer,
        name: &str,
        before: &Option<T>,
        after: &Option<T>,
    ) -> Result<(), serde_json::Error> {
        match (before, after) {
            _ if before == after => Ok(()),
            (Some(before), Some(after)) => {
                at.in_member(name, |path| self.diff(path, before, after))
            }
            _ => self.appeared_or_went(at, name, before.is_some(), after.as_ref()),
        }
    }

    /// The operations for member `name` when only whether it `existed` before is known, not
    /// its value: `remove` when it went, `add` of the whole value when it appeared. A member
    /// that stayed is the caller's to compare.
    fn appeared_or_went<T: Serialize>(
        &mut self,
        at: &mut Pointer,
        name: &str,
        existed: bool,
        after: Option<&T>,
    ) -> Result<(), serde_json::Error> {
        match (existed, after) {
            (true, None) => at.in_member(name, |path| self.ops.remove(path.as_str())),
            (false, Some(after)) => at.in_member(name, |path| self.ops.add(path.as_str(), after)),
            _ => Ok(()),
        }
    }

    /// The operations turning the map at `at` from `before` into `after`, entry by entry.
    fn entries<V: Serialize + PartialEq>(
        &mut self,
        at: &mut Pointer,
        before: &BTreeMap<String, V>,
        after: &BTreeMap<String, V>,
    ) -> Result<(), serde_json::Error> {
        if before == after {
            return Ok(());
        }
        for (key, value) in after {
            match before.get(key) {
                None => at.in_member(key, |at| self.ops.add(at.as_str(), value))?,
                Some(old) if old != value => {
                    at.in_member(key, |at| self.ops.replace(at.as_str(), value))?
                }
                Some(_) => {}
            }
        }
        for key in before.keys().filter(|k| !after.contains_key(*k)) {
            at.in_member(key, |at| self.ops.remove(at.as_str()))?;
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

    /// Changes to the parts [`Defaultable`] copies (some of which defaulting does not make
    /// today), and two outside them.
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

    /// The pod spec of task group `i` (modulo their number).
    fn pod(job: &mut BatchJob, i: usize) -> Option<&mut PodSpec> {
        let n = job.spec.task_groups.len().max(1);
        job.spec.task_groups[i % n].template.spec.as_mut()
    }

    fn apply(job: &mut BatchJob, change: Change) {
        let groups = job.spec.task_groups.len();
        let group = |i: usize| i % groups.max(1);
        if groups == 0 && !matches!(change, Change::Annotate | Change::UserCommand) {
            return;
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
            ij.clone().prop_map(|(i, j)| Change::GpuLimit(i, j)),
            ij.prop_map(|(i, j)| Change::MoreMemory(i, j)),
            Just(Change::UserCommand),
            (0usize..3).prop_map(Change::DropTemplateSpec),
        ]
    }

    /// The patch turning `before` into `after`, copied the way mutate copies it.
    fn patch_between(before: &BatchJob, after: BatchJob) -> Result<JsonPatch, PatchError> {
        job_patch(Defaultable::of(before), after)
    }

    /// Applies the patch to the job as JSON, the way the API server does.
    fn patched(before: &BatchJob, after: &BatchJob) -> (Value, json_patch::Patch) {
        let written = patch_between(before, after.clone()).unwrap();
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
        assert!(patch_between(&job, job.clone()).unwrap().is_empty());
    }

    #[test]
    fn a_change_outside_the_copied_parts_is_not_patched() {
        let before = job(1, 1, false, false);
        let mut after = before.clone();
        apply(&mut after, Change::Image(0, 0));
        after.spec.task_groups[0].template.metadata = Some(Default::default());
        assert!(patch_between(&before, after).unwrap().is_empty());
    }

    #[test]
    fn a_resized_container_list_is_an_error_not_a_wrong_patch() {
        let before = job(2, 1, true, false);
        let mut after = before.clone();
        apply(&mut after, Change::AddContainer(1));
        let error = patch_between(&before, after).unwrap_err();
        assert!(
            matches!(error, PatchError::ListResized("containers")),
            "{error}"
        );
        let mut after = before.clone();
        pod(&mut after, 0).unwrap().init_containers = Some(vec![]);
        let error = patch_between(&before, after).unwrap_err();
        assert!(
            matches!(error, PatchError::ListResized("initContainers")),
            "{error}"
        );
        let mut after = before.clone();
        after.spec.task_groups.pop();
        let error = patch_between(&before, after).unwrap_err();
        assert!(
            matches!(error, PatchError::ListResized("task groups")),
            "{error}"
        );
    }

    #[test]
    fn init_containers_that_appear_are_added_whole() {
        let before = job(1, 1, false, false);
        let mut after = before.clone();
        pod(&mut after, 0).unwrap().init_containers = Some(vec![container("init")]);
        let (value, patch) = patched(&before, &after);
        assert_eq!(value, serde_json::to_value(&after).unwrap());
        assert_eq!(patch.0.len(), 1);
        assert_eq!(
            patch.0[0].path().to_string(),
            "/spec/taskGroups/0/template/spec/initContainers"
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    fn the_debug_check_accepts_a_reproducing_patch() {
        let before = job(2, 2, true, false);
        let mut after = before.clone();
        apply(&mut after, Change::RunAsUser(1, 0));
        apply(&mut after, Change::Annotate);
        let patch = patch_between(&before, after.clone()).unwrap();
        check_reproduces(
            serde_json::to_value(&before).unwrap(),
            &patch,
            &serde_json::to_value(&after).unwrap(),
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "does defaulting write a part patch::Defaultable does not copy?")]
    fn the_debug_check_catches_a_default_outside_the_copied_parts() {
        let before = job(1, 1, false, false);
        let mut after = before.clone();
        apply(&mut after, Change::Image(0, 0));
        let patch = patch_between(&before, after.clone()).unwrap();
        check_reproduces(
            serde_json::to_value(&before).unwrap(),
            &patch,
            &serde_json::to_value(&after).unwrap(),
        );
    }
}
