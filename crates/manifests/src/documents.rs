//! One manifest text → typed objects, document by document.

use crate::schema;
use kbatch_policy::Violations;
use kbatch_policy::api::{
    API_VERSION, BatchBudget, BatchCostModel, BatchJob, BatchJobConstraint, BatchPriority,
    BatchQueue, BatchUserContext, Kind,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A decoded kbatch object.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // read once per document, never stored in bulk
pub enum Object {
    /// A job.
    BatchJob(BatchJob),
    /// A queue.
    BatchQueue(BatchQueue),
    /// A priority.
    BatchPriority(BatchPriority),
    /// A constraint object.
    BatchJobConstraint(BatchJobConstraint),
    /// A budget.
    BatchBudget(BatchBudget),
    /// A cost model.
    BatchCostModel(BatchCostModel),
    /// A user context.
    BatchUserContext(BatchUserContext),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::BatchJob(_) => Kind::BatchJob,
            Object::BatchQueue(_) => Kind::BatchQueue,
            Object::BatchPriority(_) => Kind::BatchPriority,
            Object::BatchJobConstraint(_) => Kind::BatchJobConstraint,
            Object::BatchBudget(_) => Kind::BatchBudget,
            Object::BatchCostModel(_) => Kind::BatchCostModel,
            Object::BatchUserContext(_) => Kind::BatchUserContext,
        }
    }
}

/// Why one document is not a usable kbatch object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The document is some other Kubernetes kind (or has no kind); callers usually skip it.
    #[error("not a kbatch object (apiVersion {api_version:?}, kind {kind:?})")]
    NotKbatch {
        /// The document's apiVersion.
        api_version: String,
        /// The document's kind.
        kind: String,
    },
    /// A kbatch kind that breaks its CRD schema: the API server would refuse it as written.
    #[error("{kind} breaks its CRD schema: {violations}")]
    Invalid {
        /// The kind it claims to be.
        kind: Kind,
        /// Every break, by field path.
        violations: Violations,
    },
    /// A kbatch kind whose content does not decode.
    #[error("{kind} does not decode at {path}: {message}")]
    Undecodable {
        /// The kind it claims to be.
        kind: Kind,
        /// Field path of the error (`.` for the whole object).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// One document of a manifest file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// Where it came from, as given by the caller.
    pub source: String,
    /// 1-based position among the file's non-empty documents.
    pub index: usize,
    /// `metadata.name` (or `generateName` followed by `*`) as written, when it is a string:
    /// names a document in messages even when it is not a usable object.
    pub name: Option<String>,
    /// The object, or why it is not one.
    pub object: Result<Object, DocumentError>,
}

/// Splits a YAML (or JSON) text into documents and decodes each.
///
/// The outer `Err` is a syntax error that makes the whole text unreadable.
pub fn parse_documents(source: &str, text: &str) -> Result<Vec<Document>, String> {
    let values: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    Ok(values
        .into_iter()
        .filter(|v| !v.is_null())
        .enumerate()
        .map(|(i, value)| Document {
            source: source.to_owned(),
            index: i + 1,
            name: written_name(&value),
            object: decode(value),
        })
        .collect())
}

fn written_name(value: &Value) -> Option<String> {
    let metadata = value.get("metadata")?;
    match (metadata.get("name"), metadata.get("generateName")) {
        (Some(Value::String(name)), _) => Some(name.clone()),
        (_, Some(Value::String(prefix))) => Some(format!("{prefix}*")),
        _ => None,
    }
}

fn decode(value: Value) -> Result<Object, DocumentError> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind_name = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let kind = (api_version == API_VERSION)
        .then(|| Kind::parse(&kind_name))
        .flatten()
        .ok_or(DocumentError::NotKbatch {
            api_version,
            kind: kind_name,
        })?;
    // The API server's schema check comes before anything reads the object; typed decoding
    // alone would read a list as a struct and drop unknown fields without a word.
    let violations = schema::check(kind, &value);
    if !violations.is_empty() {
        return Err(DocumentError::Invalid { kind, violations });
    }
    Ok(match kind {
        Kind::BatchJob => Object::BatchJob(typed(kind, value)?),
        Kind::BatchQueue => Object::BatchQueue(typed(kind, value)?),
        Kind::BatchPriority => Object::BatchPriority(typed(kind, value)?),
        Kind::BatchJobConstraint => Object::BatchJobConstraint(typed(kind, value)?),
        Kind::BatchBudget => Object::BatchBudget(typed(kind, value)?),
        Kind::BatchCostModel => Object::BatchCostModel(typed(kind, value)?),
        Kind::BatchUserContext => Object::BatchUserContext(typed(kind, value)?),
    })
}

fn typed<T: DeserializeOwned>(kind: Kind, value: Value) -> Result<T, DocumentError> {
    serde_path_to_error::deserialize(value).map_err(|e| DocumentError::Undecodable {
        kind,
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_document_is_named_as_written_even_when_it_is_not_usable() {
        let head = "apiVersion: kbatch.k8s.io/v1beta1\nkind: BatchQueue\n";
        for (metadata, name) in [
            ("{name: q}", Some("q")),
            ("{generateName: q-}", Some("q-*")),
            ("{name: q, generateName: x-}", Some("q")),
            ("{name: 7}", None),
            ("{}", None),
            ("[q]", None),
        ] {
            for spec in ["{}", "[]", "{bogus: 1}"] {
                let text = format!("{head}metadata: {metadata}\nspec: {spec}\n");
                let docs = parse_documents("t.yaml", &text).unwrap();
                assert_eq!(docs[0].name.as_deref(), name, "{text}");
            }
        }
    }
}
