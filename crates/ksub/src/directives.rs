//! The `#KB` directive parser: finds the directive block at the top of a script, checks every
//! directive and collects every mistake.

use crate::error::{DirectiveError, DirectiveErrorKind, Warning};
use crate::keyword::Keyword;
use crate::script::{GpuRequest, Mount, PreemptibleVm, Script};
use crate::values;
use std::collections::HashMap;

/// Reads the `#KB` directives at the top of a shell script.
///
/// See the [crate documentation](crate) for the directive language. Every mistake is
/// reported, in line order with missing required directives (line `0`) last; the script is
/// accepted only when there is none. Lines that are allowed but suspicious (a `#KB` line
/// after the first command, a `#!` line naming a shell other than `sh`) become
/// [`Script::warnings`].
///
/// ```
/// use kbatch_ksub::parse_script;
///
/// let script = parse_script(
///     r#"#!/bin/sh
/// ## Render one frame per task.
/// #KB Image registry.example.com/render:2
/// #kb queuename default
/// #KB Taskcount 10
/// render --frame "${KBATCH_ARRAY_INDEX}"
/// "#,
/// )
/// .unwrap();
/// assert_eq!(script.image, "registry.example.com/render:2");
/// assert_eq!(script.queue_name, "default");
/// assert_eq!(script.task_count, Some(10));
///
/// let errors = parse_script("#KB Image busybox\n#KB Taskcount many\n").unwrap_err();
/// let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
/// assert_eq!(messages, [
///     "line 2: Taskcount: \"many\" is not a whole number; a job has 1 to 1000 tasks",
///     "Queuename: required directive is missing: add \"#KB Queuename <queue>\" to the \
///      directives at the top of the script",
/// ]);
/// ```
pub fn parse_script(text: &str) -> Result<Script, Vec<DirectiveError>> {
    let mut parser = Parser::default();
    let mut first_command: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        // A byte-order mark before the first line is not part of it.
        let trimmed = raw.trim_start_matches('\u{feff}').trim();
        let body = directive_body(trimmed);
        match (first_command, body) {
            (None, Some(body)) => parser.directive(line, body),
            (None, None) if trimmed.is_empty() => {}
            (None, None) if trimmed.starts_with('#') => {
                if line == 1 {
                    parser.shebang(trimmed);
                }
            }
            (None, None) => first_command = Some(line),
            (Some(command), Some(body)) => parser.late_directive(line, command, body),
            (Some(_), None) => {}
        }
    }
    parser.finish(text)
}

/// What follows `#KB` on a directive line, or `None` when the line is not one. The marker is
/// matched without regard to case and must be followed by whitespace or end the line
/// (`#KBATCH` is an ordinary comment).
fn directive_body(trimmed: &str) -> Option<&str> {
    let marker = trimmed.get(..3)?;
    let rest = trimmed.get(3..)?;
    let separated = rest.is_empty() || rest.starts_with(char::is_whitespace);
    (marker.eq_ignore_ascii_case("#KB") && separated).then_some(rest)
}

/// The words of a directive: split on whitespace, up to a word starting with `#` (a trailing
/// comment, as in `#KB Taskcount 10  # one per shard`).
fn words(body: &str) -> Vec<&str> {
    body.split_whitespace()
        .take_while(|w| !w.starts_with('#'))
        .collect()
}

/// Values gathered so far, and every mistake found.
#[derive(Default)]
struct Parser {
    errors: Vec<DirectiveError>,
    warnings: Vec<Warning>,
    /// The line each directive was first given on.
    seen: HashMap<Keyword, usize>,
    /// Directives found after the first command, for the missing-directive hint.
    late: Vec<(usize, Keyword)>,
    job_name: Option<String>,
    namespace: Option<String>,
    image: Option<String>,
    queue_name: Option<String>,
    max_wall_time: Option<String>,
    min_cpu: Option<String>,
    min_memory: Option<String>,
    gpu: Option<GpuRequest>,
    mounts: Vec<(usize, Mount)>,
    task_count: Option<i32>,
    retry_limit: Option<i32>,
    preemptible_vm: Option<PreemptibleVm>,
}

impl Parser {
    fn error(&mut self, line: usize, keyword: &str, kind: DirectiveErrorKind, message: String) {
        self.errors.push(DirectiveError {
            line,
            keyword: keyword.to_owned(),
            kind,
            message,
        });
    }

    /// One `#KB` line of the directive block.
    fn directive(&mut self, line: usize, body: &str) {
        let words = words(body);
        let Some((&word, args)) = words.split_first() else {
            let message = format!(
                "expected a directive after #KB, one of {}",
                Keyword::known_list()
            );
            self.error(line, "#KB", DirectiveErrorKind::MissingKeyword, message);
            return;
        };
        let Some(keyword) = Keyword::parse(word) else {
            let message = format!(
                "unknown directive; expected one of {}",
                Keyword::known_list()
            );
            self.error(line, word, DirectiveErrorKind::UnknownDirective, message);
            return;
        };
        if let Some(first) = self.seen.get(&keyword).copied() {
            if !keyword.repeatable() {
                let message = format!("given twice (first on line {first}); give it once");
                self.error(line, keyword.name(), DirectiveErrorKind::Duplicate, message);
                return;
            }
        } else {
            self.seen.insert(keyword, line);
        }
        if args.len() != keyword.arity() {
            let message = format!(
                "expected {} ({}), got {}",
                plural(keyword.arity(), "argument"),
                keyword.synopsis(),
                plural(args.len(), "argument"),
            );
            self.error(
                line,
                keyword.name(),
                DirectiveErrorKind::WrongArgumentCount,
                message,
            );
            return;
        }
        if let Err(message) = self.set(line, keyword, args) {
            self.error(
                line,
                keyword.name(),
                DirectiveErrorKind::InvalidValue,
                message,
            );
        }
    }

