//! The `kbatch.k8s.io/v1beta1` API: one module per kind.
//!
//! Field names and shapes follow the original 2019 API so that manifests written for it apply
//! unchanged. Values that need parsing (durations, quantities, operators) are kept as the text
//! the user wrote; the validation module parses them and reports errors with field paths, which
//! serde could not do.

mod budget;
mod constraint;
mod cost_model;
mod job;
mod priority;
mod queue;
mod schema;
mod user_context;

pub use budget::{
    BatchBudget, BatchBudgetSpec, BatchBudgetStatus, BudgetWindow, BudgetWindowHistoryRecord,
    BudgetWindowStatus,
};
pub use constraint::{BatchJobConstraint, BatchJobConstraintSpec, ConstraintSpec};
pub use cost_model::{BatchCostModel, BatchCostModelSpec};
pub use job::{
    BatchJob, BatchJobCondition, BatchJobSpec, BatchJobStatus, BatchNodeSelector,
    BatchNodeSelectorRequirement, DependencyItem, GroupStatus, IndexSpec, JobDependency, JobPhase,
    PriorityRef, TaskGroup,
};
pub use priority::{BatchPriority, BatchPrioritySpec};
pub use queue::{BatchQueue, BatchQueueSpec, BatchQueueStatus, QueueJobsStatus};
pub use user_context::{
    BatchUserContext, BatchUserContextSpec, HostPortRange, IdRange, IdRule, SeLinuxRule,
    SecurityPolicySpec,
};

/// The API group of every kbatch kind.
pub const GROUP: &str = "kbatch.k8s.io";
/// The one served version.
pub const VERSION: &str = "v1beta1";
/// `apiVersion` of every kbatch object.
pub const API_VERSION: &str = "kbatch.k8s.io/v1beta1";

/// The namespace of a namespaced object whose manifest names none, as `kubectl` and the API
/// server read it. Objects decoded from files or tests may lack one; the API server always
/// fills it in.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace an object is in: its own, or [`DEFAULT_NAMESPACE`] when it names none.
///
/// ```
/// use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
/// use kbatch_policy::api::namespace_or_default;
///
/// assert_eq!(namespace_or_default(&ObjectMeta::default()), "default");
/// let meta = ObjectMeta { namespace: Some("team-a".into()), ..ObjectMeta::default() };
/// assert_eq!(namespace_or_default(&meta), "team-a");
/// ```
pub fn namespace_or_default(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> &str {
    meta.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
}

/// Annotation in which the mutating webhook records the authenticated creator of a BatchJob.
///
/// Users cannot forge it: the validating webhook refuses a CREATE whose value differs from the
/// requester and any UPDATE that changes it.
pub const SUBMITTED_BY_ANNOTATION: &str = "kbatch.k8s.io/submitted-by";

/// Finalizer that keeps a policy object alive while something still refers to it.
pub const IN_USE_FINALIZER: &str = "kbatch.k8s.io/in-use-protection";

/// Finalizer that keeps a BatchJob alive while it holds a budget reservation that is not yet
/// refunded: the controller adds it before charging the budget and removes it once the
/// unused part is given back, so deleting a job never loses its refund.
pub const RESERVATION_FINALIZER: &str = "kbatch.k8s.io/reservation";

/// The seven kinds of the API, for dispatch on an admission request's `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    BatchJob,
    BatchQueue,
    BatchPriority,
    BatchJobConstraint,
    BatchBudget,
    BatchCostModel,
    BatchUserContext,
}

impl Kind {
    /// Every kind, in a stable order (used for CRD generation and metrics).
    pub const ALL: [Kind; 7] = [
        Kind::BatchJob,
        Kind::BatchQueue,
        Kind::BatchPriority,
        Kind::BatchJobConstraint,
        Kind::BatchBudget,
        Kind::BatchCostModel,
        Kind::BatchUserContext,
    ];

    /// The kind's name as it appears in `kind:`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::BatchJob => "BatchJob",
            Kind::BatchQueue => "BatchQueue",
            Kind::BatchPriority => "BatchPriority",
            Kind::BatchJobConstraint => "BatchJobConstraint",
            Kind::BatchBudget => "BatchBudget",
            Kind::BatchCostModel => "BatchCostModel",
            Kind::BatchUserContext => "BatchUserContext",
        }
    }

    /// Parses a `kind:` value; `None` for anything that is not a kbatch kind.
    pub fn parse(kind: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == kind)
    }

    /// Whether objects of this kind live in a namespace.
    pub fn is_namespaced(self) -> bool {
        matches!(
            self,
            Kind::BatchJob | Kind::BatchQueue | Kind::BatchUserContext
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CustomResourceDefinitions of every kind, generated from these types.
///
/// ```
/// let crds = kbatch_policy::api::crds();
/// assert_eq!(crds.len(), 7);
/// assert_eq!(crds[0].metadata.name.as_deref(), Some("batchjobs.kbatch.k8s.io"));
/// ```
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![
        BatchJob::crd(),
        BatchQueue::crd(),
        BatchPriority::crd(),
        BatchJobConstraint::crd(),
        BatchBudget::crd(),
        BatchCostModel::crd(),
        BatchUserContext::crd(),
    ]
}
