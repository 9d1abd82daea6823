//! Building the AdmissionReview answer.

use crate::patch_text::JsonPatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kbatch_policy::Violations;
use kube::core::Status;
use kube::core::response::{StatusCause, StatusDetails};
use serde::Serialize;

/// How a request was answered, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Allowed unchanged.
    Allowed,
    /// Allowed with a patch.
    Patched,
    /// Refused by policy.
    Denied,
    /// The review itself could not be read.
    Invalid,
}

impl Outcome {
    /// `"allowed"`, `"patched"`, `"denied"` or `"invalid"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Patched => "patched",
            Outcome::Denied => "denied",
            Outcome::Invalid => "invalid",
        }
    }

    /// Whether the API server is told to admit the object.
    pub fn is_allowed(self) -> bool {
        matches!(self, Outcome::Allowed | Outcome::Patched)
    }
}

/// The answer to one request body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// 200 for any decoded AdmissionReview (allowed or denied); 400 for an undecodable one.
    pub http_status: u16,
    /// JSON body: an AdmissionReview, or for a 400 a Status with the reason.
    pub body: Vec<u8>,
    /// Metric label: the object's kind, or `unknown`.
    pub kind: &'static str,
    /// Metric label: CREATE, UPDATE, DELETE, CONNECT or `unknown`.
    pub operation: &'static str,
    /// Metric label.
    pub outcome: Outcome,
    /// For logs: the request uid.
    pub uid: String,
    /// For logs: the object's namespace.
    pub namespace: String,
    /// For logs: the object's name.
    pub name: String,
}

/// What a decision produced, before serialisation.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub violations: Violations,
    pub patch: Option<JsonPatch>,
    pub warnings: Vec<String>,
}

impl Verdict {
    pub fn allow() -> Verdict {
        Verdict::default()
    }

    /// Allowed when `violations` is empty, denied otherwise.
    pub fn of(violations: Violations) -> Verdict {
        Verdict {
            violations,
            ..Verdict::default()
        }
    }
}

/// Identifies the object in a denial.
pub(crate) struct Subject<'a> {
    pub kind: &'a str,
    pub name: &'a str,
}

/// The `admission.k8s.io/v1` AdmissionReview answer to a denied request. The denial's
/// `status` is kube-core's `Status`. (kube-core's `AdmissionResponse` can only be started from
/// its own typed request.)
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DenialReply<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: DenialBody<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DenialBody<'a> {
    uid: &'a str,
    allowed: bool,
    status: Status,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    warnings: &'a [String],
}

/// What an unexpected serialisation error is answered with: a refusal, never an admission of
/// an undefaulted object.
const FALLBACK_DENIAL: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false}}"#;

/// Serialises the verdict as an AdmissionReview response echoing `uid`.
pub(crate) fn respond(uid: &str, subject: &Subject<'_>, verdict: Verdict) -> (Vec<u8>, Outcome) {
    if !verdict.violations.is_empty() {
        let status = denial_status(subject, &verdict.violations);
        return (denial(uid, status, &verdict.warnings), Outcome::Denied);
    }
    let patch = verdict.patch.filter(|p| !p.is_empty());
    let outcome = if patch.is_some() {
        Outcome::Patched
    } else {
        Outcome::Allowed
    };
    match admission(uid, patch.as_ref(), &verdict.warnings) {
        Ok(body) => (body, outcome),
        Err(e) => {
            let status =
                Status::failure(&format!("internal error answering: {e}"), "InternalError")
                    .with_code(500);
            (denial(uid, status, &verdict.warnings), Outcome::Denied)
        }
    }
}

fn denial(uid: &str, status: Status, warnings: &[String]) -> Vec<u8> {
    let reply = DenialReply {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response: DenialBody {
            uid,
            allowed: false,
            status,
            warnings,
        },
    };
    // Only strings, numbers and booleans are serialised: this cannot fail.
    serde_json::to_vec(&reply).unwrap_or_else(|_| FALLBACK_DENIAL.to_vec())
}

