//! `--dependency TYPE:JOB`: waiting for other BatchJobs.

use kbatch_policy::names::dns1123_subdomain_problem;
use std::fmt;
use std::str::FromStr;

/// The outcome of another job that this one waits for, like Slurm's `afterok`, `afternotok`
/// and `afterany`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DependencyType {
    /// The other job succeeded (Slurm `afterok`).
    Success,
    /// The other job failed (Slurm `afternotok`).
    Failure,
    /// The other job ended either way (Slurm `afterany`).
    Complete,
}

impl DependencyType {
    /// Every type, in the order messages list them.
    pub const ALL: [DependencyType; 3] = [
        DependencyType::Success,
        DependencyType::Failure,
        DependencyType::Complete,
    ];

    /// The API's spelling, as in `dependencyItems[].type`.
    pub fn as_str(self) -> &'static str {
        match self {
            DependencyType::Success => "Success",
            DependencyType::Failure => "Failure",
            DependencyType::Complete => "Complete",
        }
    }

    /// The Slurm `--dependency` spelling of the same condition.
    pub fn slurm_name(self) -> &'static str {
        match self {
            DependencyType::Success => "afterok",
            DependencyType::Failure => "afternotok",
            DependencyType::Complete => "afterany",
        }
    }
}

impl fmt::Display for DependencyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Parses `Success`, `Failure` or `Complete` without regard to ASCII case, and also Slurm's
/// `afterok`, `afternotok` and `afterany`.
///
/// ```
/// use kbatch_ksub::DependencyType;
///
/// assert_eq!("success".parse(), Ok(DependencyType::Success));
/// assert_eq!("afterany".parse(), Ok(DependencyType::Complete));
/// assert!("after".parse::<DependencyType>().is_err());
/// ```
impl FromStr for DependencyType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        DependencyType::ALL
            .into_iter()
            .find(|t| {
                t.as_str().eq_ignore_ascii_case(text) || t.slurm_name().eq_ignore_ascii_case(text)
            })
            .ok_or_else(|| {
                format!("unknown dependency type {text:?}: expected Success, Failure or Complete")
            })
    }
}

/// Parses a `--dependency` argument, `TYPE:JOB`, into the canonical type name (`Success`,
/// `Failure` or `Complete`, which [`DependencyType`]'s `FromStr` accepts) and the BatchJob name.
///
/// The type is read as [`DependencyType::from_str`] does (any case, Slurm names too); the job
/// must be a BatchJob name (DNS-1123 subdomain) in the job's namespace. One job per argument:
/// repeat `--dependency` for more.
///
/// ```
/// use kbatch_ksub::parse_dependency_arg;
///
/// assert_eq!(
///     parse_dependency_arg("Success:render-frames"),
///     Ok(("Success".to_owned(), "render-frames".to_owned())),
/// );
/// assert_eq!(
///     parse_dependency_arg("afternotok:prep"),
///     Ok(("Failure".to_owned(), "prep".to_owned())),
/// );
/// assert!(parse_dependency_arg("render-frames").is_err());
/// ```
pub fn parse_dependency_arg(arg: &str) -> Result<(String, String), String> {
    let usage =
        "expected TYPE:JOB, e.g. Success:render-frames (TYPE is Success, Failure or Complete)";
    let Some((kind, job)) = arg.split_once(':') else {
        return Err(format!("--dependency {arg:?}: {usage}"));
    };
    let kind: DependencyType = kind
        .trim()
        .parse()
        .map_err(|e| format!("--dependency {arg:?}: {e}"))?;
    let job = job.trim();
    if job.contains(':') {
        return Err(format!(
            "--dependency {arg:?}: name one job per --dependency (repeat the option for more)"
        ));
    }
    if let Some(why) = dns1123_subdomain_problem(job) {
        return Err(format!("--dependency {arg:?}: the job name {why}"));
    }
    Ok((kind.as_str().to_owned(), job.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn dependency_args() {
        let ok = [
            ("Success:render-frames", "Success", "render-frames"),
            ("success:a", "Success", "a"),
            ("FAILURE:a.b", "Failure", "a.b"),
            ("Complete:x1", "Complete", "x1"),
            ("afterok:a", "Success", "a"),
            ("afternotok:a", "Failure", "a"),
            ("afterany:a", "Complete", "a"),
        ];
        for (arg, kind, job) in ok {
            assert_eq!(
                parse_dependency_arg(arg),
                Ok((kind.to_owned(), job.to_owned())),
                "{arg}"
            );
        }
        let bad = [
            ("render-frames", "expected TYPE:JOB"),
            ("Sucess:a", "unknown dependency type \"Sucess\""),
            (":a", "unknown dependency type \"\""),
            ("Success:", "must not be empty"),
            ("Success:Render", "lower case"),
            ("Success:a:b", "one job per --dependency"),
            ("", "expected TYPE:JOB"),
        ];
        for (arg, needle) in bad {
            let err = parse_dependency_arg(arg).expect_err(arg);
            assert!(err.contains(needle), "{arg}: {err}");
        }
    }

    #[test]
    fn canonical_names_parse_back() {
        for t in DependencyType::ALL {
            assert_eq!(t.as_str().parse(), Ok(t));
            assert_eq!(t.to_string().parse(), Ok(t));
        }
    }
}
