#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::error::DirectiveErrorKind as Kind;

/// The two required directives, on lines 1 and 2.
const HEAD: &str = "#KB Image busybox:1.36\n#KB Queuename default\n";

fn ok(text: &str) -> Script {
    match parse_script(text) {
        Ok(script) => script,
        Err(errors) => panic!("{text:?} was refused: {errors:#?}"),
    }
}

fn errs(text: &str) -> Vec<DirectiveError> {
    match parse_script(text) {
        Ok(script) => panic!("{text:?} was accepted: {script:#?}"),
        Err(errors) => errors,
    }
}

/// (line, keyword, kind) of every error, for exact comparisons.
fn summary(errors: &[DirectiveError]) -> Vec<(usize, &str, Kind)> {
    errors
        .iter()
        .map(|e| (e.line, e.keyword.as_str(), e.kind))
        .collect()
}

/// The optional fields a script sets, as `field=value` words.
fn set_fields(s: &Script) -> String {
    let mut out = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(value) = value {
            out.push(format!("{name}={value}"));
        }
    };
    add("job_name", s.job_name.clone());
    add("namespace", s.namespace.clone());
    add("max_wall_time", s.max_wall_time.clone());
    add("min_cpu", s.min_cpu.clone());
    add("min_memory", s.min_memory.clone());
    add(
        "gpu",
        s.gpu.as_ref().map(|g| format!("{}x{}", g.count, g.model)),
    );
    add("task_count", s.task_count.map(|n| n.to_string()));
    add("retry_limit", s.retry_limit.map(|n| n.to_string()));
    add("preemptible_vm", s.preemptible_vm.map(|p| p.to_string()));
    for m in &s.mounts {
        out.push(format!("mount={}:{}", m.claim_name, m.path));
    }
    out.join(" ")
}

/// A directive (on line 3, after [`HEAD`]) and the fields it sets.
#[rustfmt::skip]
const GOOD: &[(&str, &str)] = &[
    ("#KB Jobname render", "job_name=render"),
    ("#KB Jobname render-", "job_name=render-"),
    ("#KB Jobname 2pass", "job_name=2pass"),
    ("#KB Namespace team-a", "namespace=team-a"),
    ("#KB MaxWallTime 6h", "max_wall_time=6h"),
    ("#KB MaxWallTime 1h30m", "max_wall_time=1h30m"),
    ("#KB MaxWallTime 1d", "max_wall_time=1d"),
    ("#KB MaxWallTime 90m", "max_wall_time=90m"),
    ("#KB MinCpu 500m", "min_cpu=500m"),
    ("#KB MinCpu 1.5", "min_cpu=1.5"),
    ("#KB MinCpu 0", "min_cpu=0"),
    ("#KB MinMemory 4Gi", "min_memory=4Gi"),
    ("#KB MinMemory 129e6", "min_memory=129e6"),
    ("#KB GPU nvidia-l4 2", "gpu=2xnvidia-l4"),
    ("#KB GPU nvidia-tesla-t4 1", "gpu=1xnvidia-tesla-t4"),
    ("#KB Mount scratch /scratch", "mount=scratch:/scratch"),
    ("#KB Taskcount 1", "task_count=1"),
    ("#KB Taskcount 1000", "task_count=1000"),
    ("#KB RetryLimit 0", "retry_limit=0"),
    ("#KB RetryLimit 3", "retry_limit=3"),
    ("#KB PreemptibleVM Require", "preemptible_vm=Require"),
    ("#KB PreemptibleVM prefer", "preemptible_vm=Prefer"),
    ("#KB PreemptibleVM FORBID", "preemptible_vm=Forbid"),
];

#[test]
fn accepts_every_directive_with_good_values() {
    for (line, expected) in GOOD {
        let script = ok(&format!("{HEAD}{line}\necho done\n"));
        assert_eq!(set_fields(&script), *expected, "{line}");
        assert!(script.warnings.is_empty(), "{line}: {:?}", script.warnings);
    }
}