/// The answer admitting the request, with the patch in base64 (Go's JSON form of a
/// `[]byte`). Written directly rather than derived: base64 needs no escaping, and scanning it
/// for characters to escape, or validating it as a `RawValue`, cost more than encoding it.
fn admission(
    uid: &str,
    patch: Option<&JsonPatch>,
    warnings: &[String],
) -> Result<Vec<u8>, AnswerError> {
    let encoded_len = match patch {
        Some(p) => base64::encoded_len(p.as_bytes().len(), true).ok_or(AnswerError::TooLarge)?,
        None => 0,
    };
    let mut body = Vec::with_capacity(160 + uid.len() + encoded_len);
    body.extend_from_slice(
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#,
    );
    serde_json::to_writer(&mut body, uid)?;
    body.extend_from_slice(br#","allowed":true"#);
    if let Some(patch) = patch {
        body.extend_from_slice(br#","patch":""#);
        let start = body.len();
        body.resize(start + encoded_len, 0);
        BASE64.encode_slice(patch.as_bytes(), &mut body[start..])?;
        body.extend_from_slice(br#"","patchType":"JSONPatch""#);
    }
    if !warnings.is_empty() {
        body.extend_from_slice(br#","warnings":"#);
        serde_json::to_writer(&mut body, warnings)?;
    }
    body.extend_from_slice(b"}}");
    Ok(body)
}

/// Why an admitting answer could not be written (none of these happen in practice).
#[derive(Debug, thiserror::Error)]
enum AnswerError {
    #[error("the patch is too large to encode")]
    TooLarge,
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Base64(#[from] base64::EncodeSliceError),
}

fn denial_status(subject: &Subject<'_>, violations: &Violations) -> Status {
    let (code, reason) = if violations.all_forbidden() {
        (403, "Forbidden")
    } else {
        (422, "Invalid")
    };
    let what = if subject.name.is_empty() {
        subject.kind.to_owned()
    } else {
        format!("{} {:?}", subject.kind, subject.name)
    };
    let message = format!("{what} is refused: {violations}");
    Status::failure(&message, reason)
        .with_code(code)
        .with_details(StatusDetails {
            name: subject.name.to_owned(),
            group: kbatch_policy::api::GROUP.to_owned(),
            kind: subject.kind.to_owned(),
            causes: violations
                .iter()
                .map(|v| StatusCause {
                    reason: v.reason.as_str().to_owned(),
                    message: v.message.clone(),
                    field: v.field.clone(),
                })
                .collect(),
            uid: String::new(),
            retry_after_seconds: 0,
        })
}

/// The body of a 400 answer for a review that cannot be read.
pub(crate) fn bad_request(reason: &str) -> Vec<u8> {
    let status = Status::failure(reason, "BadRequest").with_code(400);
    serde_json::to_vec(&status).unwrap_or_else(|_| reason.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::patch_text::PatchWriter;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn patch_of(values: &[String]) -> Option<JsonPatch> {
        let mut writer = PatchWriter::default();
        for (i, value) in values.iter().enumerate() {
            writer.add(&format!("/a/{i}"), value).unwrap();
        }
        Some(writer.finish())
    }

    proptest! {
        /// The written answer is the JSON of an admitting AdmissionReview response: the uid
        /// and warnings as JSON strings, the patch as the base64 of its text.
        #[test]
        fn an_admission_is_the_json_of_its_parts(
            uid in any::<String>(),
            values in proptest::collection::vec(any::<String>(), 0..4),
            warnings in proptest::collection::vec(any::<String>(), 0..3),
        ) {
            let subject = Subject { kind: "BatchJob", name: "j" };
            let verdict = Verdict { patch: patch_of(&values), warnings: warnings.clone(), ..Verdict::allow() };
            let (body, outcome) = respond(&uid, &subject, verdict);
            let read: Value = serde_json::from_slice(&body).unwrap();
            let mut expected = json!({
                "apiVersion": "admission.k8s.io/v1",
                "kind": "AdmissionReview",
                "response": { "uid": uid, "allowed": true },
            });
            if values.is_empty() {
                prop_assert_eq!(outcome, Outcome::Allowed);
            } else {
                prop_assert_eq!(outcome, Outcome::Patched);
                let text = patch_of(&values).unwrap();
                expected["response"]["patch"] = BASE64.encode(text.as_bytes()).into();
                expected["response"]["patchType"] = "JSONPatch".into();
            }
            if !warnings.is_empty() {
                expected["response"]["warnings"] = warnings.into();
            }
            prop_assert_eq!(read, expected);
        }
    }

    #[test]
    fn a_denial_carries_status_code_and_causes() {
        let mut violations = Violations::new();
        violations.push("spec.x", kbatch_policy::Reason::Invalid, "bad x");
        let subject = Subject {
            kind: "BatchJob",
            name: "j",
        };
        let (body, outcome) = respond("u-1", &subject, Verdict::of(violations));
        assert_eq!(outcome, Outcome::Denied);
        let read: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(read["response"]["uid"], "u-1");
        assert_eq!(read["response"]["allowed"], false);
        assert_eq!(read["response"]["status"]["code"], 422);
        assert_eq!(
            read["response"]["status"]["details"]["causes"][0]["field"],
            "spec.x"
        );
        assert!(read["response"].get("patch").is_none());
    }
}
