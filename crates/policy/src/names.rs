//! Kubernetes name rules (DNS-1123), checked without regular expressions.

/// Why `name` is not a DNS-1123 label (at most 63 of `a-z`, `0-9`, `-`, alphanumeric at both
/// ends), or `None` when it is one.
pub fn dns1123_label_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.len() > 63 {
        return Some(format!(
            "{name:?} is {} characters long, at most 63 are allowed",
            name.len()
        ));
    }
    label_shape_problem(name)
}

/// Why `name` is not a DNS-1123 subdomain (at most 253 characters, dot-separated labels), or
/// `None` when it is one. Object names such as BatchJob and BatchQueue names follow this rule.
pub fn dns1123_subdomain_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("must not be empty".to_owned());
    }
    if name.len() > 253 {
        return Some(format!(
            "{name:?} is {} characters long, at most 253 are allowed",
            name.len()
        ));
    }
    name.split('.').find_map(|label| {
        if label.is_empty() {
            Some(format!("{name:?} has an empty part between dots"))
        } else {
            label_shape_problem(label).map(|_| {
                format!(
                    "{name:?} must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character"
                )
            })
        }
    })
}

fn label_shape_problem(label: &str) -> Option<String> {
    let bytes = label.as_bytes();
    let ok_char = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
    let alnum = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !bytes.iter().all(ok_char) || !alnum(bytes.first()) || !alnum(bytes.last()) {
        return Some(format!(
            "{label:?} must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        for ok in ["a", "main", "render-2", "0", &"a".repeat(63)] {
            assert_eq!(dns1123_label_problem(ok), None, "{ok}");
        }
        for bad in ["", "Main", "-a", "a-", "a_b", "a.b", "é", &"a".repeat(64)] {
            assert!(dns1123_label_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn subdomains() {
        for ok in ["a", "render-frames", "a.b-c.d", "x1"] {
            assert_eq!(dns1123_subdomain_problem(ok), None, "{ok}");
        }
        for bad in ["", "A", "a..b", ".a", "a.", "a_b", &"a".repeat(254)] {
            assert!(dns1123_subdomain_problem(bad).is_some(), "{bad}");
        }
    }
}
