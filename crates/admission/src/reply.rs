//! Building the AdmissionReview answer.

use crate::patch_text::JsonPatch;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use kbatch_policy::Violations;
use kube::core::Status;
use kube::core::response::{StatusCause, StatusDetails};
use serde::Serialize;
use serde_json::value::RawValue;

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

/// The `admission.k8s.io/v1` AdmissionReview answer, as the API server reads it.
///
/// kube-core's `AdmissionResponse` can only be started from its own typed request and writes
/// the patch as an array of numbers; this writes the patch as base64 (Go's encoding of a
/// `[]byte`, a third of the size) and leaves out the `status` of an allowed request, which the
/// API server ignores. The denial's `status` is kube-core's `Status`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ReviewReply<'a> {
    api_version: &'static str,
    kind: &'static str,
    response: ResponseBody<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResponseBody<'a> {
    uid: &'a str,
    allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch: Option<Box<RawValue>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

/// Serialises the verdict as an AdmissionReview response echoing `uid`.
pub(crate) fn respond(uid: &str, subject: &Subject<'_>, verdict: Verdict) -> (Vec<u8>, Outcome) {
    let mut response = ResponseBody {
        uid,
        allowed: true,
        status: None,
        patch: None,
        patch_type: None,
        warnings: verdict.warnings,
    };
    let outcome = if !verdict.violations.is_empty() {
        response.allowed = false;
        response.status = Some(denial_status(subject, &verdict.violations));
        Outcome::Denied
    } else if let Some(patch) = verdict.patch.filter(|p| !p.is_empty()) {
        match base64_string(patch.as_bytes()) {
            Ok(encoded) => {
                response.patch = Some(encoded);
                response.patch_type = Some("JSONPatch");
                Outcome::Patched
            }
            Err(e) => {
                // Quoting base64 cannot fail; refuse rather than admit an undefaulted object
                // if it does.
                response.allowed = false;
                response.status = Some(
                    Status::failure(
                        &format!("internal error building the patch: {e}"),
                        "InternalError",
                    )
                    .with_code(500),
                );
                Outcome::Denied
            }
        }
    } else {
        Outcome::Allowed
    };
    let review = ReviewReply {
        api_version: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        response,
    };
    let body = serde_json::to_vec(&review).unwrap_or_else(|_| {
        // Only strings, numbers and booleans are serialised: this cannot fail.
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"","allowed":false}}"#.to_vec()
    });
    (body, outcome)
}

/// `bytes` as a JSON string of their base64 (Go's JSON form of a `[]byte`), to be written as
/// is: base64 needs no escaping, and scanning it for characters to escape cost more than
/// encoding it.
fn base64_string(bytes: &[u8]) -> Result<Box<RawValue>, serde_json::Error> {
    let mut quoted = String::with_capacity(bytes.len().div_ceil(3) * 4 + 2);
    quoted.push('"');
    BASE64.encode_string(bytes, &mut quoted);
    quoted.push('"');
    RawValue::from_string(quoted)
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
    use proptest::prelude::*;

    proptest! {
        /// Written as is, the quoted base64 reads back as the JSON string of the encoding.
        #[test]
        fn base64_string_is_the_json_string_of_the_encoding(
            bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        ) {
            let written = serde_json::to_string(&base64_string(&bytes).unwrap()).unwrap();
            let read: String = serde_json::from_str(&written).unwrap();
            prop_assert_eq!(BASE64.decode(&read).unwrap(), bytes.clone());
            prop_assert_eq!(written, serde_json::to_string(&BASE64.encode(&bytes)).unwrap());
        }
    }
}
