//! The request's objects, typed by kind, and how they are decoded.

use kbatch_policy::api::{
    BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority, BatchQueue,
    BatchUserContext, Kind,
};
use kbatch_policy::{Reason, Violations};
use serde::de::DeserializeOwned;
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
pub(crate) trait Typed: DeserializeOwned {
    fn from_any(object: AnyObject) -> Option<Self>;
}

macro_rules! typed {
    ($($variant:ident => $ty:ident),* $(,)?) => {
        $(impl Typed for $ty {
            fn from_any(object: AnyObject) -> Option<Self> {
                match object {
                    AnyObject::$variant(o) => Some(*o),
                    _ => None,
                }
            }
        })*

        /// Decodes `null` or an object of `kind` straight from the deserializer.
        pub(crate) fn decode_typed<'de, D: Deserializer<'de>>(
            kind: Kind,
            deserializer: D,
        ) -> Result<Option<AnyObject>, D::Error> {
            Ok(match kind {
                $(Kind::$ty => Option::<Box<$ty>>::deserialize(deserializer)?.map(AnyObject::$variant),)*
            })
        }
    };
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
