//! Who refers to whom: deletion guards, and no new references to objects being deleted.

use crate::api::{BatchBudgetSpec, BatchQueueSpec, DEFAULT_NAMESPACE, Kind, namespace_or_default};
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
        let what = match (kind == Kind::BatchQueue, referrers.len() == 1) {
            (true, true) => "unfinished job",
            (true, false) => "unfinished jobs",
            (false, true) => "referrer",
            (false, false) => "referrers",
        };
        v.push(
            "metadata.name",
            Reason::InUse,
            format!(
                // The subject is the object of the request: the admission reply names it.
                "still in use by {} {what}: {}; remove those references first",
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
            // Named where the snapshot files it: a queue without a namespace is in `default`.
            let namespace = namespace_or_default(&q.metadata);
            format!("BatchQueue {namespace}/{}", q.name_any())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::api::{BatchJob, BatchJobConstraint};
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    fn object<T: DeserializeOwned>(kind: &str, name: &str, spec: Value) -> T {
        object_in(kind, None, name, spec, None)
    }

    fn object_in<T: DeserializeOwned>(
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        spec: Value,
        status: Option<Value>,
    ) -> T {
        let mut o = json!({
            "apiVersion": "kbatch.k8s.io/v1beta1", "kind": kind,
            "metadata": {"name": name}, "spec": spec,
        });
        if let Some(ns) = namespace {
            o["metadata"]["namespace"] = json!(ns);
        }
        if let Some(status) = status {
            o["status"] = status;
        }
        serde_json::from_value(o).unwrap()
    }

    fn queue(namespace: &str, name: &str, spec: Value) -> crate::api::BatchQueue {
        object_in("BatchQueue", Some(namespace), name, spec, None)
    }

    fn job(namespace: Option<&str>, name: &str, queue: &str, phase: Option<&str>) -> BatchJob {
        object_in(
            "BatchJob",
            namespace,
            name,
            json!({"batchQueueName": queue, "taskGroups": []}),
            phase.map(|p| json!({"phase": p})),
        )
    }

    /// Queues in two namespaces naming one priority, budget and constraint each; a budget
    /// naming a cost model; jobs in every phase that matters.
    fn policy() -> PolicySet {
        let mut set = PolicySet::new();
        set.upsert_priority(object("BatchPriority", "high", json!({"value": 10})));
        set.upsert_budget(object(
            "BatchBudget",
            "team",
            json!({"batchCostModelName": "prices"}),
        ));
        set.upsert_cost_model(object("BatchCostModel", "prices", json!({})));
        let constraint: BatchJobConstraint = object("BatchJobConstraint", "short", json!({}));
        set.upsert_constraint(&constraint);
        let refers = json!({"batchPriorityName": "high", "batchBudgetName": "team",
            "constraintNames": ["short"]});
        set.upsert_queue(queue("team-a", "gpu", refers.clone()));
        set.upsert_queue(queue("team-b", "cpu", refers));
        set.upsert_queue(queue("default", "idle", json!({})));
        set.upsert_job(&job(Some("team-a"), "running", "gpu", Some("Running")));
        set.upsert_job(&job(Some("team-a"), "new", "gpu", None));
        set.upsert_job(&job(Some("team-a"), "done", "gpu", Some("Succeeded")));
        set.upsert_job(&job(Some("team-a"), "broke", "gpu", Some("Failed")));
        set.upsert_job(&job(Some("team-b"), "done", "cpu", Some("Succeeded")));
        set.upsert_job(&job(None, "stray", "idle", Some("Queued")));
        set
    }

    #[test]
    fn deleting_is_refused_while_something_refers_to_the_object_naming_every_referrer() {
        let queues = "2 referrers: BatchQueue team-a/gpu, BatchQueue team-b/cpu";
        // (kind, namespace, name, the refusal's message or None when allowed)
        let cases = [
            (Kind::BatchPriority, None, "high", Some(queues.to_owned())),
            (Kind::BatchPriority, None, "low", None),
            (Kind::BatchBudget, None, "team", Some(queues.to_owned())),
            (Kind::BatchBudget, None, "other", None),
            (
                Kind::BatchJobConstraint,
                None,
                "short",
                Some(queues.to_owned()),
            ),
            (Kind::BatchJobConstraint, None, "long", None),
            (
                Kind::BatchCostModel,
                None,
                "prices",
                Some("1 referrer: BatchBudget team".to_owned()),
            ),
            (Kind::BatchCostModel, None, "other", None),
            // Only unfinished jobs of the queue's own namespace hold a queue.
            (
                Kind::BatchQueue,
                Some("team-a"),
                "gpu",
                Some("2 unfinished jobs: BatchJob team-a/new, BatchJob team-a/running".to_owned()),
            ),
            (Kind::BatchQueue, Some("team-b"), "cpu", None),
            (Kind::BatchQueue, Some("team-c"), "gpu", None),
            // A job without a namespace is in `default`, as a request without one is.
            (
                Kind::BatchQueue,
                None,
                "idle",
                Some("1 unfinished job: BatchJob default/stray".to_owned()),
            ),
            (Kind::BatchJob, Some("team-a"), "running", None),
            (Kind::BatchUserContext, Some("team-a"), "everyone", None),
        ];
        let set = policy();
        for (kind, namespace, name, refused) in cases {
            let v = guard_delete(&set, kind, namespace, name);
            let got: Vec<_> = v
                .iter()
                .map(|v| (v.field.as_str(), v.reason, v.message.as_str()))
                .collect();
            let expected = refused.map(|referrers| {
                format!("still in use by {referrers}; remove those references first")
            });
            let expected: Vec<_> = expected
                .iter()
                .map(|m| ("metadata.name", Reason::InUse, m.as_str()))
                .collect();
            assert_eq!(got, expected, "{kind} {namespace:?}/{name}");
        }
    }

    #[test]
    fn a_long_list_of_referrers_is_summarised() {
        let mut set = PolicySet::new();
        for i in 0..13 {
            set.upsert_queue(queue(
                "ns",
                &format!("q{i:02}"),
                json!({"batchPriorityName": "p"}),
            ));
        }
        let v = guard_delete(&set, Kind::BatchPriority, None, "p");
        let message = &v.as_slice()[0].message;
        let listed: Vec<String> = (0..10).map(|i| format!("BatchQueue ns/q{i:02}")).collect();
        assert_eq!(
            message,
            &format!(
                "still in use by 13 referrers: {} and 3 more; remove those references first",
                listed.join(", ")
            )
        );
    }

    #[test]
    fn a_referring_queue_without_a_namespace_is_named_in_default() {
        let mut set = PolicySet::new();
        set.upsert_queue(object("BatchQueue", "q", json!({"batchPriorityName": "p"})));
        let v = guard_delete(&set, Kind::BatchPriority, None, "p");
        assert_eq!(
            v.as_slice()[0].message,
            "still in use by 1 referrer: BatchQueue default/q; remove those references first"
        );
        assert!(set.queue(DEFAULT_NAMESPACE, "q").is_some());
    }

    /// `set` with a priority, budget, cost model and constraint `old`, each being deleted.
    fn deleting(mut set: PolicySet) -> PolicySet {
        fn deleted<T: DeserializeOwned>(kind: &str, spec: Value) -> T {
            serde_json::from_value(json!({
                "apiVersion": "kbatch.k8s.io/v1beta1", "kind": kind,
                "metadata": {"name": "old", "deletionTimestamp": "2026-11-22T09:00:00Z"},
                "spec": spec,
            }))
            .unwrap()
        }
        set.upsert_priority(deleted("BatchPriority", json!({"value": 1})));
        set.upsert_budget(deleted("BatchBudget", json!({})));
        set.upsert_cost_model(deleted("BatchCostModel", json!({})));
        set.upsert_constraint(&deleted::<BatchJobConstraint>(
            "BatchJobConstraint",
            json!({}),
        ));
        set
    }

    fn queue_spec(spec: Value) -> BatchQueueSpec {
        serde_json::from_value(spec).unwrap()
    }

    /// A queue's spec, its previous spec, the refused fields and the warnings.
    type QueueCase = (Value, Option<Value>, Vec<&'static str>, Vec<&'static str>);

    #[test]
    fn a_queue_may_not_newly_refer_to_an_object_being_deleted_and_is_warned_of_missing_ones() {
        let set = deleting(policy());
        let cases: [QueueCase; 6] = [
            (json!({}), None, vec![], vec![]),
            (
                json!({"batchPriorityName": "high", "batchBudgetName": "team",
                    "constraintNames": ["short"]}),
                None,
                vec![],
                vec![],
            ),
            (
                json!({"batchPriorityName": "old", "batchBudgetName": "old",
                    "constraintNames": ["short", "old"]}),
                None,
                vec![
                    "spec.batchPriorityName",
                    "spec.batchBudgetName",
                    "spec.constraintNames[1]",
                ],
                vec![],
            ),
            // A reference the queue already made keeps its target alive (its finalizer).
            (
                json!({"batchPriorityName": "old", "constraintNames": ["old"]}),
                Some(json!({"batchPriorityName": "old", "constraintNames": ["old"]})),
                vec![],
                vec![],
            ),
            (
                json!({"batchPriorityName": "old", "constraintNames": ["old"]}),
                Some(json!({"batchPriorityName": "high", "constraintNames": ["short"]})),
                vec!["spec.batchPriorityName", "spec.constraintNames[0]"],
                vec![],
            ),
            (
                json!({"batchPriorityName": "nope", "constraintNames": ["short", "none"]}),
                None,
                vec![],
                vec![
                    "spec.batchPriorityName: BatchPriority \"nope\" does not exist (yet)",
                    "spec.constraintNames[1]: BatchJobConstraint \"none\" does not exist (yet)",
                ],
            ),
        ];
        for (spec, previous, refused, warned) in cases {
            let previous = previous.map(queue_spec);
            let (v, warnings) =
                check_queue_references(&set, &queue_spec(spec.clone()), previous.as_ref());
            let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
            assert_eq!(fields, refused, "{spec}");
            assert!(
                v.iter().all(|v| v.reason == Reason::ReferenceBeingDeleted),
                "{spec}"
            );
            assert_eq!(warnings, warned, "{spec}");
        }
        let (v, _) =
            check_queue_references(&set, &queue_spec(json!({"batchPriorityName": "old"})), None);
        assert_eq!(
            v.as_slice()[0].message,
            "BatchPriority \"old\" is being deleted and cannot be referred to"
        );
    }

    #[test]
    fn a_budget_may_not_newly_refer_to_a_cost_model_being_deleted() {
        let set = deleting(policy());
        let spec = |model: &str| -> BatchBudgetSpec {
            serde_json::from_value(json!({"batchCostModelName": model})).unwrap()
        };
        let field = |(v, w): (Violations, Vec<String>)| {
            (v.iter().map(|v| v.field.clone()).collect::<Vec<_>>(), w)
        };
        let none = (Vec::<String>::new(), Vec::<String>::new());
        assert_eq!(
            field(check_budget_references(&set, &spec("prices"), None)),
            none
        );
        assert_eq!(field(check_budget_references(&set, &spec(""), None)), none);
        assert_eq!(
            field(check_budget_references(&set, &spec("old"), None)),
            (vec!["spec.batchCostModelName".to_owned()], vec![])
        );
        assert_eq!(
            field(check_budget_references(
                &set,
                &spec("old"),
                Some(&spec("old"))
            )),
            none
        );
        assert_eq!(
            field(check_budget_references(&set, &spec("gone"), None)),
            (
                vec![],
                vec![
                    "spec.batchCostModelName: BatchCostModel \"gone\" does not exist (yet)"
                        .to_owned()
                ]
            )
        );
    }
}
