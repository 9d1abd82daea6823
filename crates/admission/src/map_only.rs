//! Objects that must be JSON objects, not arrays.
//!
//! A derived `Deserialize` of a struct also reads a JSON array, taking its items as the
//! fields in declaration order, so `"spec": []` reads as a spec of defaults. The API server
//! calls the mutating webhook before its schema check refuses such an object; a patch written
//! for an object (`add /spec/budgetStartTime`) then fails to apply, and the user gets an
//! internal error instead of the schema's refusal, or of ours. Every object on the path of a
//! patch is read through [`MapOnly`], which refuses anything but a JSON object.

use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::marker::PhantomData;

/// `T`, read from a JSON object only.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MapOnly<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(MapOnlyVisitor(PhantomData))
    }
}

struct MapOnlyVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for MapOnlyVisitor<T> {
    type Value = MapOnly<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map)).map(MapOnly)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[derive(Debug, PartialEq, Deserialize)]
    struct Pair {
        #[serde(default)]
        a: Option<u8>,
        #[serde(default)]
        b: Option<String>,
    }

    #[test]
    fn an_object_reads_as_the_struct_and_anything_else_is_refused() {
        let read = |text: &str| serde_json::from_str::<MapOnly<Pair>>(text);
        assert_eq!(
            read(r#"{"a":1,"b":"x","c":[]}"#).unwrap().0,
            Pair {
                a: Some(1),
                b: Some("x".into())
            }
        );
        assert_eq!(read("{}").unwrap().0, Pair { a: None, b: None });
        // What the derived impl alone accepts:
        assert!(serde_json::from_str::<Pair>(r#"[1,"x"]"#).is_ok());
        assert!(serde_json::from_str::<Pair>("[]").is_ok());
        for text in ["[]", r#"[1,"x"]"#, "null", "1", r#""{}""#] {
            let error = read(text).unwrap_err().to_string();
            assert!(error.contains("expected an object"), "{text}: {error}");
        }
        // A field's own type is still checked, and `null` is still an absent option.
        assert!(read(r#"{"a":"1"}"#).is_err());
        assert_eq!(
            serde_json::from_str::<Option<MapOnly<Pair>>>("null").unwrap(),
            None
        );
    }
}
