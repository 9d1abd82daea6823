//! Dispatch on endpoint, kind and operation; every rule comes from `kbatch-policy`.

use crate::envelope::{self, RequestEnvelope};
use crate::objects::Typed;
use crate::patch::{Defaultable, PatchError, job_patch, member_patch};
use crate::reply::{Outcome, Reply, Subject, Verdict, bad_request, respond};
use crate::{AdmissionConfig, Endpoint};
use kbatch_policy::access::{Requester, Role, check_job_update_access, check_status_write};
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue,
    BatchUserContext, Kind, SUBMITTED_BY_ANNOTATION,
};
use kbatch_policy::references::{check_budget_references, check_queue_references, guard_delete};
use kbatch_policy::security::{default_job_security, validate_job_security};
use kbatch_policy::snapshot::PolicySet;
use kbatch_policy::submission::{
    MAX_NAME_LENGTH, default_job, hold_for_refund, validate_job_create,
};
use kbatch_policy::validation::{
    validate_budget, validate_constraint_object, validate_cost_model, validate_job_update,
    validate_priority, validate_queue, validate_user_context,
};
use kbatch_policy::{Reason, Violations};
use kube::core::admission::Operation;

/// Answers one AdmissionReview body.
///
/// Undecodable reviews get HTTP 400 with the reason; everything else an AdmissionReview
/// response (HTTP 200) that allows, patches or denies. `dryRun` requests are answered exactly
/// like real ones: deciding has no side effects.
pub fn review(
    policy: &PolicySet,
    config: &AdmissionConfig,
    endpoint: Endpoint,
    body: &[u8],
) -> Reply {
    let mut envelope = match envelope::decode(body) {
        Ok(e) => e,
        Err(reason) => {
            return Reply {
                http_status: 400,
                body: bad_request(&reason),
                kind: "unknown",
                operation: "unknown",
                outcome: Outcome::Invalid,
                uid: String::new(),
                namespace: String::new(),
                name: String::new(),
            };
        }
    };
    let Some(req) = envelope.request.as_mut() else {
        // envelope::decode refuses reviews without a request.
        return Reply {
            http_status: 400,
            body: bad_request("the AdmissionReview has no request"),
            kind: "unknown",
            operation: "unknown",
            outcome: Outcome::Invalid,
            uid: String::new(),
            namespace: String::new(),
            name: String::new(),
        };
    };
    let kind = req.kbatch_kind();
    let verdict = match kind {
        None => Verdict {
            warnings: vec![format!(
                "kbatch admission does not handle {}/{}; check the webhook configuration's rules",
                req.kind.group, req.kind.kind
            )],
            ..Verdict::allow()
        },
        Some(kind) => match endpoint {
            Endpoint::Mutate => mutate(policy, req, kind),
            Endpoint::Validate => validate(policy, config, req, kind),
        },
    };
    let kind_label: &'static str = kind.map_or("unknown", Kind::as_str);
    let subject = Subject {
        kind: kind_label,
        name: &req.name,
    };
    let (body, outcome) = respond(&req.uid, &subject, verdict);
    Reply {
        http_status: 200,
        body,
        kind: kind_label,
        operation: req.operation_str(),
        outcome,
        uid: req.uid.to_string(),
        namespace: req.namespace.as_deref().unwrap_or("").to_owned(),
        name: req.name.to_string(),
    }
}

/// Runs `f`, turning a decoding failure into a denial.
fn decided(f: impl FnOnce() -> Result<Verdict, Violations>) -> Verdict {
    f().unwrap_or_else(Verdict::of)
}