/// A directive (on line 3, after [`HEAD`]), the keyword and kind of its one error, and a part
/// of the message.
#[rustfmt::skip]
const BAD: &[(&str, &str, Kind, &str)] = &[
    ("#KB Jobname Render", "Jobname", Kind::InvalidValue, "lower case letters, digits and '-'"),
    ("#KB Jobname -render", "Jobname", Kind::InvalidValue, "starting with a letter or digit"),
    ("#KB Jobname a.b", "Jobname", Kind::InvalidValue, "not a valid job name prefix"),
    ("#KB Jobname render_frames", "Jobname", Kind::InvalidValue, "not a valid job name prefix"),
    ("#KB Jobname aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Jobname", Kind::InvalidValue, "is 58 characters long; a prefix may have at most 57 (58 ending in '-')"),
    ("#KB Namespace Team-A", "Namespace", Kind::InvalidValue, "not a valid namespace name"),
    ("#KB Namespace a.b", "Namespace", Kind::InvalidValue, "not a valid namespace name"),
    ("#KB MaxWallTime soon", "MaxWallTime", Kind::InvalidValue, "\"soon\" is not a wall time (e.g. 30m, 6h, 1d, 1h30m): "),
    ("#KB MaxWallTime 1w", "MaxWallTime", Kind::InvalidValue, "is not a wall time"),
    ("#KB MaxWallTime -1h", "MaxWallTime", Kind::InvalidValue, "is not a wall time"),
    ("#KB MaxWallTime 0", "MaxWallTime", Kind::InvalidValue, "\"0\" is zero; the wall time must be longer than zero"),
    ("#KB MaxWallTime 0m", "MaxWallTime", Kind::InvalidValue, "must be longer than zero"),
    ("#KB MinCpu two", "MinCpu", Kind::InvalidValue, "\"two\" is not a Kubernetes quantity (e.g. 500m, 2): "),
    ("#KB MinCpu -1", "MinCpu", Kind::InvalidValue, "\"-1\" is negative"),
    ("#KB MinMemory 4GB", "MinMemory", Kind::InvalidValue, "\"4GB\" is not a Kubernetes quantity"),
    ("#KB MinMemory -1Gi", "MinMemory", Kind::InvalidValue, "is negative"),
    ("#KB GPU nvidia-l4 0", "GPU", Kind::InvalidValue, "must be at least 1"),
    ("#KB GPU nvidia-l4 two", "GPU", Kind::InvalidValue, "not a whole number"),
    ("#KB GPU nvidia-l4 1.5", "GPU", Kind::InvalidValue, "not a whole number"),
    ("#KB GPU nvidia-l4 -1", "GPU", Kind::InvalidValue, "not a whole number"),
    ("#KB GPU nvidia-l4 99999999999", "GPU", Kind::InvalidValue, "too large"),
    ("#KB GPU nvidia/l4 1", "GPU", Kind::InvalidValue, "not a valid node label value"),
    ("#KB Mount scratch data", "Mount", Kind::InvalidValue, "must be absolute"),
    ("#KB Mount scratch /data/../etc", "Mount", Kind::InvalidValue, "must not contain '..'"),
    ("#KB Mount Scratch /data", "Mount", Kind::InvalidValue, "not a valid PersistentVolumeClaim name"),
    ("#KB Taskcount 0", "Taskcount", Kind::InvalidValue, "\"0\" is out of range; a job has 1 to 1000 tasks"),
    ("#KB Taskcount 1001", "Taskcount", Kind::InvalidValue, "out of range"),
    ("#KB Taskcount ten", "Taskcount", Kind::InvalidValue, "not a whole number"),
    ("#KB Taskcount +1", "Taskcount", Kind::InvalidValue, "not a whole number"),
    ("#KB Taskcount 99999999999", "Taskcount", Kind::InvalidValue, "out of range"),
    ("#KB RetryLimit -1", "RetryLimit", Kind::InvalidValue, "not a whole number (0 or more"),
    ("#KB RetryLimit 3000000000", "RetryLimit", Kind::InvalidValue, "too large"),
    ("#KB PreemptibleVM Sometimes", "PreemptibleVM", Kind::InvalidValue, "not one of Require, Prefer, Forbid"),
    ("#KB Image other", "Image", Kind::Duplicate, "given twice (first on line 1)"),
    ("#KB GPU nvidia-l4", "GPU", Kind::WrongArgumentCount, "expected 2 arguments (#KB GPU <model> <count>), got 1 argument"),
    ("#KB Taskcount 1 2", "Taskcount", Kind::WrongArgumentCount, "expected 1 argument (#KB Taskcount <n>), got 2 arguments"),
    ("#KB Mount scratch", "Mount", Kind::WrongArgumentCount, "got 1 argument"),
    ("#KB MinCpu", "MinCpu", Kind::WrongArgumentCount, "got 0 arguments"),
    ("#KB Time 1h", "Time", Kind::UnknownDirective, "unknown directive; expected one of Jobname, Namespace, Image"),
    ("#KB", "#KB", Kind::MissingKeyword, "expected a directive after #KB"),
    ("#KB   # just a comment", "#KB", Kind::MissingKeyword, "expected a directive after #KB"),
];

