//! The directive keywords: spelling, arguments, and which ones are required.

/// One of the known `#KB` directives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Keyword {
    Jobname,
    Namespace,
    Image,
    Queuename,
    MaxWallTime,
    MinCpu,
    MinMemory,
    Gpu,
    Mount,
    Taskcount,
    RetryLimit,
    PreemptibleVm,
}

impl Keyword {
    /// Every directive, in the order the documentation lists them.
    pub(crate) const ALL: [Keyword; 12] = [
        Keyword::Jobname,
        Keyword::Namespace,
        Keyword::Image,
        Keyword::Queuename,
        Keyword::MaxWallTime,
        Keyword::MinCpu,
        Keyword::MinMemory,
        Keyword::Gpu,
        Keyword::Mount,
        Keyword::Taskcount,
        Keyword::RetryLimit,
        Keyword::PreemptibleVm,
    ];

    /// Directives a script must give.
    pub(crate) const REQUIRED: [Keyword; 2] = [Keyword::Image, Keyword::Queuename];

    /// The canonical spelling, used in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Keyword::Jobname => "Jobname",
            Keyword::Namespace => "Namespace",
            Keyword::Image => "Image",
            Keyword::Queuename => "Queuename",
            Keyword::MaxWallTime => "MaxWallTime",
            Keyword::MinCpu => "MinCpu",
            Keyword::MinMemory => "MinMemory",
            Keyword::Gpu => "GPU",
            Keyword::Mount => "Mount",
            Keyword::Taskcount => "Taskcount",
            Keyword::RetryLimit => "RetryLimit",
            Keyword::PreemptibleVm => "PreemptibleVM",
        }
    }

    /// The arguments, as shown in messages: `<model> <count>`.
    pub(crate) fn usage(self) -> &'static str {
        match self {
            Keyword::Jobname => "<prefix>",
            Keyword::Namespace => "<namespace>",
            Keyword::Image => "<image>",
            Keyword::Queuename => "<queue>",
            Keyword::MaxWallTime => "<duration>",
            Keyword::MinCpu | Keyword::MinMemory => "<quantity>",
            Keyword::Gpu => "<model> <count>",
            Keyword::Mount => "<pvc-name> <path>",
            Keyword::Taskcount | Keyword::RetryLimit => "<n>",
            Keyword::PreemptibleVm => "Require|Prefer|Forbid",
        }
    }

    /// How many arguments the directive takes.
    pub(crate) fn arity(self) -> usize {
        match self {
            Keyword::Gpu | Keyword::Mount => 2,
            _ => 1,
        }
    }

    /// Whether the directive may be given more than once.
    pub(crate) fn repeatable(self) -> bool {
        self == Keyword::Mount
    }

    /// The keyword `word` names, compared without regard to ASCII case.
    pub(crate) fn parse(word: &str) -> Option<Keyword> {
        Keyword::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(word))
    }

    /// `#KB GPU <model> <count>`: how the directive is written.
    pub(crate) fn synopsis(self) -> String {
        format!("#KB {} {}", self.name(), self.usage())
    }

    /// The known keywords as a comma-separated list, for the unknown-directive message.
    pub(crate) fn known_list() -> String {
        Keyword::ALL.map(Keyword::name).join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_parses_back_in_any_case() {
        for k in Keyword::ALL {
            assert_eq!(Keyword::parse(k.name()), Some(k));
            assert_eq!(Keyword::parse(&k.name().to_ascii_lowercase()), Some(k));
            assert_eq!(Keyword::parse(&k.name().to_ascii_uppercase()), Some(k));
        }
        assert_eq!(Keyword::parse("Time"), None);
        assert_eq!(Keyword::parse(""), None);
    }

    #[test]
    fn arity_matches_usage() {
        for k in Keyword::ALL {
            assert_eq!(k.usage().split(' ').count(), k.arity(), "{}", k.name());
        }
    }
}
