//! What a refusal is made of: every broken rule, with the field it concerns.

use std::fmt;

/// A stable, machine-readable code for why a rule was broken.
///
/// The codes are part of kbatch's interface (tests, dashboards and scripts match on them):
/// add new ones, never rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// A required field is missing or empty.
    Required,
    /// A value does not parse or is not one of the allowed values.
    Invalid,
    /// A number is outside its allowed range.
    OutOfRange,
    /// Two list entries share a name or key that must be unique.
    Duplicate,
    /// A name is not a valid DNS-1123 label.
    InvalidName,
    /// A field was changed that may not change after creation.
    Immutable,
    /// The job breaks one of its queue's constraints.
    ConstraintViolated,
    /// A constraint names a field kbatch does not know.
    UnknownConstraintField,
    /// A constraint uses an operator kbatch does not know, or one its field does not allow.
    UnknownOperator,
    /// A constraint has the wrong number of values for its operator.
    WrongArity,
    /// The named queue does not exist in the job's namespace.
    QueueNotFound,
    /// A queue names a BatchJobConstraint that does not exist.
    ConstraintNotFound,
    /// The queue refuses new jobs (`pauseAdmission`).
    QueuePaused,
    /// The cluster already holds the maximum number of unfinished BatchJobs.
    TooManyJobs,
    /// The job's dependencies form a cycle.
    DependencyCycle,
    /// The object still has referrers and cannot be deleted.
    InUse,
    /// The referenced object is being deleted and cannot gain new referrers.
    ReferenceBeingDeleted,
    /// The requester is not allowed to do this.
    Forbidden,
    /// The object could not be decoded at all.
    Undecodable,
}

impl Reason {
    /// The code as written in responses and in `kbatch check` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Required => "Required",
            Reason::Invalid => "Invalid",
            Reason::OutOfRange => "OutOfRange",
            Reason::Duplicate => "Duplicate",
            Reason::InvalidName => "InvalidName",
            Reason::Immutable => "Immutable",
            Reason::ConstraintViolated => "ConstraintViolated",
            Reason::UnknownConstraintField => "UnknownConstraintField",
            Reason::UnknownOperator => "UnknownOperator",
            Reason::WrongArity => "WrongArity",
            Reason::QueueNotFound => "QueueNotFound",
            Reason::ConstraintNotFound => "ConstraintNotFound",
            Reason::QueuePaused => "QueuePaused",
            Reason::TooManyJobs => "TooManyJobs",
            Reason::DependencyCycle => "DependencyCycle",
            Reason::InUse => "InUse",
            Reason::ReferenceBeingDeleted => "ReferenceBeingDeleted",
            Reason::Forbidden => "Forbidden",
            Reason::Undecodable => "Undecodable",
        }
    }

    /// Whether the refusal is about who asks or what exists (HTTP 403) rather than about
    /// the object's content (HTTP 422).
    pub fn is_forbidden(self) -> bool {
        matches!(
            self,
            Reason::Forbidden
                | Reason::InUse
                | Reason::QueuePaused
                | Reason::TooManyJobs
                | Reason::ReferenceBeingDeleted
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One broken rule: where, which rule, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Path of the offending field, e.g. `spec.taskGroups[0].maxWallTime`.
    pub field: String,
    /// Stable code.
    pub reason: Reason,
    /// A sentence a practitioner can act on, naming the values involved.
    pub message: String,
}

impl Violation {
    /// A violation of `reason` at `field`.
    pub fn new(field: impl Into<String>, reason: Reason, message: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.field, self.message, self.reason)
    }
}

/// The path of task group `index` of a job, e.g. `spec.taskGroups[0]`.
pub(crate) fn task_group_path(index: usize) -> String {
    format!("spec.taskGroups[{index}]")
}

/// The path of the pod spec of task group `index`, e.g. `spec.taskGroups[0].template.spec`.
pub(crate) fn pod_spec_path(index: usize) -> String {
    format!("{}.template.spec", task_group_path(index))
}

/// Every violation found in one object, in the order found.
///
/// Validation never stops at the first broken rule: a practitioner fixes everything in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Violations(Vec<Violation>);

impl Violations {
    /// No violations yet.
    pub fn new() -> Self {
        Violations(Vec::new())
    }

    /// Records one violation.
    pub fn push(&mut self, field: impl Into<String>, reason: Reason, message: impl Into<String>) {
        self.0.push(Violation::new(field, reason, message));
    }

    /// Records all of `other`.
    pub fn extend(&mut self, other: Violations) {
        self.0.extend(other.0);
    }

    /// Whether nothing was found.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many were found.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The violations, in order.
    pub fn as_slice(&self) -> &[Violation] {
        &self.0
    }

    /// Iterates over the violations.
    pub fn iter(&self) -> std::slice::Iter<'_, Violation> {
        self.0.iter()
    }

    /// `Ok(())` when empty, else `Err(self)`.
    pub fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// Whether every violation is of the 403 kind (see [`Reason::is_forbidden`]).
    pub fn all_forbidden(&self) -> bool {
        !self.0.is_empty() && self.0.iter().all(|v| v.reason.is_forbidden())
    }
}

impl IntoIterator for Violations {
    type Item = Violation;
    type IntoIter = std::vec::IntoIter<Violation>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a Violations {
    type Item = &'a Violation;
    type IntoIter = std::slice::Iter<'a, Violation>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl From<Vec<Violation>> for Violations {
    fn from(v: Vec<Violation>) -> Self {
        Violations(v)
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}
