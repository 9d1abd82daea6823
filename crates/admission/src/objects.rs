//! Decoding a raw object into its typed kind, with the field path of any error.

use kbatch_policy::{Reason, Violations};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

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
    let mut v = Violations::new();
    v.push(
        field,
        Reason::Undecodable,
        format!("the request's {which} cannot be decoded: {}", error.inner()),
    );
    Err(v)
}
