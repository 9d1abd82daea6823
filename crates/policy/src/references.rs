//! Who refers to whom: deletion guards, and no new references to objects being deleted.

use crate::api::{BatchBudgetSpec, BatchQueueSpec, DEFAULT_NAMESPACE, Kind};
use crate::snapshot::{Entry, PolicySet};
use crate::violation::{Reason, Violations};
use kube::ResourceExt;

/// How many referrers a refusal lists before summarising the rest.
const LISTED_REFERRERS: usize = 10;

/// Whether deleting the object may go ahead: refused while a BatchQueue names the
/// priority, budget or constraint object, a BatchBudget names the cost model, or the
/// queue still holds unfinished BatchJobs. The message names the referrers.
///
/// ```
/// use kbatch_policy::api::Kind;
/// use kbatch_policy::references::guard_delete;
/// use kbatch_policy::snapshot::PolicySet;
///
/// assert!(guard_delete(&PolicySet::new(), Kind::BatchPriority, None, "high").is_empty());
/// ```
pub fn guard_delete(
    policy: &PolicySet,
    kind: Kind,
    namespace: Option<&str>,
    name: &str,
) -> Violations {
    let referrers: Vec<String> = match kind {
        Kind::BatchPriority => queues_where(policy, |q| q.batch_priority_name == name),
        Kind::BatchBudget => queues_where(policy, |q| q.batch_budget_name == name),
        Kind::BatchJobConstraint => {
            queues_where(policy, |q| q.constraint_names.iter().any(|c| c == name))
        }
        Kind::BatchCostModel => policy
            .all_budgets()
            .filter(|b| b.spec.batch_cost_model_name == name)
            .map(|b| format!("BatchBudget {}", b.name_any()))
            .collect(),
        Kind::BatchQueue => {
            let namespace = namespace.unwrap_or(DEFAULT_NAMESPACE);
            policy
                .jobs_in(namespace)
                .filter(|(_, job)| job.queue == name && job.is_unfinished())
                .map(|(job, _)| format!("BatchJob {namespace}/{job}"))
                .collect()
        }
        Kind::BatchJob | Kind::BatchUserContext => Vec::new(),
    };
    let mut v = Violations::new();
    if !referrers.is_empty() {
        let what = if kind == Kind::BatchQueue {
            "unfinished jobs"
        } else {
            "referrers"
        };
        v.push(
            "metadata.name",
            Reason::InUse,
            format!(
                "{kind} {name:?} is still in use by {} {what}: {}; remove those references first",
                referrers.len(),
                list(&referrers)
            ),
        );
    }
    v
}

fn queues_where(policy: &PolicySet, matches: impl Fn(&BatchQueueSpec) -> bool) -> Vec<String> {
    policy
        .all_queues()
        .filter(|q| matches(&q.spec))
        .map(|q| {
            format!(
                "BatchQueue {}/{}",
                q.namespace().unwrap_or_default(),
                q.name_any()
            )
        })
        .collect()
}

fn list(items: &[String]) -> String {
    if items.len() <= LISTED_REFERRERS {
        items.join(", ")
    } else {
        format!(
            "{} and {} more",
            items[..LISTED_REFERRERS].join(", "),
            items.len() - LISTED_REFERRERS
        )
    }
}

/// References a queue makes: refused when a *new* reference (one `previous` did not make)
/// targets an object being deleted; a warning when the target does not exist (yet: objects
/// may be applied in any order).
pub fn check_queue_references(
    policy: &PolicySet,
    spec: &BatchQueueSpec,
    previous: Option<&BatchQueueSpec>,
) -> (Violations, Vec<String>) {
    let mut v = Violations::new();
    let mut warnings = Vec::new();
    let mut check =
        |entry_deleting: Option<bool>, kind: Kind, name: &str, field: String, known: bool| {
            check_one(
                entry_deleting,
                kind,
                name,
                &field,
                known,
                &mut v,
                &mut warnings,
            );
        };
    let name = &spec.batch_priority_name;
    let known = previous.is_some_and(|p| &p.batch_priority_name == name);
    check(
        policy.priority(name).map(deleting),
        Kind::BatchPriority,
        name,
        "spec.batchPriorityName".into(),
        known,
    );
    let name = &spec.batch_budget_name;
    let known = previous.is_some_and(|p| &p.batch_budget_name == name);
    check(
        policy.budget(name).map(deleting),
        Kind::BatchBudget,
        name,
        "spec.batchBudgetName".into(),
        known,
    );
    for (i, name) in spec.constraint_names.iter().enumerate() {
        let known = previous.is_some_and(|p| p.constraint_names.contains(name));
        check(
            policy.constraint(name).map(deleting),
            Kind::BatchJobConstraint,
            name,
            format!("spec.constraintNames[{i}]"),
            known,
        );
    }
    (v, warnings)
}

/// References a budget makes (its cost model), as [`check_queue_references`].
pub fn check_budget_references(
    policy: &PolicySet,
    spec: &BatchBudgetSpec,
    previous: Option<&BatchBudgetSpec>,
) -> (Violations, Vec<String>) {
    let mut v = Violations::new();
    let mut warnings = Vec::new();
    let name = &spec.batch_cost_model_name;
    let known = previous.is_some_and(|p| &p.batch_cost_model_name == name);
    check_one(
        policy.cost_model(name).map(deleting),
        Kind::BatchCostModel,
        name,
        "spec.batchCostModelName",
        known,
        &mut v,
        &mut warnings,
    );
    (v, warnings)
}

fn deleting<T>(entry: &Entry<T>) -> bool {
    entry.deleting
}

/// `deleting`: `None` when the target does not exist; `known`: the object referred to it
/// before this write (an existing reference keeps the target alive through its finalizer).
fn check_one(
    deleting: Option<bool>,
    kind: Kind,
    name: &str,
    field: &str,
    known: bool,
    v: &mut Violations,
    warnings: &mut Vec<String>,
) {
    if name.is_empty() {
        return;
    }
    match deleting {
        None => warnings.push(format!("{field}: {kind} {name:?} does not exist (yet)")),
        Some(true) if !known => v.push(
            field,
            Reason::ReferenceBeingDeleted,
            format!("{kind} {name:?} is being deleted and cannot be referred to"),
        ),
        Some(_) => {}
    }
}
