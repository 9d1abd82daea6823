//! Dependency cycles between BatchJobs of one namespace.

use crate::api::BatchJobSpec;
use crate::snapshot::PolicySet;
use std::collections::{HashMap, HashSet};

/// If creating job `name` with `spec` would close a dependency cycle through the jobs already
/// known, the cycle as job names starting and ending with `name`.
pub fn find_cycle(
    policy: &PolicySet,
    namespace: &str,
    name: &str,
    spec: &BatchJobSpec,
) -> Option<Vec<String>> {
    let direct: Vec<&str> = spec
        .dependencies
        .iter()
        .flat_map(|d| &d.dependency_items)
        .flat_map(|i| &i.names)
        .map(String::as_str)
        .collect();
    if direct.contains(&name) {
        return Some(vec![name.to_owned(), name.to_owned()]);
    }
    // Depth-first search from each direct dependency back to `name`, remembering parents
    // to print the path. Visited sets bound the work by the namespace's job count.
    let mut parent: HashMap<&str, &str> = HashMap::new();
    let mut visited: HashSet<&str> = HashSet::new();
    let mut stack: Vec<&str> = Vec::new();
    for d in &direct {
        if visited.insert(d) {
            parent.insert(d, name);
            stack.push(d);
        }
    }
    while let Some(current) = stack.pop() {
        let Some(summary) = policy.job(namespace, current) else {
            continue;
        };
        for next in &summary.depends_on {
            let next = next.as_str();
            if next == name {
                let mut path = vec![name.to_owned(), current.to_owned()];
                let mut at = current;
                while let Some(&p) = parent.get(at) {
                    if p == name {
                        break;
                    }
                    path.push(p.to_owned());
                    at = p;
                }
                // `path` runs backwards from the new job; turn it into name → … → name.
                path[1..].reverse();
                path.push(name.to_owned());
                return Some(path);
            }
            if visited.insert(next) {
                parent.insert(next, current);
                stack.push(next);
            }
        }
    }
    None
}
