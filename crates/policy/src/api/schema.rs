//! Hand-written schema fragments for fields whose Rust type has no `JsonSchema` of its own.

use schemars::{Schema, SchemaGenerator, json_schema};

/// A `core/v1` PodTemplateSpec, with the OpenAPI schema Kubernetes publishes for it, so the API
/// server checks a template's types and prunes unknown fields before any webhook sees it.
///
/// The descriptions inside are dropped: they would triple the CRD's size, and `kubectl explain`
/// on a pod gives them. The admission webhook relies on this schema to decode only the fields
/// its rules read.
pub(crate) fn pod_template(generator: &mut SchemaGenerator) -> Schema {
    let schema = generator.subschema_for::<k8s_openapi::api::core::v1::PodTemplateSpec>();
    let mut value = serde_json::Value::from(schema);
    drop_descriptions(&mut value);
    Schema::try_from(value).unwrap_or_else(|_| {
        // Unreachable: the value was a schema, and removing descriptions keeps it an object.
        json_schema!({ "type": "object", "x-kubernetes-preserve-unknown-fields": true })
    })
}

/// Removes every `description` keyword from `schema` and the schemas nested in it.
fn drop_descriptions(schema: &mut serde_json::Value) {
    let serde_json::Value::Object(keywords) = schema else {
        return;
    };
    keywords.remove("description");
    for (keyword, value) in keywords.iter_mut() {
        match (keyword.as_str(), value) {
            ("properties", serde_json::Value::Object(properties)) => {
                properties.values_mut().for_each(drop_descriptions);
            }
            ("items" | "additionalProperties" | "not", schema) => drop_descriptions(schema),
            ("allOf" | "anyOf" | "oneOf", serde_json::Value::Array(schemas)) => {
                schemas.iter_mut().for_each(drop_descriptions);
            }
            _ => {}
        }
    }
}

/// A DNS-1123 label (a task group's name, which names its Job and labels its pods): checked by
/// the API server itself, so that no object it stores, whoever wrote it, breaks the names the
/// controller builds from it.
pub(crate) fn dns_label(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "minLength": 1,
        "maxLength": 63,
        "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
    })
}

/// An RFC 3339 timestamp (`metav1.Time`).
pub(crate) fn optional_time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "date-time",
        "nullable": true
    })
}

/// A required RFC 3339 timestamp (`metav1.Time`).
pub(crate) fn time(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "string",
        "format": "date-time"
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use serde_json::Value;

    /// Where `schema` breaks the rules of a structural schema that the API server enforces
    /// on a CRD: a type on every node (bar int-or-string and preserved objects), no `$ref` and
    /// no logical junctors carrying types, properties or additionalProperties, not both.
    fn structural_problems(schema: &Value, at: &str, problems: &mut Vec<String>) {
        let keyword = |k: &str| schema.get(k);
        let flag = |k: &str| keyword(k).and_then(Value::as_bool) == Some(true);
        if keyword("type").is_none()
            && !flag("x-kubernetes-int-or-string")
            && !flag("x-kubernetes-preserve-unknown-fields")
        {
            problems.push(format!("{at}: no type"));
        }
        for forbidden in [
            "$ref",
            "anyOf",
            "oneOf",
            "allOf",
            "not",
            "definitions",
            "$defs",
        ] {
            if keyword(forbidden).is_some() {
                problems.push(format!("{at}: {forbidden}"));
            }
        }
        if keyword("properties").is_some() && keyword("additionalProperties").is_some() {
            problems.push(format!("{at}: properties and additionalProperties"));
        }
        if let Some(Value::Object(properties)) = keyword("properties") {
            for (name, property) in properties {
                structural_problems(property, &format!("{at}.{name}"), problems);
            }
        }
        for (k, suffix) in [("items", "[*]"), ("additionalProperties", "{*}")] {
            if let Some(child @ Value::Object(_)) = keyword(k) {
                structural_problems(child, &format!("{at}{suffix}"), problems);
            }
        }
    }

    fn schema_of(crd: &CustomResourceDefinition) -> Value {
        let schema = crd.spec.versions[0].schema.as_ref().unwrap();
        serde_json::to_value(schema.open_api_v3_schema.as_ref().unwrap()).unwrap()
    }

    fn template(schema: &Value) -> &Value {
        &schema["properties"]["spec"]["properties"]["taskGroups"]["items"]["properties"]["template"]
    }

    #[test]
    fn every_crd_schema_is_structural() {
        for crd in super::super::crds() {
            let mut problems = Vec::new();
            structural_problems(&schema_of(&crd), &crd.spec.names.kind, &mut problems);
            assert!(problems.is_empty(), "{problems:#?}");
        }
    }

    #[test]
    fn the_problems_found_are_real_ones() {
        let mut problems = Vec::new();
        let schema = serde_json::json!({"type": "object", "properties": {
            "a": {"description": "no type"},
            "b": {"x-kubernetes-int-or-string": true},
            "c": {"type": "array", "items": {"$ref": "#/x"}},
        }});
        structural_problems(&schema, "x", &mut problems);
        assert_eq!(
            problems,
            ["x.a: no type", "x.c[*]: no type", "x.c[*]: $ref"]
        );
    }

    #[test]
    fn the_pod_template_is_typed_by_the_kubernetes_schema_without_its_descriptions() {
        let schema = schema_of(&super::super::crds()[0]);
        let template = template(&schema);
        assert_ne!(template["x-kubernetes-preserve-unknown-fields"], true);
        let container = &template["properties"]["spec"]["properties"]["containers"]["items"];
        assert_eq!(container["properties"]["image"]["type"], "string");
        assert_eq!(container["properties"]["args"]["items"]["type"], "string");
        let requests = &container["properties"]["resources"]["properties"]["requests"];
        assert_eq!(
            requests["additionalProperties"]["x-kubernetes-int-or-string"], true,
            "quantities are written as numbers too"
        );
        assert!(
            template["description"].is_string(),
            "the field keeps its own"
        );
        let text = serde_json::to_string(&template["properties"]).unwrap();
        assert!(!text.contains("\"description\":"), "{} bytes", text.len());
    }
}