    /// Checks a directive's arguments (already the right number) and keeps the value.
    fn set(&mut self, line: usize, keyword: Keyword, args: &[&str]) -> Result<(), String> {
        let (first, second) = match args {
            [a] => (*a, ""),
            [a, b] => (*a, *b),
            // The caller checked the count against `arity`, which is 1 or 2.
            _ => return Err(format!("expected {}", keyword.synopsis())),
        };
        match keyword {
            Keyword::Jobname => self.job_name = Some(values::job_name(first)?),
            Keyword::Namespace => self.namespace = Some(values::namespace(first)?),
            Keyword::Image => self.image = Some(values::image(first)?),
            Keyword::Queuename => self.queue_name = Some(values::queue_name(first)?),
            Keyword::MaxWallTime => self.max_wall_time = Some(values::max_wall_time(first)?),
            Keyword::MinCpu => self.min_cpu = Some(values::quantity(first)?),
            Keyword::MinMemory => self.min_memory = Some(values::quantity(first)?),
            Keyword::Gpu => self.gpu = Some(values::gpu(first, second)?),
            Keyword::Taskcount => self.task_count = Some(values::task_count(first)?),
            Keyword::RetryLimit => self.retry_limit = Some(values::retry_limit(first)?),
            Keyword::PreemptibleVm => self.preemptible_vm = Some(values::preemptible_vm(first)?),
            Keyword::Mount => {
                let mount = values::mount(first, second)?;
                self.add_mount(line, mount);
            }
        }
        Ok(())
    }

    /// Keeps a mount unless it repeats an earlier one's claim or path.
    fn add_mount(&mut self, line: usize, mount: Mount) {
        let clash = self.mounts.iter().find_map(|(at, m)| {
            if m.claim_name == mount.claim_name {
                Some(format!(
                    "the claim {:?} is already mounted on line {at}",
                    m.claim_name
                ))
            } else if m.path == mount.path {
                Some(format!(
                    "the path {:?} is already mounted on line {at}",
                    m.path
                ))
            } else {
                None
            }
        });
        match clash {
            Some(message) => {
                let keyword = Keyword::Mount.name();
                self.error(line, keyword, DirectiveErrorKind::Duplicate, message);
            }
            None => self.mounts.push((line, mount)),
        }
    }

    /// Line 1 when it is a comment: warns when a `#!` line names another interpreter than
    /// `sh`, since the job runs the script with `/bin/sh -c`.
    fn shebang(&mut self, trimmed: &str) {
        let Some(command) = trimmed.strip_prefix("#!") else {
            return;
        };
        let mut words = command.split_whitespace();
        let mut program = words.next().unwrap_or_default();
        if program.rsplit('/').next() == Some("env") {
            program = words.find(|w| !w.starts_with('-')).unwrap_or_default();
        }
        let name = program.rsplit('/').next().unwrap_or_default();
        if !name.is_empty() && name != "sh" {
            self.warnings.push(Warning {
                line: 1,
                message: format!(
                    "the job runs the script with /bin/sh -c, not with {name:?} from the #! line; \
                     keep to POSIX sh or start {name} from the script"
                ),
            });
        }
    }

    /// A `#KB` line after the first command: an ordinary comment, but almost always a mistake.
    fn late_directive(&mut self, line: usize, command: usize, body: &str) {
        let words = words(body);
        let keyword = words.first().and_then(|w| Keyword::parse(w));
        if let Some(keyword) = keyword {
            self.late.push((line, keyword));
        }
        let what = match (keyword, words.first()) {
            (Some(k), _) => format!("#KB {}", k.name()),
            (None, Some(word)) => format!("#KB {word}"),
            (None, None) => "#KB".to_owned(),
        };
        self.warnings.push(Warning {
            line,
            message: format!(
                "\"{what}\" comes after the first command (line {command}), so it is an ordinary \
                 comment and ignored; move it above line {command} to make it a directive"
            ),
        });
    }

    /// Reports missing required directives and returns the script, or every error.
    fn finish(mut self, text: &str) -> Result<Script, Vec<DirectiveError>> {
        for keyword in Keyword::REQUIRED {
            if self.seen.contains_key(&keyword) {
                continue;
            }
            let mut message = format!(
                "required directive is missing: add \"{}\" to the directives at the top of the script",
                keyword.synopsis()
            );
            if let Some((line, _)) = self.late.iter().find(|(_, k)| *k == keyword) {
                message.push_str(&format!(
                    " (line {line} has one, but after the first command, where directives end)"
                ));
            }
            self.error(
                0,
                keyword.name(),
                DirectiveErrorKind::MissingRequired,
                message,
            );
        }
        // A required directive that is absent or invalid has added an error above or in
        // `directive`, so both values are present whenever `errors` is empty.
        match (self.errors.is_empty(), self.image, self.queue_name) {
            (true, Some(image), Some(queue_name)) => Ok(Script {
                text: text.to_owned(),
                job_name: self.job_name,
                namespace: self.namespace,
                image,
                queue_name,
                max_wall_time: self.max_wall_time,
                min_cpu: self.min_cpu,
                min_memory: self.min_memory,
                gpu: self.gpu,
                mounts: self.mounts.into_iter().map(|(_, m)| m).collect(),
                task_count: self.task_count,
                retry_limit: self.retry_limit,
                preemptible_vm: self.preemptible_vm,
                warnings: self.warnings,
            }),
            _ => Err(self.errors),
        }
    }
}

/// `1 argument`, `2 arguments`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests;
