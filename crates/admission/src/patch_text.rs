//! A JSON Patch (RFC 6902) written straight into its JSON text.
//!
//! The answer to the API server only needs the patch's bytes, to encode them in base64.
//! Building json-patch's `PatchOperation`s first cost a `serde_json::Value` per added value
//! and a `jsonptr` buffer per path, then serialising and dropping them all: about a tenth of
//! a mutate review. Here each operation is written once, its value serialised from the typed
//! object. json-patch still diffs what is not patched part by part, and reads the patches
//! back in the tests.

use serde::Serialize;

/// A JSON pointer (RFC 6901), its tokens escaped (`~` as `~0`, `/` as `~1`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Pointer(String);

impl Pointer {
    /// The pointer to `tokens`, e.g. `["spec", "taskGroups"]` is `/spec/taskGroups`.
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Pointer {
        let mut pointer = Pointer::default();
        for token in tokens {
            pointer.push(token);
        }
        pointer
    }

    /// The pointer to the whole document, with room for `capacity` bytes of path.
    pub fn with_capacity(capacity: usize) -> Pointer {
        Pointer(String::with_capacity(capacity))
    }

    /// Runs `f` with `self` pointing to member `token` of what it points to, then points
    /// back. One buffer serves a whole walk through the object: a new pointer per path cost
    /// an allocation and a copy of the path each.
    pub fn in_member<R>(&mut self, token: &str, f: impl FnOnce(&mut Pointer) -> R) -> R {
        let len = self.0.len();
        self.push(token);
        let result = f(self);
        self.0.truncate(len);
        result
    }

    /// Runs `f` with `self` pointing to item `index` of the array it points to, then points
    /// back.
    pub fn in_item<R>(&mut self, index: usize, f: impl FnOnce(&mut Pointer) -> R) -> R {
        let len = self.0.len();
        // itoa, not `write!`: core::fmt cost ~400 instructions per index.
        self.0.push('/');
        self.0.push_str(itoa::Buffer::new().format(index));
        let result = f(self);
        self.0.truncate(len);
        result
    }

    fn push(&mut self, token: &str) {
        self.0.push('/');
        // Pushed whole unless it needs escaping: pushing char by char cost ~500 instructions
        // per token.
        if !token.bytes().any(|b| b == b'~' || b == b'/') {
            self.0.push_str(token);
            return;
        }
        for c in token.chars() {
            match c {
                '~' => self.0.push_str("~0"),
                '/' => self.0.push_str("~1"),
                c => self.0.push(c),
            }
        }
    }

    /// The escaped pointer, `""` for the whole document.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The JSON text of a patch: an array of operations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct JsonPatch {
    text: Vec<u8>,
    operations: usize,
}

impl JsonPatch {
    /// Whether the patch changes nothing.
    pub fn is_empty(&self) -> bool {
        self.operations == 0
    }

    /// The number of operations.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.operations
    }

    /// The JSON text, `[]` for an empty patch.
    pub fn as_bytes(&self) -> &[u8] {
        if self.is_empty() { b"[]" } else { &self.text }
    }
}

/// Writes the operations of one patch, in order.
#[derive(Debug, Default)]
pub(crate) struct PatchWriter {
    patch: JsonPatch,
}

impl PatchWriter {
    /// `add` of `value` at `path`.
    pub fn add<T: Serialize + ?Sized>(
        &mut self,
        path: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.operation("add", path, None, Some(value))
    }

    /// `replace` of what is at `path` by `value`.
    pub fn replace<T: Serialize + ?Sized>(
        &mut self,
        path: &str,
        value: &T,
    ) -> Result<(), serde_json::Error> {
        self.operation("replace", path, None, Some(value))
    }

    /// `remove` of what is at `path`.
    pub fn remove(&mut self, path: &str) -> Result<(), serde_json::Error> {
        self.operation::<()>("remove", path, None, None)
    }

    /// The operations of `patch` (a diff of the values at `at`), each moved under `at`.
    pub fn extend_under(
        &mut self,
        at: &Pointer,
        patch: &json_patch::Patch,
    ) -> Result<(), serde_json::Error> {
        use json_patch::PatchOperation as Op;
        let under =
            |path: &json_patch::jsonptr::Pointer| format!("{}{}", at.as_str(), path.as_str());
        for operation in &patch.0 {
            match operation {
                Op::Add(o) => self.add(&under(&o.path), &o.value)?,
                Op::Replace(o) => self.replace(&under(&o.path), &o.value)?,
                Op::Remove(o) => self.remove(&under(&o.path))?,
                Op::Test(o) => self.operation("test", &under(&o.path), None, Some(&o.value))?,
                Op::Move(o) => {
                    self.operation::<()>("move", &under(&o.path), Some(&under(&o.from)), None)?
                }
                Op::Copy(o) => {
                    self.operation::<()>("copy", &under(&o.path), Some(&under(&o.from)), None)?
                }
            }
        }
        Ok(())
    }

    /// The patch written.
    pub fn finish(mut self) -> JsonPatch {
        if !self.patch.is_empty() {
            self.patch.text.push(b']');
        }
        self.patch
    }

