//! A map of namespaced objects, looked up by borrowed namespace and name.
//!
//! Admission looks up a queue, the user contexts and jobs of a namespace on every request. A
//! map keyed by `(String, String)` can only be searched with owned strings, which cost two
//! allocations per lookup; a map of namespaces to maps of names is searched with `&str`.

use std::collections::BTreeMap;

/// Values keyed by namespace, then name; both iterate in name order.
#[derive(Debug, Clone)]
pub(crate) struct Namespaced<V> {
    namespaces: BTreeMap<String, BTreeMap<String, V>>,
}

// Derived `Default` would require `V: Default`.
impl<V> Default for Namespaced<V> {
    fn default() -> Self {
        Namespaced {
            namespaces: BTreeMap::new(),
        }
    }
}

impl<V> Namespaced<V> {
    /// Sets the value of `name` in `namespace`, returning the one it replaces.
    pub fn insert(&mut self, namespace: String, name: String, value: V) -> Option<V> {
        self.namespaces
            .entry(namespace)
            .or_default()
            .insert(name, value)
    }

    /// Removes the value of `name` in `namespace`; a namespace left empty goes too.
    pub fn remove(&mut self, namespace: &str, name: &str) -> Option<V> {
        let names = self.namespaces.get_mut(namespace)?;
        let removed = names.remove(name);
        if names.is_empty() {
            self.namespaces.remove(namespace);
        }
        removed
    }

    pub fn get(&self, namespace: &str, name: &str) -> Option<&V> {
        self.namespaces.get(namespace)?.get(name)
    }

    /// The values of `namespace` with their names, by name.
    pub fn in_namespace(&self, namespace: &str) -> impl Iterator<Item = (&str, &V)> {
        self.namespaces
            .get(namespace)
            .into_iter()
            .flat_map(|names| names.iter().map(|(name, v)| (name.as_str(), v)))
    }

    /// Every value, by namespace then name.
    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.namespaces.values().flat_map(BTreeMap::values)
    }

    pub fn clear(&mut self) {
        self.namespaces.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str, u32)]) -> Namespaced<u32> {
        let mut m = Namespaced::default();
        for (ns, name, v) in entries {
            m.insert((*ns).to_owned(), (*name).to_owned(), *v);
        }
        m
    }

    #[test]
    fn lookups_see_only_their_namespace() {
        let m = map(&[("a", "q", 1), ("b", "q", 2), ("a", "p", 3)]);
        assert_eq!(m.get("a", "q"), Some(&1));
        assert_eq!(m.get("b", "q"), Some(&2));
        assert_eq!(m.get("b", "p"), None);
        assert_eq!(m.get("c", "q"), None);
        let a: Vec<_> = m.in_namespace("a").collect();
        assert_eq!(a, [("p", &3), ("q", &1)]);
        assert_eq!(m.in_namespace("c").count(), 0);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [3, 1, 2]);
    }

    #[test]
    fn insert_replaces_and_remove_forgets_empty_namespaces() {
        let mut m = map(&[("a", "q", 1)]);
        assert_eq!(m.insert("a".into(), "q".into(), 5), Some(1));
        assert_eq!(m.get("a", "q"), Some(&5));
        assert_eq!(m.remove("a", "missing"), None);
        assert_eq!(m.remove("a", "q"), Some(5));
        assert_eq!(m.remove("a", "q"), None);
        assert!(m.namespaces.is_empty());
        let mut m = map(&[("a", "q", 1), ("b", "q", 2)]);
        m.clear();
        assert_eq!(m.values().count(), 0);
    }
}