fn mutate(policy: &PolicySet, req: &mut RequestEnvelope<'_>, kind: Kind) -> Verdict {
    if req.operation != Operation::Create || req.is_status_update() {
        return Verdict::allow();
    }
    decided(|| match kind {
        Kind::BatchJob => {
            let mut job: BatchJob = req.take_object()?;
            #[cfg(debug_assertions)]
            let submitted = serde_json::to_value(&job).map_err(reencoding)?;
            let before = Defaultable::of(&job);
            default_job(policy, &mut job);
            default_job_security(policy, &mut job, req.username());
            hold_for_refund(&mut job);
            job.metadata
                .annotations
                .get_or_insert_with(Default::default)
                .insert(
                    SUBMITTED_BY_ANNOTATION.to_owned(),
                    req.username().to_owned(),
                );
            #[cfg(debug_assertions)]
            let defaulted = serde_json::to_value(&job).map_err(reencoding)?;
            let patch = job_patch(before, job).map_err(unpatchable)?;
            #[cfg(debug_assertions)]
            crate::patch::check_reproduces(submitted, &patch, &defaulted);
            Ok(Verdict {
                patch: Some(patch),
                ..Verdict::allow()
            })
        }
        Kind::BatchBudget => {
            let budget: BatchBudget = req.take_object()?;
            let start = budget.spec.budget_start_time.as_ref();
            let defaulted = start.or(budget.metadata.creation_timestamp.as_ref());
            let patch = member_patch(&["spec"], "budgetStartTime", &start, &defaulted)
                .map_err(reencoding)?;
            Ok(Verdict {
                patch: Some(patch),
                ..Verdict::allow()
            })
        }
        _ => Ok(Verdict::allow()),
    })
}

fn unpatchable(e: PatchError) -> Violations {
    let mut v = Violations::new();
    v.push("", Reason::Undecodable, e.to_string());
    v
}

fn reencoding(e: serde_json::Error) -> Violations {
    unpatchable(PatchError::Encoding(e))
}

fn validate(
    policy: &PolicySet,
    config: &AdmissionConfig,
    req: &mut RequestEnvelope<'_>,
    kind: Kind,
) -> Verdict {
    if req.is_status_update() {
        // The controller owns status; spec rules do not apply to it.
        return Verdict::of(check_status_write(kind.as_str(), &requester(req, config)));
    }
    match req.operation {
        Operation::Delete => Verdict::of(guard_delete(
            policy,
            kind,
            req.namespace.as_deref(),
            &req.name,
        )),
        Operation::Connect => Verdict::allow(),
        Operation::Create | Operation::Update => decided(|| match kind {
            Kind::BatchJob => validate_job_write(policy, config, req),
            Kind::BatchQueue => {
                let queue: BatchQueue = req.take_object()?;
                let previous: Option<BatchQueue> = updated(req)?;
                let mut v = validate_queue(&queue.spec);
                if req.name.len() > MAX_NAME_LENGTH {
                    v.push(
                        "metadata.name",
                        Reason::Invalid,
                        format!("BatchQueue names are at most {MAX_NAME_LENGTH} characters (they label the Jobs of their jobs)"),
                    );
                }
                let (refs, warnings) =
                    check_queue_references(policy, &queue.spec, previous.as_ref().map(|q| &q.spec));
                v.extend(refs);
                Ok(Verdict {
                    violations: v,
                    warnings,
                    patch: None,
                })
            }
            Kind::BatchBudget => {
                let budget: BatchBudget = req.take_object()?;
                let previous: Option<BatchBudget> = updated(req)?;
                let mut v = validate_budget(&budget.spec);
                let (refs, warnings) = check_budget_references(
                    policy,
                    &budget.spec,
                    previous.as_ref().map(|b| &b.spec),
                );
                v.extend(refs);
                Ok(Verdict {
                    violations: v,
                    warnings,
                    patch: None,
                })
            }
            Kind::BatchPriority => Ok(Verdict::of(validate_priority(
                &req.take_object::<BatchPriority>()?.spec,
            ))),
            Kind::BatchJobConstraint => Ok(Verdict::of(validate_constraint_object(
                &req.take_object::<BatchJobConstraint>()?.spec,
            ))),
            Kind::BatchCostModel => Ok(Verdict::of(validate_cost_model(
                &req.take_object::<BatchCostModel>()?.spec,
            ))),
            Kind::BatchUserContext => Ok(Verdict::of(validate_user_context(
                &req.take_object::<BatchUserContext>()?.spec,
            ))),
        }),
    }
}

/// The stored object of an UPDATE; `None` on CREATE.
fn updated<T: Typed>(req: &mut RequestEnvelope<'_>) -> Result<Option<T>, Violations> {
    match req.operation {
        Operation::Update => req.take_old_object().map(Some),
        _ => Ok(None),
    }
}

