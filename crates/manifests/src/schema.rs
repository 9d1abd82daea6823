//! The checks the API server makes of a kbatch object against its CRD's structural schema
//! before anything reads it, so that an object that could never be applied is not read either.
//!
//! Typed decoding alone is laxer than the API server: serde's derived decoders take a list where
//! a struct belongs (its items as the fields in order) and skip fields they do not know, so a
//! `spec: [default, …]` or a misspelt `maxWalltime` would otherwise be read as something else
//! without a word. The API server refuses both (the second under `kubectl`'s default strict
//! field validation).
//!
//! Checked, as the API server does: each value's `type` (with `nullable`, and
//! `x-kubernetes-int-or-string` taking any number, as quantities do), `required` fields (a
//! field the schema defaults is never missing), `enum` values, `minimum`/`maximum`, and fields
//! the schema does not declare. The root `apiVersion`, `kind` and `metadata`, which CRD schemas
//! leave to the API server, are checked as it checks them: two strings and an `ObjectMeta`
//! (whose schema is taken from the pod template's metadata in the BatchJob CRD, the same type).
//!
//! Not checked: `pattern`, `format` and string lengths. Status fields carry the formats, and
//! their typed decoders parse them; the one pattern (and length), a task group's name being a
//! DNS label, is the policy's own validation too, which names the rule in its message.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    JSONSchemaProps, JSONSchemaPropsOrArray, JSONSchemaPropsOrBool,
};
use kbatch_policy::api::Kind;
use kbatch_policy::{Reason, Violations};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The schema of each kind's served version, generated once from the types, with the root
/// fields the API server adds to every CRD schema.
fn schemas() -> &'static BTreeMap<String, JSONSchemaProps> {
    static SCHEMAS: OnceLock<BTreeMap<String, JSONSchemaProps>> = OnceLock::new();
    SCHEMAS.get_or_init(|| {
        let mut schemas: BTreeMap<String, JSONSchemaProps> = kbatch_policy::api::crds()
            .into_iter()
            .filter_map(|crd| {
                let kind = crd.spec.names.kind;
                let version = crd.spec.versions.into_iter().next()?;
                Some((kind, version.schema?.open_api_v3_schema?))
            })
            .collect();
        let object_meta = schemas
            .get(Kind::BatchJob.as_str())
            .and_then(template_metadata)
            .cloned();
        for schema in schemas.values_mut() {
            let string = JSONSchemaProps {
                type_: Some("string".to_owned()),
                ..JSONSchemaProps::default()
            };
            let metadata = object_meta.clone().unwrap_or_else(|| JSONSchemaProps {
                type_: Some("object".to_owned()),
                ..JSONSchemaProps::default()
            });
            let fields = schema.properties.get_or_insert_with(BTreeMap::new);
            fields.insert("apiVersion".to_owned(), string.clone());
            fields.insert("kind".to_owned(), string);
            fields.insert("metadata".to_owned(), metadata);
        }
        schemas
    })
}

/// The schema of `spec.taskGroups[].template.metadata`: an `ObjectMeta`.
fn template_metadata(job: &JSONSchemaProps) -> Option<&JSONSchemaProps> {
    let groups = field(field(job, "spec")?, "taskGroups")?;
    let Some(JSONSchemaPropsOrArray::Schema(group)) = &groups.items else {
        return None;
    };
    field(field(group, "template")?, "metadata")
}

fn field<'a>(schema: &'a JSONSchemaProps, name: &str) -> Option<&'a JSONSchemaProps> {
    schema.properties.as_ref()?.get(name)
}

/// Every way `object` (a whole document of `kind`) breaks its CRD schema, by field path.
pub(crate) fn check(kind: Kind, object: &Value) -> Violations {
    let mut violations = Violations::new();
    let Some(schema) = schemas().get(kind.as_str()) else {
        // Every kind has a CRD (`crds()` lists all seven, and a test holds that).
        return violations;
    };
    let mut walk = Walk {
        violations: &mut violations,
        path: String::new(),
    };
    walk.value(schema, object);
    violations
}

/// One pass over an object, with the path of the value being looked at.
struct Walk<'a> {
    violations: &'a mut Violations,
    path: String,
}

