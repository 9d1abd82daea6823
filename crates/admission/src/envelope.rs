//! Reading an `AdmissionReview` request and its objects in one pass.
//!
//! kube-core's `AdmissionReview<T>` decodes the objects as one type `T`; a kbatch endpoint
//! receives seven kinds, and decoding them as `DynamicObject` would build a `serde_json::Value`
//! tree only to convert it again. The API server writes `request.kind` before `object` and
//! `oldObject` (Go encodes struct fields in declaration order), so the request is read with a
//! hand-written visitor that, once it has seen the kind, decodes each object straight into its
//! typed kind: one pass over the body, no intermediate tree. A BatchJob also waits for the
//! `operation`, also written before the objects, which says how much of it to read (see
//! [`Reading`]).
//!
//! That fast path gives up on the first error. Only then is the body read again the careful
//! way ([`decode`] falls back to [`decode_raw`]): objects kept as raw JSON, each decoded with
//! the field path of its error, so that a denial can name the offending field. The careful way
//! is also what a review gets whose `kind` comes after its objects.

use crate::admitted_job::Reading;
use crate::objects::{self, AnyObject};
use kbatch_policy::Violations;
use kbatch_policy::api::{GROUP, Kind};
use kube::core::admission::Operation;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;

/// The parts of `admission.k8s.io/v1` `AdmissionReview` that decisions use.
#[derive(Debug)]
pub(crate) struct ReviewEnvelope<'a> {
    /// Must be `admission.k8s.io/v1`.
    pub api_version: Cow<'a, str>,
    /// Must be `AdmissionReview`.
    pub kind: Cow<'a, str>,
    /// The request; absent in a malformed review.
    pub request: Option<RequestEnvelope<'a>>,
}

/// A request's `object` or `oldObject`, as far as it has been decoded.
#[derive(Debug)]
pub(crate) enum Slot<'a> {
    /// `null` or absent (e.g. `object` on DELETE, `oldObject` on CREATE).
    Absent,
    /// Not decoded yet: the careful path, or a kind kbatch does not serve.
    Raw(&'a RawValue),
    /// Decoded in the single pass.
    Decoded(AnyObject),
}

/// One admission request.
#[derive(Debug)]
pub(crate) struct RequestEnvelope<'a> {
    /// Echoed in the response.
    pub uid: Cow<'a, str>,
    /// The object's kind.
    pub kind: Gvk<'a>,
    /// `status` for status updates.
    pub sub_resource: Option<Cow<'a, str>>,
    /// Empty on a CREATE with `generateName`.
    pub name: Cow<'a, str>,
    /// Empty for cluster-scoped kinds.
    pub namespace: Option<Cow<'a, str>>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Who asks: the only identity kbatch trusts.
    pub user_info: User<'a>,
    /// The new object; absent on DELETE.
    pub object: Slot<'a>,
    /// The stored object on UPDATE and DELETE.
    pub old_object: Slot<'a>,
    // `dryRun` is not read: deciding has no side effects, so a dry run is answered exactly
    // like a real request.
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
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.user_info.groups.iter().map(|g| g.0.as_ref())
    }

    /// Whether this is a write to the `status` subresource.
    pub fn is_status_update(&self) -> bool {
        self.sub_resource.as_deref() == Some("status")
    }

    /// The kbatch kind of the request, `None` for anything else.
    pub fn kbatch_kind(&self) -> Option<Kind> {
        kbatch_kind(&self.kind)
    }

    /// Takes the new object, decoded as `T`; a denial naming the field when it does not decode.
    pub fn take_object<T: objects::Typed>(&mut self) -> Result<T, Violations> {
        take(&mut self.object, "object", reading_for(&self.operation))
    }

    /// Takes the stored object, decoded as `T`.
    pub fn take_old_object<T: objects::Typed>(&mut self) -> Result<T, Violations> {
        take(
            &mut self.old_object,
            "oldObject",
            reading_for(&self.operation),
        )
    }
}

