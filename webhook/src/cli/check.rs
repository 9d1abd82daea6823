//! `kbatch check`: the webhook's defaulting and validation, offline, over manifest files.

use anyhow::Context;
use kbatch_manifests::{Document, DocumentError, Object, load_policy, read_paths};
use kbatch_policy::api::{BatchJob, Kind};
use kbatch_policy::snapshot::PolicySet;
use kbatch_policy::submission::{job_namespace, submit_job, submit_job_as};
use kube::ResourceExt;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

/// How a check ended, as the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Every job is accepted (exit 0).
    Accepted,
    /// At least one job is refused (exit 1).
    Refused,
}

/// Options of `kbatch check`.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Directory (or file) of policy objects.
    pub policy: PathBuf,
    /// Files and directories of jobs.
    pub paths: Vec<PathBuf>,
    /// Print the defaulted accepted jobs as YAML.
    pub yaml: bool,
    /// Check as this user: their BatchUserContext defaults and checks the pod templates.
    pub user: Option<String>,
    /// With `user`: let a user without a context through, as `serve` can be configured to.
    pub allow_users_without_context: bool,
}

impl CheckOptions {
    /// Defaults and validates one job exactly as the webhook's mutate-then-validate round.
    fn submit(
        &self,
        policy: &PolicySet,
        job: &BatchJob,
    ) -> Result<BatchJob, kbatch_policy::Violations> {
        match &self.user {
            Some(user) => submit_job_as(policy, job, user, self.allow_users_without_context),
            None => submit_job(policy, job),
        }
    }
}

/// Runs the check, writing refusals (and `-o yaml` output) to `out` and notes to `err`.
///
/// `Err` means the input could not be read (exit 2).
pub fn run(
    options: &CheckOptions,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<CheckOutcome> {
    let loaded = load_policy(&options.policy)
        .with_context(|| format!("reading policy objects from {}", options.policy.display()))?;
    for (doc, e) in loaded.unusable() {
        writeln!(
            err,
            "warning: {}: ignoring policy object {:?}: {e}",
            location(doc, &loaded.documents),
            label(doc)
        )?;
    }
    let policy = loaded.policy;
    let docs = read_paths(&options.paths).context("reading the jobs to check")?;
    let mut refused = 0usize;
    let mut checked = 0usize;
    let mut accepted_yaml = Vec::new();
    for doc in &docs {
        let at = location(doc, &docs);
        let name = label(doc);
        match &doc.object {
            Ok(Object::BatchJob(job)) => {
                checked += 1;
                match options.submit(&policy, job) {
                    Ok(defaulted) => accepted_yaml.push(defaulted),
                    Err(violations) => {
                        refused += 1;
                        writeln!(out, "{at}: {name}: {violations}")?;
                        for queue in accepting_queues(options, &policy, job) {
                            writeln!(out, "{at}: {name}: hint: queue {queue:?} accepts this job")?;
                        }
                    }
                }
            }
            Err(DocumentError::Invalid {
                kind: Kind::BatchJob,
                violations,
            }) => {
                checked += 1;
                refused += 1;
                writeln!(out, "{at}: {name}: {violations}")?;
            }
            Err(DocumentError::Undecodable {
                kind: Kind::BatchJob,
                path,
                message,
            }) => {
                checked += 1;
                refused += 1;
                writeln!(out, "{at}: {name}: {path}: {message} (Undecodable)")?;
            }
            _ => {}
        }
    }
    if options.yaml {
        for job in &accepted_yaml {
            let yaml = serde_saphyr::to_string(job).context("rendering a job as YAML")?;
            write!(out, "---\n{yaml}")?;
        }
    }
    if checked == 0 {
        writeln!(err, "note: no BatchJobs found in the given paths")?;
    }
    Ok(if refused > 0 {
        CheckOutcome::Refused
    } else {
        CheckOutcome::Accepted
    })
}

/// `PATH` for a single-document file, `PATH:DOC` otherwise.
fn location(doc: &Document, all: &[Document]) -> String {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for d in all {
        *counts.entry(d.source.as_str()).or_default() += 1;
    }
    if counts.get(doc.source.as_str()).copied().unwrap_or(0) > 1 {
        format!("{}:{}", doc.source, doc.index)
    } else {
        doc.source.clone()
    }
}

/// The document's name as written (`generateName` followed by `*` without one).
fn label(doc: &Document) -> &str {
    doc.name.as_deref().unwrap_or("<unnamed>")
}

/// Other queues of the job's namespace that would accept it unchanged.
fn accepting_queues(options: &CheckOptions, policy: &PolicySet, job: &BatchJob) -> Vec<String> {
    let namespace = job_namespace(job);
    policy
        .queues_in(namespace)
        .map(|q| q.name_any())
        .filter(|q| *q != job.spec.batch_queue_name)
        .filter(|q| {
            let mut candidate = job.clone();
            candidate.spec.batch_queue_name = q.clone();
            options.submit(policy, &candidate).is_ok()
        })
        .collect()
}