    fn operation<T: Serialize + ?Sized>(
        &mut self,
        op: &str,
        path: &str,
        from: Option<&str>,
        value: Option<&T>,
    ) -> Result<(), serde_json::Error> {
        let first = self.patch.is_empty();
        let text = &mut self.patch.text;
        let start = text.len();
        let written = (|| {
            text.push(if first { b'[' } else { b',' });
            text.extend_from_slice(b"{\"op\":\"");
            text.extend_from_slice(op.as_bytes());
            text.extend_from_slice(b"\",\"path\":");
            serde_json::to_writer(&mut *text, path)?;
            if let Some(from) = from {
                text.extend_from_slice(b",\"from\":");
                serde_json::to_writer(&mut *text, from)?;
            }
            if let Some(value) = value {
                text.extend_from_slice(b",\"value\":");
                serde_json::to_writer(&mut *text, value)?;
            }
            text.push(b'}');
            Ok(())
        })();
        match written {
            Ok(()) => self.patch.operations += 1,
            // A value that fails to serialise leaves no half-written operation behind.
            Err(_) => text.truncate(start),
        }
        written
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    #[test]
    fn pointers_escape_their_tokens() {
        let cases = [
            (vec![], ""),
            (vec!["spec"], "/spec"),
            (vec!["limits", "nvidia.com/gpu"], "/limits/nvidia.com~1gpu"),
            (vec!["a~b", "~1"], "/a~0b/~01"),
            (vec![""], "/"),
        ];
        for (tokens, expected) in cases {
            assert_eq!(
                Pointer::from_tokens(tokens.clone()).as_str(),
                expected,
                "{tokens:?}"
            );
        }
        let mut at = Pointer::from_tokens(["spec"]);
        let inner = at.in_member("taskGroups", |at| {
            at.in_item(3, |at| at.in_member("a/b", |at| at.as_str().to_owned()))
        });
        assert_eq!(inner, "/spec/taskGroups/3/a~1b");
        assert_eq!(at.as_str(), "/spec", "points back after the walk");
    }

    proptest! {
        #[test]
        fn an_item_is_its_decimal_index(index in any::<usize>()) {
            let mut pointer = Pointer::default();
            let path = pointer.in_item(index, |at| at.as_str().to_owned());
            prop_assert_eq!(path, format!("/{index}"));
            prop_assert_eq!(pointer.as_str(), "");
        }
    }

    #[test]
    fn an_empty_patch_is_an_empty_array() {
        let patch = PatchWriter::default().finish();
        assert!(patch.is_empty());
        assert_eq!(patch.as_bytes(), b"[]");
    }

    #[test]
    fn operations_are_written_in_order() {
        let mut writer = PatchWriter::default();
        writer.add("/a", &json!({"b": [1, "x"]})).unwrap();
        writer.replace("/c\"d", "e").unwrap();
        writer.remove("/f").unwrap();
        let patch = writer.finish();
        assert_eq!(patch.len(), 3);
        let read: Value = serde_json::from_slice(patch.as_bytes()).unwrap();
        assert_eq!(
            read,
            json!([
                {"op": "add", "path": "/a", "value": {"b": [1, "x"]}},
                {"op": "replace", "path": "/c\"d", "value": "e"},
                {"op": "remove", "path": "/f"},
            ])
        );
    }

    #[test]
    fn a_value_that_fails_to_serialise_leaves_no_half_operation() {
        let mut writer = PatchWriter::default();
        writer.add("/a", &1).unwrap();
        // JSON object keys must be strings: serialising this map fails part-way.
        let unkeyable: std::collections::BTreeMap<Vec<u8>, u8> = [(vec![1], 1)].into();
        assert!(writer.add("/b", &unkeyable).is_err());
        writer.remove("/c").unwrap();
        let patch = writer.finish();
        assert_eq!(patch.len(), 2);
        let read: Value = serde_json::from_slice(patch.as_bytes()).unwrap();
        assert_eq!(
            read,
            json!([{"op": "add", "path": "/a", "value": 1}, {"op": "remove", "path": "/c"}])
        );
    }

    /// Small JSON documents: objects of objects, arrays and scalars, with keys that need
    /// escaping both in a pointer and in JSON.
    fn document() -> impl Strategy<Value = Value> {
        let key = prop::sample::select(vec!["a", "b", "x/y", "m~n", "q\"", ""]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (-5i64..5).prop_map(Value::from),
            "[a-c]{0,3}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(key.clone(), inner, 0..4).prop_map(|m| Value::Object(
                    m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
                )),
            ]
        })
    }

    proptest! {
        /// A json-patch diff moved under a member and written as text applies like the diff
        /// itself applied to that member.
        #[test]
        fn a_diff_written_under_a_member_applies_there(
            before in document(),
            after in document(),
            member in prop::sample::select(vec!["spec", "x/y", "m~n"]),
        ) {
            let mut whole = json!({ "kept": 1 });
            whole[member] = before.clone();
            let mut writer = PatchWriter::default();
            let at = Pointer::from_tokens([member]);
            writer.extend_under(&at, &json_patch::diff(&before, &after)).unwrap();
            let patch: json_patch::Patch = serde_json::from_slice(writer.finish().as_bytes()).unwrap();
            json_patch::patch(&mut whole, &patch).unwrap();
            let mut expected = json!({ "kept": 1 });
            expected[member] = after;
            prop_assert_eq!(whole, expected);
        }
    }
}
