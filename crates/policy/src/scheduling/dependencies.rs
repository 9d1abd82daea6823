//! Evaluating a job's dependencies against the phases of the jobs it names.
//!
//! - `Success` (Slurm's afterok): every named job Succeeded; `Failure` (afternotok): every
//!   named job Failed; `Complete` (afterany): every named job finished either way. An item
//!   without a type means `Success`, as in the original API.
//! - Items of one entry are AND-ed, entries are OR-ed; an entry without items holds.
//! - An item can no longer hold once a named job reached the other terminal phase (or its
//!   type is unknown); an entry can no longer hold once one of its items cannot; the job's
//!   dependencies can no longer be met once no entry can.
//! - A named job that does not exist keeps the job waiting (it may be submitted later, e.g.
//!   by a pipeline submitting out of order); the message names it as "not found".

use crate::api::{JobDependency, JobPhase};
use crate::phase::DependencyState;
use std::fmt::Write as _;

/// A dependency type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DependencyType {
    /// The named jobs Succeeded.
    Success,
    /// The named jobs Failed.
    Failure,
    /// The named jobs finished, either way.
    Complete,
}

impl DependencyType {
    /// Reads `type`; unset means `Success`.
    ///
    /// ```
    /// use kbatch_policy::scheduling::DependencyType;
    /// assert_eq!(DependencyType::parse(None), Some(DependencyType::Success));
    /// assert_eq!(DependencyType::parse(Some("Complete")), Some(DependencyType::Complete));
    /// assert_eq!(DependencyType::parse(Some("afterok")), None);
    /// ```
    pub fn parse(text: Option<&str>) -> Option<DependencyType> {
        match text {
            None | Some("Success") => Some(DependencyType::Success),
            Some("Failure") => Some(DependencyType::Failure),
            Some("Complete") => Some(DependencyType::Complete),
            Some(_) => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            DependencyType::Success => "Success",
            DependencyType::Failure => "Failure",
            DependencyType::Complete => "Complete",
        }
    }
}

/// Where one named job stands for one item.
enum ItemState {
    Met,
    Pending,
    Impossible,
}

fn item_state(kind: DependencyType, phase: Option<Option<JobPhase>>) -> ItemState {
    match (kind, phase) {
        (DependencyType::Success, Some(Some(JobPhase::Succeeded)))
        | (DependencyType::Failure, Some(Some(JobPhase::Failed)))
        | (DependencyType::Complete, Some(Some(JobPhase::Succeeded | JobPhase::Failed))) => {
            ItemState::Met
        }
        (DependencyType::Success, Some(Some(JobPhase::Failed)))
        | (DependencyType::Failure, Some(Some(JobPhase::Succeeded))) => ItemState::Impossible,
        _ => ItemState::Pending,
    }
}

fn phase_text(phase: Option<Option<JobPhase>>) -> String {
    match phase {
        None => "not found".to_owned(),
        Some(None) => "not yet queued".to_owned(),
        Some(Some(p)) => format!("{p:?}"),
    }
}

/// Evaluates `dependencies`; `lookup(name)` gives the phase of the job `name` of the same
/// namespace: `None` when there is no such job, `Some(None)` when it has no phase yet.
///
/// ```
/// use kbatch_policy::api::{JobDependency, JobPhase};
/// use kbatch_policy::phase::DependencyState;
/// use kbatch_policy::scheduling::evaluate_dependencies;
///
/// let deps: Vec<JobDependency> = serde_json::from_value(serde_json::json!([
///     {"dependencyItems": [{"names": ["render-frames"], "type": "Success"}]}
/// ])).unwrap();
/// let running = |_: &str| Some(Some(JobPhase::Running));
/// assert_eq!(
///     evaluate_dependencies(&deps, running),
///     DependencyState::Pending("waiting for render-frames (Running)".into())
/// );
/// let failed = |_: &str| Some(Some(JobPhase::Failed));
/// assert_eq!(
///     evaluate_dependencies(&deps, failed),
///     DependencyState::Failed("dependency can no longer be met: needs Success of render-frames, which Failed".into())
/// );
/// ```
pub fn evaluate_dependencies<'a>(
    dependencies: &'a [JobDependency],
    lookup: impl Fn(&'a str) -> Option<Option<JobPhase>>,
) -> DependencyState {
    if dependencies.is_empty() {
        return DependencyState::Met;
    }
    let mut waiting: Vec<String> = Vec::new();
    let mut broken: Vec<String> = Vec::new();
    for entry in dependencies {
        let mut entry_waiting: Vec<String> = Vec::new();
        let mut entry_broken: Option<String> = None;
        'items: for item in &entry.dependency_items {
            let Some(kind) = DependencyType::parse(item.type_.as_deref()) else {
                entry_broken = Some(format!(
                    "unknown dependency type {:?} (expected Success, Failure or Complete)",
                    item.type_.as_deref().unwrap_or_default()
                ));
                break 'items;
            };
            for name in &item.names {
                let phase = lookup(name);
                match item_state(kind, phase) {
                    ItemState::Met => {}
                    ItemState::Impossible => {
                        entry_broken = Some(format!(
                            "needs {} of {name}, which {}",
                            kind.as_str(),
                            phase_text(phase)
                        ));
                        break 'items;
                    }
                    ItemState::Pending => {
                        let goal = match kind {
                            DependencyType::Success => "",
                            DependencyType::Failure => " to fail",
                            DependencyType::Complete => " to finish",
                        };
                        entry_waiting.push(format!("{name}{goal} ({})", phase_text(phase)));
                    }
                }
            }
        }
        match entry_broken {
            Some(why) => broken.push(why),
            None if entry_waiting.is_empty() => return DependencyState::Met,
            None => waiting.push(entry_waiting.join(", ")),
        }
    }
    if waiting.is_empty() {
        let mut message = if broken.len() == 1 {
            "dependency can no longer be met: ".to_owned()
        } else {
            "no dependency alternative can be met: ".to_owned()
        };
        let _ = write!(message, "{}", broken.join("; "));
        DependencyState::Failed(message)
    } else {
        DependencyState::Pending(format!("waiting for {}", waiting.join(" or ")))
    }
}