/// How a BatchJob of a request with `operation` is read: whole when an UPDATE's spec is to be
/// compared.
fn reading_for(operation: &Operation) -> Reading {
    #[cfg(test)]
    if tests::READ_WHOLE.get() {
        return Reading::Whole;
    }
    match operation {
        Operation::Create | Operation::Delete | Operation::Connect => Reading::Admitted,
        Operation::Update => Reading::Whole,
    }
}

fn take<T: objects::Typed>(
    slot: &mut Slot<'_>,
    which: &str,
    reading: Reading,
) -> Result<T, Violations> {
    match std::mem::replace(slot, Slot::Absent) {
        Slot::Decoded(object) => T::from_any(object).ok_or_else(|| {
            // Unreachable in practice: the slot was decoded as the request's kind, and callers
            // choose T from that same kind.
            objects::undecodable(which, "", "it was decoded as a different kind")
        }),
        Slot::Raw(raw) => objects::decode(raw, which, reading),
        Slot::Absent => Err(objects::missing(which)),
    }
}

fn kbatch_kind(gvk: &Gvk<'_>) -> Option<Kind> {
    (gvk.group == GROUP)
        .then(|| Kind::parse(&gvk.kind))
        .flatten()
}

/// Decodes an AdmissionReview body; the error says where and why it does not decode.
pub(crate) fn decode(body: &[u8]) -> Result<ReviewEnvelope<'_>, String> {
    // One UTF-8 check of the whole body is cheaper than serde_json's check of each string.
    let Ok(text) = std::str::from_utf8(body) else {
        return decode_raw(body);
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let fast = (&mut de)
        .deserialize_map(ReviewVisitor { typed: true })
        .and_then(|review| de.end().map(|()| review));
    match fast {
        Ok(review) => checked(review),
        Err(_) => decode_raw(body),
    }
}

/// The careful decoding: objects kept raw, to be decoded one by one with error paths.
pub(crate) fn decode_raw(body: &[u8]) -> Result<ReviewEnvelope<'_>, String> {
    let mut de = serde_json::Deserializer::from_slice(body);
    (&mut de)
        .deserialize_map(ReviewVisitor { typed: false })
        .and_then(|review| de.end().map(|()| review))
        .map_err(|e| format!("the body is not an AdmissionReview: {e}"))
        .and_then(checked)
}

fn checked(review: ReviewEnvelope<'_>) -> Result<ReviewEnvelope<'_>, String> {
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

/// Borrows a string from the body when it has no escapes.
#[derive(Debug, Deserialize)]
pub(crate) struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// `request.kind`, borrowed from the body (kbatch serves one version: it is not read).
#[derive(Debug, Deserialize)]
pub(crate) struct Gvk<'a> {
    #[serde(borrow, default)]
    pub group: Cow<'a, str>,
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
}

/// `request.userInfo`: the name and groups the API server authenticated (`uid` and `extra`
/// are not used by any rule).
#[derive(Debug, Deserialize)]
pub(crate) struct User<'a> {
    #[serde(borrow, default)]
    pub username: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub groups: Vec<Text<'a>>,
}

/// Reads the review; `typed`: decode the objects as their kind once it is known (the single
/// pass), else keep them raw (the careful way).
struct ReviewVisitor {
    typed: bool,
}