impl Walk<'_> {
    fn push(&mut self, reason: Reason, message: String) {
        self.violations.push(self.path.clone(), reason, message);
    }

    /// Runs `inside` with `.name` (or `[key]` for a map key, `[i]` for an item) added to the path.
    fn at(&mut self, step: Step<'_>, inside: impl FnOnce(&mut Self)) {
        let len = self.path.len();
        match step {
            Step::Field(name) if self.path.is_empty() => self.path.push_str(name),
            Step::Field(name) => {
                self.path.push('.');
                self.path.push_str(name);
            }
            Step::Key(key) => {
                self.path.push('[');
                self.path.push_str(key);
                self.path.push(']');
            }
            Step::Item(index) => {
                self.path.push('[');
                self.path.push_str(&index.to_string());
                self.path.push(']');
            }
        }
        inside(self);
        self.path.truncate(len);
    }

    /// Checks a value that is present (`null` only reaches here where it is not pruned).
    fn value(&mut self, schema: &JSONSchemaProps, value: &Value) {
        if value.is_null() {
            if schema.nullable != Some(true) {
                self.push(Reason::Invalid, expected(schema, value));
            }
            return;
        }
        if schema.x_kubernetes_int_or_string == Some(true) {
            // Any number, not only integers: these are quantities, which take `cpu: 1.5` (the
            // recorded API server stored one: fixtures 022 and 032).
            if !(value.is_number() || value.is_string()) {
                self.push(
                    Reason::Invalid,
                    format!("must be a number or a string, not {}", type_name(value)),
                );
            }
            return;
        }
        let well_typed = match schema.type_.as_deref() {
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            // Untyped: `x-kubernetes-preserve-unknown-fields`, anything goes.
            _ => true,
        };
        if !well_typed {
            self.push(Reason::Invalid, expected(schema, value));
            return;
        }
        if let Some(allowed) = &schema.enum_
            && !allowed.iter().any(|a| a.0 == *value)
        {
            let list: Vec<String> = allowed.iter().map(|a| a.0.to_string()).collect();
            self.push(
                Reason::Invalid,
                format!(
                    "unsupported value {value}: supported values: {}",
                    list.join(", ")
                ),
            );
        }
        if let Some(number) = value.as_f64() {
            self.range(schema, number);
        }
        match value {
            Value::Object(fields) => self.fields(schema, fields),
            Value::Array(items) => {
                if let Some(JSONSchemaPropsOrArray::Schema(item)) = &schema.items {
                    for (index, value) in items.iter().enumerate() {
                        self.at(Step::Item(index), |walk| walk.value(item, value));
                    }
                }
            }
            _ => {}
        }
    }

    fn range(&mut self, schema: &JSONSchemaProps, number: f64) {
        if let Some(minimum) = schema.minimum
            && number < minimum
        {
            self.push(
                Reason::OutOfRange,
                format!("must be greater than or equal to {minimum}"),
            );
        }
        if let Some(maximum) = schema.maximum
            && number > maximum
        {
            self.push(
                Reason::OutOfRange,
                format!("must be less than or equal to {maximum}"),
            );
        }
    }

    /// Checks the members of an object.
    fn fields(&mut self, schema: &JSONSchemaProps, fields: &Map<String, Value>) {
        let declared = schema.properties.as_ref();
        let others = match &schema.additional_properties {
            Some(JSONSchemaPropsOrBool::Schema(others)) => Others::Schema(others),
            Some(JSONSchemaPropsOrBool::Bool(true)) => Others::Any,
            Some(JSONSchemaPropsOrBool::Bool(false)) => Others::Unknown,
            // Neither declared fields nor a map: a free-form object, as the schema gives no
            // way to tell a stray field from a wanted one.
            None if declared.is_none() => Others::Any,
            None if schema.x_kubernetes_preserve_unknown_fields == Some(true) => Others::Any,
            None => Others::Unknown,
        };
        for (name, value) in fields {
            match (declared.and_then(|d| d.get(name)), others) {
                (Some(field), _) if pruned(field, value) => {}
                (Some(field), _) => self.at(Step::Field(name), |walk| walk.value(field, value)),
                (None, Others::Schema(others)) => {
                    self.at(Step::Key(name), |walk| walk.value(others, value));
                }
                (None, Others::Any) => {}
                (None, Others::Unknown) => self.at(Step::Field(name), |walk| {
                    walk.push(Reason::Invalid, "unknown field".to_owned());
                }),
            }
        }
        for name in schema.required.iter().flatten() {
            let field = declared.and_then(|d| d.get(name));
            let present = fields.get(name).is_some_and(|value| match field {
                Some(field) => !pruned(field, value),
                None => !value.is_null(),
            });
            let defaulted = field.is_some_and(|field| field.default.is_some());
            if !present && !defaulted {
                self.at(Step::Field(name), |walk| {
                    walk.push(Reason::Required, "required value".to_owned());
                });
            }
        }
    }
}

/// How a path goes one level down.
enum Step<'a> {
    Field(&'a str),
    Key(&'a str),
    Item(usize),
}

/// What an object's undeclared fields may be.
#[derive(Clone, Copy)]
enum Others<'a> {
    Schema(&'a JSONSchemaProps),
    Any,
    Unknown,
}

/// Whether the API server prunes `value` of a declared `field`: a `null` the schema does not
/// allow is dropped before validation, as if absent.
fn pruned(field: &JSONSchemaProps, value: &Value) -> bool {
    value.is_null() && field.nullable != Some(true)
}

fn expected(schema: &JSONSchemaProps, value: &Value) -> String {
    let wanted = schema.type_.as_deref().unwrap_or("a value");
    format!("must be of type {wanted}, not {}", type_name(value))
}

/// The JSON type of `value`, as schemas name them.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests;
