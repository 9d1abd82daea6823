//! The request's objects, typed by kind, and how they are decoded.

use crate::admitted_job::{Reading, decode_job};
use crate::map_only::MapOnly;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_policy::api::{
    BatchBudget, BatchBudgetSpec, BatchBudgetStatus, BatchCostModel, BatchJob, BatchJobConstraint,
    BatchPriority, BatchQueue, BatchUserContext, Kind,
};
use kbatch_policy::{Reason, Violations};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

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
pub(crate) trait Typed: Sized {
    /// The kind an object of this type is decoded as.
    const KIND: Kind;
    fn from_any(object: AnyObject) -> Option<Self>;
}

macro_rules! typed {
    ($($variant:ident => $ty:ident),* $(,)?) => {$(
        impl Typed for $ty {
            const KIND: Kind = Kind::$ty;
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

/// Decodes `null` or an object of `kind` straight from the deserializer; a BatchJob is read
/// as `reading`, every other kind whole.
pub(crate) fn decode_typed<'de, D: Deserializer<'de>>(
    kind: Kind,
    reading: Reading,
    deserializer: D,
) -> Result<Option<AnyObject>, D::Error> {
    fn boxed<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
        deserializer: D,
        variant: fn(Box<T>) -> AnyObject,
    ) -> Result<Option<AnyObject>, D::Error> {
        Ok(Option::<Box<T>>::deserialize(deserializer)?.map(variant))
    }
    match kind {
        Kind::BatchJob => {
            Ok(decode_job(reading, deserializer)?.map(|job| AnyObject::Job(Box::new(job))))
        }
        Kind::BatchQueue => boxed(deserializer, AnyObject::Queue),
        Kind::BatchPriority => boxed(deserializer, AnyObject::Priority),
        Kind::BatchJobConstraint => boxed(deserializer, AnyObject::Constraint),
        Kind::BatchBudget => Ok(Option::<BudgetParts>::deserialize(deserializer)?
            .map(|parts| AnyObject::Budget(Box::new(parts.into())))),
        Kind::BatchCostModel => boxed(deserializer, AnyObject::CostModel),
        Kind::BatchUserContext => boxed(deserializer, AnyObject::UserContext),
    }
}

/// A BatchBudget whose spec must be a JSON object: the mutating webhook patches a member of
/// it. Shaped like the derived `BatchBudget` otherwise (apiVersion and kind not checked).
#[derive(Deserialize)]
struct BudgetParts {
    metadata: ObjectMeta,
    spec: MapOnly<BatchBudgetSpec>,
    status: Option<BatchBudgetStatus>,
}

impl From<BudgetParts> for BatchBudget {
    fn from(parts: BudgetParts) -> BatchBudget {
        BatchBudget {
            metadata: parts.metadata,
            spec: parts.spec.0,
            status: parts.status,
        }
    }
}

/// Decodes `raw` (the request's `object` or `oldObject`, not `null`) as `T`, read as `reading`.
pub(crate) fn decode<T: Typed>(
    raw: &RawValue,
    which: &str,
    reading: Reading,
) -> Result<T, Violations> {
    let text = raw.get();
    // The fast path tracks no path; only a failing object is decoded again to say where.
    let object = decode_typed(
        T::KIND,
        reading,
        &mut serde_json::Deserializer::from_str(text),
    )
    .or_else(|_| {
        let mut track = serde_path_to_error::Track::new();
        let mut de = serde_json::Deserializer::from_str(text);
        let tracked = serde_path_to_error::Deserializer::new(&mut de, &mut track);
        decode_typed(T::KIND, reading, tracked).map_err(|error| {
            let path = track.path().to_string();
            let field = if path == "." { String::new() } else { path };
            undecodable(which, &field, &error.to_string())
        })
    })?;
    object.and_then(T::from_any).ok_or_else(|| missing(which))
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