impl<'de> Visitor<'de> for ReviewVisitor {
    type Value = ReviewEnvelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut api_version = None;
        let mut kind = None;
        let mut request = None;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match key.0.as_ref() {
                "apiVersion" => api_version = Some(map.next_value::<Text<'de>>()?.0),
                "kind" => kind = Some(map.next_value::<Text<'de>>()?.0),
                "request" => {
                    request = map.next_value_seed(OptionalRequest { typed: self.typed })?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ReviewEnvelope {
            api_version: api_version.unwrap_or_default(),
            kind: kind.unwrap_or_default(),
            request,
        })
    }
}

/// `request`, which may be `null`.
struct OptionalRequest {
    typed: bool,
}

impl<'de> DeserializeSeed<'de> for OptionalRequest {
    type Value = Option<RequestEnvelope<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for OptionalRequest {
    type Value = Option<RequestEnvelope<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an admission request or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer
            .deserialize_map(RequestVisitor { typed: self.typed })
            .map(Some)
    }
}

struct RequestVisitor {
    typed: bool,
}

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = RequestEnvelope<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an admission request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut uid = None;
        let mut kind: Option<Gvk<'de>> = None;
        let mut sub_resource = None;
        let mut name = None;
        let mut namespace = None;
        let mut operation = None;
        let mut user_info = None;
        let mut object = Slot::Absent;
        let mut old_object = Slot::Absent;
        while let Some(key) = map.next_key::<Text<'de>>()? {
            match key.0.as_ref() {
                "uid" => uid = Some(map.next_value::<Text<'de>>()?.0),
                "kind" => kind = Some(map.next_value()?),
                "subResource" => sub_resource = map.next_value::<Option<Text<'de>>>()?,
                "name" => name = map.next_value::<Option<Text<'de>>>()?,
                "namespace" => namespace = map.next_value::<Option<Text<'de>>>()?,
                "operation" => operation = Some(map.next_value()?),
                "userInfo" => user_info = Some(map.next_value()?),
                "object" | "oldObject" => {
                    let known = kind.as_ref().and_then(kbatch_kind).filter(|_| self.typed);
                    let typed_as = match (known, operation.as_ref()) {
                        (Some(kind), Some(operation)) => Some((kind, reading_for(operation))),
                        // A BatchJob's reading depends on the operation, which the API server
                        // writes before the objects; met first, the job is kept raw for `take`.
                        (Some(Kind::BatchJob), None) | (None, _) => None,
                        (Some(kind), None) => Some((kind, Reading::Whole)),
                    };
                    let slot = map.next_value_seed(SlotSeed { typed_as })?;
                    if key.0 == "object" {
                        object = slot;
                    } else {
                        old_object = slot;
                    }
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RequestEnvelope {
            uid: uid.ok_or_else(|| de::Error::missing_field("uid"))?,
            kind: kind.ok_or_else(|| de::Error::missing_field("kind"))?,
            sub_resource: sub_resource.map(|t| t.0),
            name: name.map(|t| t.0).unwrap_or_default(),
            namespace: namespace.map(|t| t.0),
            operation: operation.ok_or_else(|| de::Error::missing_field("operation"))?,
            user_info: user_info.ok_or_else(|| de::Error::missing_field("userInfo"))?,
            object,
            old_object,
        })
    }
}

/// Decodes `object` or `oldObject`: typed when the kind is known, raw otherwise.
struct SlotSeed {
    typed_as: Option<(Kind, Reading)>,
}

impl<'de> DeserializeSeed<'de> for SlotSeed {
    type Value = Slot<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        match self.typed_as {
            Some((kind, reading)) => Ok(objects::decode_typed(kind, reading, deserializer)?
                .map_or(Slot::Absent, Slot::Decoded)),
            None => {
                Ok(Option::<&'de RawValue>::deserialize(deserializer)?
                    .map_or(Slot::Absent, Slot::Raw))
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use kbatch_policy::api::BatchJob;

    thread_local! {
        /// Makes this thread read every BatchJob whole, to compare both readings' answers.
        pub(crate) static READ_WHOLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    const JOB: &str = r#"{"apiVersion":"kbatch.k8s.io/v1beta1","kind":"BatchJob","metadata":{"name":"j","namespace":"ns"},"spec":{"batchQueueName":"default","taskGroups":[]}}"#;
    const GVK: &str = r#"{"group":"kbatch.k8s.io","version":"v1beta1","kind":"BatchJob"}"#;
    const USER: &str = r#"{"username":"alice"}"#;

    fn review(request: &str) -> String {
        format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{request}}}"#
        )
    }

    fn slots(body: &str) -> (&'static str, &'static str) {
        let review = decode(body.as_bytes()).unwrap();
        let req = review.request.unwrap();
        let name = |slot: &Slot<'_>| match slot {
            Slot::Absent => "absent",
            Slot::Raw(_) => "raw",
            Slot::Decoded(_) => "decoded",
        };
        (name(&req.object), name(&req.old_object))
    }

    #[test]
    fn objects_after_the_kind_are_decoded_in_the_single_pass() {
        let body = review(&format!(
            r#"{{"uid":"u","kind":{GVK},"operation":"UPDATE","userInfo":{USER},"object":{JOB},"oldObject":{JOB},"dryRun":true}}"#
        ));
        assert_eq!(slots(&body), ("decoded", "decoded"));
    }

    #[test]
    fn objects_before_the_kind_are_kept_raw_and_still_decode() {
        let body = review(&format!(
            r#"{{"uid":"u","object":{JOB},"oldObject":null,"kind":{GVK},"operation":"CREATE","userInfo":{USER}}}"#
        ));
        assert_eq!(slots(&body), ("raw", "absent"));
        let mut review = decode(body.as_bytes()).unwrap();
        let job: BatchJob = review.request.as_mut().unwrap().take_object().unwrap();
        assert_eq!(job.spec.batch_queue_name, "default");
    }

    #[test]
    fn a_job_before_the_operation_is_kept_raw_and_read_as_the_operation_needs() {
        // `args` is a template field no rule reads: only an UPDATE reads (and refuses) it.
        let job = JOB.replace(
            r#""taskGroups":[]"#,
            r#""taskGroups":[{"name":"g","template":{"spec":{"containers":[{"name":"c","args":7}]}}}]"#,
        );
        for (operation, decodes) in [("CREATE", true), ("DELETE", true), ("UPDATE", false)] {
            let body = review(&format!(
                r#"{{"uid":"u","kind":{GVK},"object":{job},"oldObject":null,"operation":"{operation}","userInfo":{USER}}}"#
            ));
            assert_eq!(slots(&body), ("raw", "absent"), "{operation}");
            let mut review = decode(body.as_bytes()).unwrap();
            let taken = review.request.as_mut().unwrap().take_object::<BatchJob>();
            assert_eq!(taken.is_ok(), decodes, "{operation}");
        }
        let queue = r#"{"metadata":{"name":"q"},"spec":{}}"#;
        let gvk = GVK.replace("BatchJob", "BatchQueue");
        let body = review(&format!(
            r#"{{"uid":"u","kind":{gvk},"object":{queue},"operation":"CREATE","userInfo":{USER}}}"#
        ));
        assert_eq!(
            slots(&body),
            ("decoded", "absent"),
            "other kinds do not wait"
        );
    }

    #[test]
    fn other_kinds_are_kept_raw() {
        let body = review(&format!(
            r#"{{"uid":"u","kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","userInfo":{USER},"object":{{"x":1}}}}"#
        ));
        assert_eq!(slots(&body), ("raw", "absent"));
    }

    #[test]
    fn an_undecodable_object_falls_back_to_the_careful_path_with_its_field() {
        let bad = JOB.replace(r#""taskGroups":[]"#, r#""taskGroups":[{"name":7}]"#);
        let body = review(&format!(
            r#"{{"uid":"u","kind":{GVK},"operation":"CREATE","userInfo":{USER},"object":{bad}}}"#
        ));
        assert_eq!(slots(&body), ("raw", "absent"));
        let mut review = decode(body.as_bytes()).unwrap();
        let error = review
            .request
            .as_mut()
            .unwrap()
            .take_object::<BatchJob>()
            .unwrap_err();
        let violation = error.iter().next().unwrap();
        assert_eq!(violation.field, "spec.taskGroups[0].name");
        assert!(violation.message.contains("object cannot be decoded"));
    }

    #[test]
    fn the_envelope_is_checked() {
        for (body, expected) in [
            ("{", "not an AdmissionReview"),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":null}"#,
                "expected kind AdmissionReview",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview"}"#,
                "admissionReviewVersions",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}"#,
                "has no request",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u"}}"#,
                "missing field",
            ),
            (
                r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null} x"#,
                "trailing",
            ),
        ] {
            let error = decode(body.as_bytes()).unwrap_err();
            assert!(error.contains(expected), "{body}: {error}");
        }
    }
}
