//! What can be wrong with a script's directives, and what is only suspicious.

use std::fmt;

/// What kind of mistake a [`DirectiveError`] is, for callers and tests that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectiveErrorKind {
    /// `#KB` with no keyword after it.
    MissingKeyword,
    /// A keyword that is not one of the known directives.
    UnknownDirective,
    /// Too few or too many arguments for the directive.
    WrongArgumentCount,
    /// An argument that does not parse or is out of range.
    InvalidValue,
    /// A directive given twice (only `Mount` may repeat), or a `Mount` that repeats a claim
    /// or a path.
    Duplicate,
    /// A required directive (`Image`, `Queuename`) that the script does not give.
    MissingRequired,
}

/// One mistake in a script's `#KB` directives.
///
/// `line` is 1-based. A missing required directive belongs to no single line: its `line` is
/// `0` and its [`Display`](fmt::Display) leaves the line out. `keyword` is the directive's
/// canonical spelling (`MinCpu` even when the script wrote `mincpu`), or the word as written
/// when it is not a known directive.
///
/// ```
/// let errors = kbatch_ksub::parse_script("#KB Image busybox\n#KB Queuename default\n#KB MinCpu two\n")
///     .unwrap_err();
/// assert_eq!(errors[0].line, 3);
/// assert_eq!(errors[0].keyword, "MinCpu");
/// assert!(errors[0].to_string().starts_with(r#"line 3: MinCpu: "two" is not a Kubernetes quantity (e.g. 500m, 2): "#));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveError {
    /// 1-based line of the directive; `0` for a missing required directive.
    pub line: usize,
    /// The directive's keyword.
    pub keyword: String,
    /// What kind of mistake it is.
    pub kind: DirectiveErrorKind,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for DirectiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: ", self.line)?;
        }
        write!(f, "{}: {}", self.keyword, self.message)
    }
}

impl std::error::Error for DirectiveError {}

/// Something that is allowed but almost always a mistake, such as a `#KB` line after the
/// first command, where it is an ordinary comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line the warning is about.
    pub line: usize,
    /// What looks wrong and what to do about it.
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}