#[test]
fn refuses_bad_values_saying_what_was_expected() {
    for (line, keyword, kind, needle) in BAD {
        let errors = errs(&format!("{HEAD}{line}\necho done\n"));
        assert_eq!(summary(&errors), [(3, *keyword, *kind)], "{line}");
        let shown = errors[0].to_string();
        assert!(
            shown.starts_with(&format!("line 3: {keyword}: ")),
            "{line}: {shown}"
        );
        assert!(shown.contains(needle), "{line}: {shown}");
    }
}

#[test]
fn keywords_and_the_marker_are_case_insensitive() {
    let script = ok(
        "#kb image busybox\n#KB QUEUENAME gpu\n#Kb gpu nvidia-l4 1\n#kB preemptiblevm require\n",
    );
    assert_eq!(script.image, "busybox");
    assert_eq!(script.queue_name, "gpu");
    assert_eq!(script.gpu.map(|g| g.count), Some(1));
    assert_eq!(script.preemptible_vm, Some(PreemptibleVm::Require));
}

#[test]
fn values_keep_their_case() {
    let script = ok("#KB Image Registry.example.com/Tool:V1\n#KB Queuename default\n");
    assert_eq!(script.image, "Registry.example.com/Tool:V1");
}

#[test]
fn shebang_comments_and_blank_lines_may_come_before_and_between_directives() {
    let text = "#!/bin/sh\n\n# Render frames.\n#   (one per task)\n#KB Image busybox\n\n   \n# where\n  #KB Queuename default\n#KBATCH is not a directive\n#KB Taskcount 4\necho hi\n";
    let script = ok(text);
    assert_eq!(script.task_count, Some(4));
    assert_eq!(script.warnings, []);
    assert_eq!(script.text, text);
}

#[test]
fn directives_end_at_the_first_command() {
    let text = format!(
        "{HEAD}#KB Taskcount 4\necho start\n\n#KB RetryLimit 2\n# a comment\n#kb Taskcount 8\n"
    );
    let script = ok(&text);
    assert_eq!(script.task_count, Some(4));
    assert_eq!(
        script.retry_limit, None,
        "a #KB line after a command is a comment"
    );
    let lines: Vec<usize> = script.warnings.iter().map(|w| w.line).collect();
    assert_eq!(lines, [6, 8]);
    assert_eq!(
        script.warnings[0].to_string(),
        "line 6: \"#KB RetryLimit\" comes after the first command (line 4), so it is an ordinary \
         comment and ignored; move it above line 4 to make it a directive"
    );
}

#[test]
fn late_lines_are_not_checked() {
    // After the first command nothing is a directive, so nothing there is an error either.
    let script = ok(&format!(
        "{HEAD}echo\n#KB Bogus\n#KB Taskcount many\n#KB Image again\n"
    ));
    assert_eq!(script.warnings.len(), 3);
    assert!(script.warnings[0].message.contains("\"#KB Bogus\""));
}

#[test]
fn trailing_comments_after_arguments() {
    let script = ok(&format!("{HEAD}#KB Taskcount 10   # one per shard\n"));
    assert_eq!(script.task_count, Some(10));
}

#[test]
fn reports_every_error_with_its_line() {
    let text = "#!/bin/sh\n\
                #KB Image busybox\n\
                #KB MinCpu two\n\
                # comment\n\
                #KB Taskcount 0\n\
                #KB Frobnicate yes\n\
                #KB Image other\n\
                #KB GPU nvidia-l4\n\
                #KB PreemptibleVM Maybe\n\
                echo hi\n\
                #KB Queuename default\n";
    let errors = errs(text);
    assert_eq!(
        summary(&errors),
        [
            (3, "MinCpu", Kind::InvalidValue),
            (5, "Taskcount", Kind::InvalidValue),
            (6, "Frobnicate", Kind::UnknownDirective),
            (7, "Image", Kind::Duplicate),
            (8, "GPU", Kind::WrongArgumentCount),
            (9, "PreemptibleVM", Kind::InvalidValue),
            (0, "Queuename", Kind::MissingRequired),
        ]
    );
    assert_eq!(
        errors[6].to_string(),
        "Queuename: required directive is missing: add \"#KB Queuename <queue>\" to the directives \
         at the top of the script (line 11 has one, but after the first command, where directives end)"
    );
}

#[test]
fn missing_required_directives() {
    let cases: &[(&str, &[&str])] = &[
        ("", &["Image", "Queuename"]),
        ("#!/bin/sh\necho hi\n", &["Image", "Queuename"]),
        ("#KB Image busybox\n", &["Queuename"]),
        ("#KB Queuename default\n", &["Image"]),
    ];
    for (text, missing) in cases {
        let errors = errs(text);
        let expected: Vec<_> = missing
            .iter()
            .map(|k| (0, *k, Kind::MissingRequired))
            .collect();
        assert_eq!(summary(&errors), expected, "{text:?}");
        for e in &errors {
            assert!(
                e.to_string()
                    .starts_with(&format!("{}: required directive is missing", e.keyword))
            );
        }
    }
}

