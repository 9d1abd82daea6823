//! Checking one directive's arguments. Each function returns the value to keep, or a message
//! saying what was wrong and what was expected (the parser adds the line and keyword).

use crate::script::{GpuRequest, Mount, PreemptibleVm};
use kbatch_policy::duration::WallTime;
use kbatch_policy::names::{dns1123_label_problem, dns1123_subdomain_problem};
use kbatch_policy::quantity::Quantity;

/// Most tasks in one task group (the API's limit).
pub(crate) const MAX_TASK_COUNT: i32 = 1000;

/// Longest `generateName`: Kubernetes appends 5 random characters, and the name must stay a
/// DNS-1123 label (63 characters) because it also names the task group's Kubernetes Job.
pub(crate) const MAX_GENERATE_NAME: usize = 63 - 5;

/// `Jobname`: a prefix that, with `-` and 5 random characters appended, is a DNS-1123 label.
pub(crate) fn job_name(prefix: &str) -> Result<String, String> {
    let bytes = prefix.as_bytes();
    let shape_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes
            .first()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !shape_ok {
        return Err(format!(
            "{prefix:?} is not a valid job name prefix: use lower case letters, digits and '-', \
             starting with a letter or digit (e.g. render-frames)"
        ));
    }
    if generate_name(prefix).len() > MAX_GENERATE_NAME {
        return Err(format!(
            "{prefix:?} is {} characters long; a prefix may have at most {} ({} ending in '-'), \
             since Kubernetes appends 5 random characters and a job name must fit in 63",
            prefix.len(),
            MAX_GENERATE_NAME - 1,
            MAX_GENERATE_NAME,
        ));
    }
    Ok(prefix.to_owned())
}

/// `metadata.generateName` for a job name prefix: `prefix-`, unless it already ends with `-`.
pub(crate) fn generate_name(prefix: &str) -> String {
    if prefix.ends_with('-') {
        prefix.to_owned()
    } else {
        format!("{prefix}-")
    }
}

/// `Namespace`: a DNS-1123 label.
pub(crate) fn namespace(text: &str) -> Result<String, String> {
    match dns1123_label_problem(text) {
        Some(why) => Err(format!("not a valid namespace name: {why}")),
        None => Ok(text.to_owned()),
    }
}

/// `Queuename`: a BatchQueue name, a DNS-1123 subdomain.
pub(crate) fn queue_name(text: &str) -> Result<String, String> {
    match dns1123_subdomain_problem(text) {
        Some(why) => Err(format!("not a valid BatchQueue name: {why}")),
        None => Ok(text.to_owned()),
    }
}

/// `Image`: any single word; the registry decides whether it exists.
pub(crate) fn image(text: &str) -> Result<String, String> {
    if text.chars().any(char::is_control) {
        return Err(format!(
            "{text:?} contains control characters, which no image reference has"
        ));
    }
    Ok(text.to_owned())
}

/// `MaxWallTime`: a positive wall time, `30m`, `6h`, `1d`, `1h30m`.
pub(crate) fn max_wall_time(text: &str) -> Result<String, String> {
    match WallTime::parse(text) {
        Err(e) => Err(format!(
            "{text:?} is not a wall time (e.g. 30m, 6h, 1d, 1h30m): {e}"
        )),
        Ok(d) if d.is_zero() => Err(format!(
            "{text:?} is zero; the wall time must be longer than zero"
        )),
        Ok(_) => Ok(text.to_owned()),
    }
}

/// `MinCpu`, `MinMemory`: a non-negative Kubernetes quantity.
pub(crate) fn quantity(text: &str) -> Result<String, String> {
    match Quantity::parse(text) {
        Err(e) => Err(format!(
            "{text:?} is not a Kubernetes quantity (e.g. 500m, 2): {e}"
        )),
        Ok(q) if q.is_negative() => {
            Err(format!("{text:?} is negative; a request must be 0 or more"))
        }
        Ok(_) => Ok(text.to_owned()),
    }
}

/// `GPU <model> <count>`: a model that can be a node label value, and at least one GPU.
pub(crate) fn gpu(model: &str, count: &str) -> Result<GpuRequest, String> {
    label_value(model).map_err(|why| format!("GPU model {why} (e.g. nvidia-l4)"))?;
    let count = match whole_number(count) {
        Number::Value(n) if n >= 1 => n,
        Number::Value(_) => {
            return Err(format!(
                "the GPU count {count:?} must be at least 1; leave out the GPU directive for a job without GPUs"
            ));
        }
        Number::TooLarge => return Err(format!("the GPU count {count:?} is too large")),
        Number::NotDigits => {
            return Err(format!(
                "the GPU count {count:?} is not a whole number (e.g. 1, 2)"
            ));
        }
    };
    Ok(GpuRequest {
        model: model.to_owned(),
        count,
    })
}

/// `Mount <pvc-name> <path>`: a claim name and an absolute path.
pub(crate) fn mount(claim: &str, path: &str) -> Result<Mount, String> {
    if let Some(why) = dns1123_subdomain_problem(claim) {
        return Err(format!("not a valid PersistentVolumeClaim name: {why}"));
    }
    if !path.starts_with('/') {
        return Err(format!(
            "the mount path {path:?} must be absolute (start with '/'), e.g. /data"
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!("the mount path {path:?} must not contain '..'"));
    }
    Ok(Mount {
        claim_name: claim.to_owned(),
        path: path.to_owned(),
    })
}

/// `Taskcount`: 1..=1000.
pub(crate) fn task_count(text: &str) -> Result<i32, String> {
    let range = format!("a job has 1 to {MAX_TASK_COUNT} tasks");
    match whole_number(text) {
        Number::NotDigits => Err(format!("{text:?} is not a whole number; {range}")),
        Number::Value(n) => match i32::try_from(n) {
            Ok(n) if (1..=MAX_TASK_COUNT).contains(&n) => Ok(n),
            _ => Err(format!("{text:?} is out of range; {range}")),
        },
        Number::TooLarge => Err(format!("{text:?} is out of range; {range}")),
    }
}

/// `RetryLimit`: 0 or more (an int32).
pub(crate) fn retry_limit(text: &str) -> Result<i32, String> {
    let too_large = || format!("{text:?} is too large; at most {} retries", i32::MAX);
    match whole_number(text) {
        Number::NotDigits => Err(format!(
            "{text:?} is not a whole number (0 or more, e.g. 3)"
        )),
        Number::Value(n) => i32::try_from(n).map_err(|_| too_large()),
        Number::TooLarge => Err(too_large()),
    }
}

/// `PreemptibleVM`: `Require`, `Prefer` or `Forbid`, in any case.
pub(crate) fn preemptible_vm(text: &str) -> Result<PreemptibleVm, String> {
    PreemptibleVm::parse(text)
        .ok_or_else(|| format!("{text:?} is not one of Require, Prefer, Forbid"))
}

/// A whole number as written in a directive: ASCII digits only (no sign, no spaces).
enum Number {
    NotDigits,
    TooLarge,
    Value(u32),
}

fn whole_number(text: &str) -> Number {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Number::NotDigits;
    }
    match text.parse::<u32>() {
        Ok(n) => Number::Value(n),
        Err(_) => Number::TooLarge,
    }
}

/// Why `text` cannot be a Kubernetes label value (it becomes a node selector's value).
fn label_value(text: &str) -> Result<(), String> {
    let bytes = text.as_bytes();
    let alnum = |b: Option<&u8>| b.is_some_and(u8::is_ascii_alphanumeric);
    let ok = bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && alnum(bytes.first())
        && alnum(bytes.last());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{text:?} is not a valid node label value: at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ))
    }
}
