//! Reading an `AdmissionReview` request with its objects left undecoded.
//!
//! kube-core's `AdmissionReview<T>` decodes the objects as one type `T`; a kbatch endpoint
//! receives seven kinds, and decoding them as `DynamicObject` would build a `serde_json::Value`
//! tree only to convert it again. So the envelope is read first with the objects kept as raw
//! JSON, and each object is then decoded once, straight into its typed kind.

use k8s_openapi::api::authentication::v1::UserInfo;
use kube::core::GroupVersionKind;
use kube::core::admission::Operation;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// The parts of `admission.k8s.io/v1` `AdmissionReview` that decisions use.
#[derive(Debug, Deserialize)]
pub struct ReviewEnvelope<'a> {
    /// Must be `admission.k8s.io/v1`.
    #[serde(rename = "apiVersion", default)]
    pub api_version: Cow<'a, str>,
    /// Must be `AdmissionReview`.
    #[serde(default)]
    pub kind: Cow<'a, str>,
    /// The request; absent in a malformed review.
    #[serde(borrow)]
    pub request: Option<RequestEnvelope<'a>>,
}

/// One admission request, objects still raw.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestEnvelope<'a> {
    /// Echoed in the response.
    pub uid: Cow<'a, str>,
    /// The object's kind.
    pub kind: GroupVersionKind,
    /// `status` for status updates.
    #[serde(default)]
    pub sub_resource: Option<Cow<'a, str>>,
    /// Empty on a CREATE with `generateName`.
    #[serde(default)]
    pub name: Cow<'a, str>,
    /// Empty for cluster-scoped kinds.
    #[serde(default)]
    pub namespace: Option<Cow<'a, str>>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Who asks: the only identity kbatch trusts.
    pub user_info: UserInfo,
    /// The new object; `null` on DELETE.
    #[serde(borrow, default)]
    pub object: Option<&'a RawValue>,
    /// The stored object on UPDATE and DELETE.
    #[serde(borrow, default)]
    pub old_object: Option<&'a RawValue>,
    /// Whether nothing will be persisted (answered exactly like a real request).
    #[serde(default)]
    pub dry_run: bool,
}

impl RequestEnvelope<'_> {
    /// `"CREATE"`, `"UPDATE"`, … for metrics and logs.
    pub fn operation_str(&self) -> &'static str {
        match self.operation {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }

    /// The requesting user's name (empty when the API server sent none).
    pub fn username(&self) -> &str {
        self.user_info.username.as_deref().unwrap_or("")
    }

    /// The requesting user's groups.
    pub fn groups(&self) -> &[String] {
        self.user_info.groups.as_deref().unwrap_or(&[])
    }

    /// Whether this is a write to the `status` subresource.
    pub fn is_status_update(&self) -> bool {
        self.sub_resource.as_deref() == Some("status")
    }
}

/// Decodes an AdmissionReview body; the error says where and why it does not decode.
pub fn decode(body: &[u8]) -> Result<ReviewEnvelope<'_>, String> {
    let review: ReviewEnvelope<'_> = serde_json::from_slice(body)
        .map_err(|e| format!("the body is not an AdmissionReview: {e}"))?;
    if review.kind != "AdmissionReview" {
        return Err(format!(
            "expected kind AdmissionReview, got {:?}",
            review.kind
        ));
    }
    if review.api_version != "admission.k8s.io/v1" {
        return Err(format!(
            "expected apiVersion admission.k8s.io/v1, got {:?} (set admissionReviewVersions: [\"v1\"])",
            review.api_version
        ));
    }
    if review.request.is_none() {
        return Err("the AdmissionReview has no request".to_owned());
    }
    Ok(review)
}
