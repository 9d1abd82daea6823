//! The request's objects, typed by kind, and how they are decoded.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchJobSpec, BatchJobStatus,
    BatchPriority, BatchQueue, BatchUserContext, Kind,
};
use kbatch_policy::{Reason, Violations};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// An object of one of the seven kinds.
#[derive(Debug)]
pub(crate) enum AnyObject {
    Job(Box<BatchJob>),
    Queue(Box<BatchQueue>),
    Priority(Box<BatchPriority>),
    Constraint(Box<BatchJobConstraint>),
    Budget(Box<BatchBudget>),
    CostModel(Box<BatchCostModel>),
    UserContext(Box<BatchUserContext>),
}

/// A kind that can be taken out of an [`AnyObject`].
pub(crate) trait Typed: DeserializeOwned {
    fn from_any(object: AnyObject) -> Option<Self>;
}

macro_rules! typed {
    ($($variant:ident => $ty:ty),* $(,)?) => {$(
        impl Typed for $ty {
            fn from_any(object: AnyObject) -> Option<Self> {
                match object {
                    AnyObject::$variant(o) => Some(*o),
                    _ => None,
                }
            }
        }
    )*};
}

typed! {
    Job => BatchJob,
    Queue => BatchQueue,
    Priority => BatchPriority,
    Constraint => BatchJobConstraint,
    Budget => BatchBudget,
    CostModel => BatchCostModel,
    UserContext => BatchUserContext,
}

/// Decodes `null` or an object of `kind` straight from the deserializer.
pub(crate) fn decode_typed<'de, D: Deserializer<'de>>(
    kind: Kind,
    deserializer: D,
) -> Result<Option<AnyObject>, D::Error> {
    fn boxed<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
        variant: fn(Box<T>) -> AnyObject,
    ) -> Result<Option<AnyObject>, D::Error> {
        Ok(Option::<Box<T>>::deserialize(deserializer)?.map(variant))
    }
    match kind {
        // The hot kind skips what no rule reads.
        Kind::BatchJob => Ok(Option::<AdmittedJob>::deserialize(deserializer)?
            .map(|job| AnyObject::Job(Box::new(job.into())))),
        Kind::BatchQueue => boxed(deserializer, AnyObject::Queue),
        Kind::BatchPriority => boxed(deserializer, AnyObject::Priority),
        Kind::BatchJobConstraint => boxed(deserializer, AnyObject::Constraint),
        Kind::BatchBudget => boxed(deserializer, AnyObject::Budget),
        Kind::BatchCostModel => boxed(deserializer, AnyObject::CostModel),
        Kind::BatchUserContext => boxed(deserializer, AnyObject::UserContext),
    }
}

/// A BatchJob as admission decodes it: all but `metadata.managedFields`, which no rule reads
/// and which would cost a `serde_json::Value` tree on every request. Shaped like the derived
/// `BatchJob` (metadata and spec required, status optional, apiVersion and kind not checked).
#[derive(Deserialize)]
struct AdmittedJob {
    metadata: AdmittedMeta,
    spec: BatchJobSpec,
    status: Option<BatchJobStatus>,
}

/// `ObjectMeta` without `managedFields`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdmittedMeta {
    annotations: Option<BTreeMap<String, String>>,
    creation_timestamp: Option<Time>,
    deletion_grace_period_seconds: Option<i64>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
    generate_name: Option<String>,
    generation: Option<i64>,
    labels: Option<BTreeMap<String, String>>,
    name: Option<String>,
    namespace: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    resource_version: Option<String>,
    self_link: Option<String>,
    uid: Option<String>,
}

impl From<AdmittedJob> for BatchJob {
    fn from(job: AdmittedJob) -> BatchJob {
        let m = job.metadata;
        BatchJob {
            metadata: ObjectMeta {
                annotations: m.annotations,
                creation_timestamp: m.creation_timestamp,
                deletion_grace_period_seconds: m.deletion_grace_period_seconds,
                deletion_timestamp: m.deletion_timestamp,
                finalizers: m.finalizers,
                generate_name: m.generate_name,
                generation: m.generation,
                labels: m.labels,
                managed_fields: None,
                name: m.name,
                namespace: m.namespace,
                owner_references: m.owner_references,
                resource_version: m.resource_version,
                self_link: m.self_link,
                uid: m.uid,
            },
            spec: job.spec,
            status: job.status,
        }
    }
}

/// Decodes `raw` (the request's `object` or `oldObject`) as `T`.
pub(crate) fn decode<T: DeserializeOwned>(raw: &RawValue, which: &str) -> Result<T, Violations> {
    // The fast path tracks no path; only a failing object is decoded again to say where.
    if let Ok(object) = serde_json::from_str(raw.get()) {
        return Ok(object);
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let error = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(object) => return Ok(object),
        Err(e) => e,
    };
    let path = error.path().to_string();
    let field = if path == "." { String::new() } else { path };
    Err(undecodable(which, &field, &error.inner().to_string()))
}

/// The denial of an object that cannot be decoded.
pub(crate) fn undecodable(which: &str, field: &str, why: &str) -> Violations {
    let mut v = Violations::new();
    v.push(
        field,
        Reason::Undecodable,
        format!("the request's {which} cannot be decoded: {why}"),
    );
    v
}

/// The denial of a request without the object the operation needs.
pub(crate) fn missing(which: &str) -> Violations {
    let mut v = Violations::new();
    v.push(
        which,
        Reason::Undecodable,
        format!("the request has no {which}"),
    );
    v
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn an_admitted_job_is_the_full_job_without_managed_fields() {
        let text = r#"{"apiVersion":"kbatch.k8s.io/v1beta1","kind":"BatchJob",
            "metadata":{"name":"j","namespace":"ns","generateName":"j-","uid":"u","generation":1,
              "resourceVersion":"7","labels":{"a":"b"},"annotations":{"c":"d"},"finalizers":["f"],
              "creationTimestamp":"2026-11-22T08:52:33Z","deletionTimestamp":"2026-11-22T09:00:00Z",
              "deletionGracePeriodSeconds":0,"selfLink":"/x",
              "ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"o","uid":"ou"}],
              "managedFields":[{"manager":"kubectl","operation":"Update","fieldsType":"FieldsV1",
                "fieldsV1":{"f:spec":{".":{}}}}]},
            "spec":{"batchQueueName":"default","taskGroups":[{"name":"g","template":{}}]},
            "status":{"phase":"Queued"}}"#;
        let mut full: BatchJob = serde_json::from_str(text).unwrap();
        assert!(full.metadata.managed_fields.is_some());
        full.metadata.managed_fields = None;
        let mut de = serde_json::Deserializer::from_str(text);
        let admitted = decode_typed(Kind::BatchJob, &mut de).unwrap().unwrap();
        assert_eq!(BatchJob::from_any(admitted).unwrap(), full);
        let mut de = serde_json::Deserializer::from_str("null");
        assert!(decode_typed(Kind::BatchJob, &mut de).unwrap().is_none());
    }

    #[test]
    fn an_admitted_job_needs_metadata_and_spec_like_the_full_one() {
        for text in [
            r#"{"spec":{"batchQueueName":"q","taskGroups":[]}}"#,
            r#"{"metadata":{}}"#,
        ] {
            assert!(serde_json::from_str::<BatchJob>(text).is_err());
            let mut de = serde_json::Deserializer::from_str(text);
            assert!(decode_typed(Kind::BatchJob, &mut de).is_err(), "{text}");
        }
    }
}