fn validate_job_write(
    policy: &PolicySet,
    config: &AdmissionConfig,
    req: &mut RequestEnvelope<'_>,
) -> Result<Verdict, Violations> {
    let job: BatchJob = req.take_object()?;
    let old: Option<BatchJob> = updated(req)?;
    let user = req.username();
    let recorded = submitter(&job);
    let annotation = || format!("metadata.annotations[{SUBMITTED_BY_ANNOTATION}]");
    let mut v = Violations::new();
    match old {
        None => {
            v.extend(validate_job_create(policy, &job));
            v.extend(validate_job_security(
                policy,
                &job,
                user,
                config.allow_users_without_context,
            ));
            match recorded {
                _ if user.is_empty() => {
                    v.push(annotation(), Reason::Forbidden, "the request names no user")
                }
                None => v.push(
                    annotation(),
                    Reason::Forbidden,
                    "the submitter was not recorded: is kbatch's mutating webhook installed?",
                ),
                Some(recorded) if recorded != user => v.push(
                    annotation(),
                    Reason::Forbidden,
                    format!(
                        "the recorded submitter {recorded:?} is not the requesting user {user:?}"
                    ),
                ),
                Some(_) => {}
            }
        }
        Some(old) => {
            v.extend(validate_job_update(&old, &job));
            v.extend(check_job_update_access(&old, &job, &requester(req, config)));
        }
    }
    Ok(Verdict::of(v))
}

/// The requester and what they are to kbatch, by the operator's configuration.
fn requester<'a>(req: &'a RequestEnvelope<'_>, config: &AdmissionConfig) -> Requester<'a> {
    let name = req.username();
    let listed = |users: &[String]| users.iter().any(|u| u == name);
    let role = if listed(&config.controller_users) {
        Role::Controller
    } else if listed(&config.garbage_collector_users) {
        Role::GarbageCollector
    } else if req
        .groups()
        .any(|g| config.admin_groups.iter().any(|admin| admin == g))
    {
        Role::Administrator
    } else {
        Role::User
    };
    Requester { name, role }
}

fn submitter(job: &BatchJob) -> Option<&str> {
    job.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(SUBMITTED_BY_ANNOTATION))
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::envelope::tests::READ_WHOLE;
    use std::path::PathBuf;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/admission")
    }

    fn answer(policy: &PolicySet, endpoint: Endpoint, body: &[u8], whole: bool) -> Reply {
        READ_WHOLE.set(whole);
        let reply = review(policy, &AdmissionConfig::default(), endpoint, body);
        READ_WHOLE.set(false);
        reply
    }

    /// The admitted reading skips template fields no rule reads (see `admitted_job`): every
    /// recorded request, and its validation after the mutating webhook's patch, must be
    /// answered byte for byte as with the whole object.
    #[test]
    fn every_fixture_gets_the_same_answer_from_both_readings() {
        let text = std::fs::read_to_string(fixtures().join("objects-policy.yaml")).unwrap();
        let docs = kbatch_manifests::parse_documents("objects-policy.yaml", &text).unwrap();
        let policy = kbatch_manifests::policy_set(docs.iter().map(|d| d.object.as_ref().unwrap()));
        let mut compared = 0;
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            if !name.ends_with(".json") || name.ends_with(".meta.json") {
                continue;
            }
            let body = std::fs::read(&path).unwrap();
            let mut bodies = vec![body.clone()];
            let mutated = answer(&policy, Endpoint::Mutate, &body, false);
            let reply: serde_json::Value = serde_json::from_slice(&mutated.body).unwrap();
            if let Some(patch) = reply["response"]["patch"].as_str() {
                use base64::Engine;
                let patch = base64::engine::general_purpose::STANDARD
                    .decode(patch)
                    .unwrap();
                let patch: json_patch::Patch = serde_json::from_slice(&patch).unwrap();
                let mut review: serde_json::Value = serde_json::from_slice(&body).unwrap();
                json_patch::patch(&mut review["request"]["object"], &patch).unwrap();
                bodies.push(serde_json::to_vec(&review).unwrap());
            }
            for body in &bodies {
                for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
                    let admitted = answer(&policy, endpoint, body, false);
                    let whole = answer(&policy, endpoint, body, true);
                    assert_eq!(
                        String::from_utf8_lossy(&admitted.body),
                        String::from_utf8_lossy(&whole.body),
                        "{name} on {endpoint:?}"
                    );
                    compared += 1;
                }
            }
        }
        // 42 recorded requests, and a patched copy of each one the mutating webhook patched.
        assert!(compared >= 84, "{compared} answers compared");
    }
}
