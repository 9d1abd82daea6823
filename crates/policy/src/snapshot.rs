//! `PolicySet`: an in-memory snapshot of the policy objects (and a summary of the jobs) that
//! admission decisions read.
//!
//! The webhook fills it from YAML files or from cluster watches, `kbatch check` from files;
//! either way the decisions below only ever see this snapshot, so they stay pure.

use crate::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue,
    BatchUserContext, JobPhase, namespace_or_default,
};
use crate::constraint::ConstraintSet;
use crate::namespaced::Namespaced;
use crate::violation::Violations;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::ResourceExt;
use std::collections::BTreeMap;

/// The most BatchJobs that may be unfinished at once, cluster-wide.
pub const MAX_UNFINISHED_JOBS: usize = 10_000;

/// What admission needs to know about an existing BatchJob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSummary {
    /// Its queue.
    pub queue: String,
    /// Its phase, `None` before the controller has seen it.
    pub phase: Option<JobPhase>,
    /// Every job name it depends on (all alternatives).
    pub depends_on: Vec<String>,
}

impl JobSummary {
    /// Summarises a job.
    pub fn of(job: &BatchJob) -> JobSummary {
        JobSummary {
            queue: job.spec.batch_queue_name.clone(),
            phase: job.status.as_ref().and_then(|s| s.phase),
            depends_on: job
                .spec
                .dependencies
                .iter()
                .flat_map(|d| &d.dependency_items)
                .flat_map(|i| &i.names)
                .cloned()
                .collect(),
        }
    }

    /// Whether the job has not reached a terminal phase.
    pub fn is_unfinished(&self) -> bool {
        !matches!(self.phase, Some(JobPhase::Succeeded | JobPhase::Failed))
    }
}

/// A policy object together with whether it is being deleted.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<T> {
    /// The object.
    pub object: T,
    /// `metadata.deletionTimestamp` is set: it must not gain new referrers.
    pub deleting: bool,
}

type Cluster<T> = BTreeMap<String, Entry<T>>;

/// A consistent view of every kbatch object admission decisions depend on.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    queues: Namespaced<Entry<BatchQueue>>,
    user_contexts: Namespaced<Entry<BatchUserContext>>,
    priorities: Cluster<BatchPriority>,
    budgets: Cluster<BatchBudget>,
    cost_models: Cluster<BatchCostModel>,
    constraints: Cluster<Result<ConstraintSet, Violations>>,
    jobs: Namespaced<JobSummary>,
    unfinished_jobs: usize,
}

fn namespace_of(meta: &ObjectMeta) -> String {
    namespace_or_default(meta).to_owned()
}

fn deleting(meta: &ObjectMeta) -> bool {
    meta.deletion_timestamp.is_some()
}

impl PolicySet {
    /// An empty snapshot.
    pub fn new() -> Self {
        PolicySet::default()
    }

    /// Adds or replaces a queue.
    pub fn upsert_queue(&mut self, q: BatchQueue) {
        let deleting = deleting(&q.metadata);
        self.queues.insert(
            namespace_of(&q.metadata),
            q.name_any(),
            Entry {
                object: q,
                deleting,
            },
        );
    }

    /// Adds or replaces a user context.
    pub fn upsert_user_context(&mut self, c: BatchUserContext) {
        let deleting = deleting(&c.metadata);
        self.user_contexts.insert(
            namespace_of(&c.metadata),
            c.name_any(),
            Entry {
                object: c,
                deleting,
            },
        );
    }

    /// Adds or replaces a priority.
    pub fn upsert_priority(&mut self, p: BatchPriority) {
        let deleting = deleting(&p.metadata);
        self.priorities.insert(
            p.name_any(),
            Entry {
                object: p,
                deleting,
            },
        );
    }

    /// Adds or replaces a budget.
    pub fn upsert_budget(&mut self, b: BatchBudget) {
        let deleting = deleting(&b.metadata);
        self.budgets.insert(
            b.name_any(),
            Entry {
                object: b,
                deleting,
            },
        );
    }

    /// Adds or replaces a cost model.
    pub fn upsert_cost_model(&mut self, m: BatchCostModel) {
        let deleting = deleting(&m.metadata);
        self.cost_models.insert(
            m.name_any(),
            Entry {
                object: m,
                deleting,
            },
        );
    }

    /// Adds or replaces a constraint object, parsing its rules once. A malformed one is kept
    /// (as its violations) so that jobs of queues naming it are refused with the reason.
    pub fn upsert_constraint(&mut self, c: &BatchJobConstraint) {
        let name = c.name_any();
        let parsed = ConstraintSet::parse(&name, &c.spec);
        self.constraints.insert(
            name,
            Entry {
                object: parsed,
                deleting: deleting(&c.metadata),
            },
        );
    }