#[test]
fn an_invalid_required_directive_is_not_also_missing() {
    let errors = errs("#KB Image\n#KB Queuename Not_A_Queue\n");
    assert_eq!(
        summary(&errors),
        [
            (1, "Image", Kind::WrongArgumentCount),
            (2, "Queuename", Kind::InvalidValue),
        ]
    );
    assert!(
        errors[1]
            .to_string()
            .starts_with("line 2: Queuename: not a valid BatchQueue name: ")
    );
}

#[test]
fn duplicates() {
    for keyword in [
        "Jobname a",
        "Namespace a",
        "MaxWallTime 1h",
        "MinCpu 1",
        "MinMemory 1Gi",
        "GPU nvidia-l4 1",
        "Taskcount 2",
        "RetryLimit 1",
        "PreemptibleVM Prefer",
    ] {
        let errors = errs(&format!("{HEAD}#KB {keyword}\n#kb {keyword}\n"));
        let name = Keyword::parse(keyword.split(' ').next().unwrap_or_default()).map(Keyword::name);
        assert_eq!(
            summary(&errors),
            [(4, name.unwrap(), Kind::Duplicate)],
            "{keyword}"
        );
        assert!(errors[0].message.contains("first on line 3"), "{keyword}");
    }
}

#[test]
fn mount_repeats_but_not_its_claim_or_path() {
    let script = ok(&format!(
        "{HEAD}#KB Mount inputs /in\n#KB Mount results /out\n"
    ));
    assert_eq!(script.mounts.len(), 2);
    assert_eq!(script.mounts[1].claim_name, "results");
    let errors = errs(&format!(
        "{HEAD}#KB Mount inputs /in\n#KB Mount inputs /in2\n#KB Mount other /in\n"
    ));
    assert_eq!(
        summary(&errors),
        [(4, "Mount", Kind::Duplicate), (5, "Mount", Kind::Duplicate)]
    );
    assert!(
        errors[0]
            .message
            .contains("the claim \"inputs\" is already mounted on line 3")
    );
    assert!(
        errors[1]
            .message
            .contains("the path \"/in\" is already mounted on line 3")
    );
}

#[test]
fn unknown_directive_lists_the_known_ones() {
    let errors = errs(&format!("{HEAD}#KB Partition gpu\n"));
    assert_eq!(
        errors[0].to_string(),
        "line 3: Partition: unknown directive; expected one of Jobname, Namespace, Image, \
         Queuename, MaxWallTime, MinCpu, MinMemory, GPU, Mount, Taskcount, RetryLimit, PreemptibleVM"
    );
}

#[test]
fn shebang_warns_about_other_interpreters() {
    let cases = [
        ("#!/bin/sh", false),
        ("#!/bin/sh -e", false),
        ("#!/usr/bin/env sh", false),
        ("#! /bin/sh", false),
        ("# not a shebang: bash", false),
        ("#!/bin/bash", true),
        ("#!/usr/bin/env bash", true),
        ("#!/usr/bin/env -S python3 -u", true),
    ];
    for (first, warns) in cases {
        let script = ok(&format!("{first}\n{HEAD}"));
        assert_eq!(
            !script.warnings.is_empty(),
            warns,
            "{first}: {:?}",
            script.warnings
        );
        if warns {
            assert_eq!(script.warnings[0].line, 1);
            assert!(script.warnings[0].message.contains("/bin/sh -c"));
        }
    }
}

#[test]
fn crlf_and_byte_order_mark() {
    let script = ok(
        "\u{feff}#!/bin/sh\r\n#KB Image busybox\r\n#KB Queuename default\r\n#KB Taskcount 3\r\necho hi\r\n",
    );
    assert_eq!(script.image, "busybox");
    assert_eq!(script.task_count, Some(3));
    assert_eq!(script.warnings, []);
}

#[test]
fn odd_input_never_panics() {
    let odd = [
        "#",
        "#K",
        "#KB",
        "#kb\t",
        "#KBé",
        "#Kß Image x",
        "é",
        "#KB é ü",
        "#KB GPU é 1",
        "#KB Mount é /é",
        "#KB Jobname é",
        "#KB MinCpu é",
        "#KB MaxWallTime ü",
        "\u{feff}",
        "#KB Taskcount +1",
        "#KB\u{a0}Image x",
        "\0",
        "#KB Image \u{7}bell",
    ];
    for line in odd {
        let _ = parse_script(line);
        let _ = parse_script(&format!("{HEAD}{line}\n"));
        let _ = parse_script(&format!("{HEAD}echo\n{line}\n"));
    }
}