    /// Adds or replaces the summary of a job.
    pub fn upsert_job(&mut self, job: &BatchJob) {
        let summary = JobSummary::of(job);
        let unfinished = summary.is_unfinished();
        if let Some(old) = self
            .jobs
            .insert(namespace_of(&job.metadata), job.name_any(), summary)
            && old.is_unfinished()
        {
            self.unfinished_jobs -= 1;
        }
        if unfinished {
            self.unfinished_jobs += 1;
        }
    }

    /// Forgets a job.
    pub fn remove_job(&mut self, namespace: &str, name: &str) {
        if let Some(old) = self.jobs.remove(namespace, name)
            && old.is_unfinished()
        {
            self.unfinished_jobs -= 1;
        }
    }

    /// Forgets a queue.
    pub fn remove_queue(&mut self, namespace: &str, name: &str) {
        self.queues.remove(namespace, name);
    }

    /// Forgets a user context.
    pub fn remove_user_context(&mut self, namespace: &str, name: &str) {
        self.user_contexts.remove(namespace, name);
    }

    /// Forgets a priority.
    pub fn remove_priority(&mut self, name: &str) {
        self.priorities.remove(name);
    }

    /// Forgets a budget.
    pub fn remove_budget(&mut self, name: &str) {
        self.budgets.remove(name);
    }

    /// Forgets a cost model.
    pub fn remove_cost_model(&mut self, name: &str) {
        self.cost_models.remove(name);
    }

    /// Forgets a constraint object.
    pub fn remove_constraint(&mut self, name: &str) {
        self.constraints.remove(name);
    }

    /// Forgets every object of `kind` (before a watch re-lists them).
    pub fn clear(&mut self, kind: crate::api::Kind) {
        use crate::api::Kind;
        match kind {
            Kind::BatchJob => {
                self.jobs.clear();
                self.unfinished_jobs = 0;
            }
            Kind::BatchQueue => self.queues.clear(),
            Kind::BatchPriority => self.priorities.clear(),
            Kind::BatchJobConstraint => self.constraints.clear(),
            Kind::BatchBudget => self.budgets.clear(),
            Kind::BatchCostModel => self.cost_models.clear(),
            Kind::BatchUserContext => self.user_contexts.clear(),
        }
    }

    /// The queue `name` in `namespace`.
    pub fn queue(&self, namespace: &str, name: &str) -> Option<&Entry<BatchQueue>> {
        self.queues.get(namespace, name)
    }

    /// Every queue of `namespace`, by name.
    pub fn queues_in(&self, namespace: &str) -> impl Iterator<Item = &BatchQueue> {
        self.queues.in_namespace(namespace).map(|(_, e)| &e.object)
    }

    /// Every queue of the cluster.
    pub fn all_queues(&self) -> impl Iterator<Item = &BatchQueue> {
        self.queues.values().map(|e| &e.object)
    }

    /// Every budget of the cluster.
    pub fn all_budgets(&self) -> impl Iterator<Item = &BatchBudget> {
        self.budgets.values().map(|e| &e.object)
    }

    /// Every user context of `namespace`, by name.
    pub fn user_contexts_in(&self, namespace: &str) -> impl Iterator<Item = &BatchUserContext> {
        self.user_contexts
            .in_namespace(namespace)
            .map(|(_, e)| &e.object)
    }

    /// The priority `name`.
    pub fn priority(&self, name: &str) -> Option<&Entry<BatchPriority>> {
        self.priorities.get(name)
    }

    /// The budget `name`.
    pub fn budget(&self, name: &str) -> Option<&Entry<BatchBudget>> {
        self.budgets.get(name)
    }

    /// The cost model `name`.
    pub fn cost_model(&self, name: &str) -> Option<&Entry<BatchCostModel>> {
        self.cost_models.get(name)
    }

    /// The parsed constraint object `name` (or why it is malformed).
    pub fn constraint(&self, name: &str) -> Option<&Entry<Result<ConstraintSet, Violations>>> {
        self.constraints.get(name)
    }

    /// The summary of job `name` in `namespace`.
    pub fn job(&self, namespace: &str, name: &str) -> Option<&JobSummary> {
        self.jobs.get(namespace, name)
    }

    /// Every job of `namespace` with its name, by name.
    pub fn jobs_in(&self, namespace: &str) -> impl Iterator<Item = (&str, &JobSummary)> {
        self.jobs.in_namespace(namespace)
    }

    /// How many jobs have not finished, cluster-wide.
    pub fn unfinished_jobs(&self) -> usize {
        self.unfinished_jobs
    }
}
