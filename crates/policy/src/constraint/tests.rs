#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::api::{BatchJobConstraintSpec, ConstraintSpec};
use crate::violation::Reason;

fn spec(name: &str, operator: &str, values: &[&str], default: Option<&str>) -> ConstraintSpec {
    ConstraintSpec {
        name: name.to_owned(),
        operator: operator.to_owned(),
        values: values.iter().map(|v| (*v).to_owned()).collect(),
        default: default.map(str::to_owned),
    }
}

fn parse_one(name: &str, operator: &str, values: &[&str]) -> Constraint {
    let set = ConstraintSet::parse(
        "c",
        &BatchJobConstraintSpec {
            constraints: vec![spec(name, operator, values, None)],
        },
    )
    .unwrap_or_else(|v| panic!("{name} {operator} {values:?}: {v}"));
    set.constraints.into_iter().next().unwrap()
}

/// (field, operator, values, the job's value or None for unset, holds)
type Case = (
    &'static str,
    &'static str,
    &'static [&'static str],
    Option<&'static str>,
    bool,
);

const CASES: &[Case] = &[
    // WallTime
    ("WallTime", "LessThan", &["24h"], Some("23h59m"), true),
    ("WallTime", "LessThan", &["24h"], Some("24h"), false),
    ("WallTime", "LessThan", &["24h"], Some("1d"), false),
    ("WallTime", "LessThan", &["24h"], Some("1d1m"), false),
    ("WallTime", "LessThan", &["24h"], None, false),
    ("WallTime", "GreaterThan", &["30m"], Some("31m"), true),
    ("WallTime", "GreaterThan", &["30m"], Some("30m"), false),
    ("WallTime", "GreaterThan", &["30m"], None, false),
    ("WallTime", "Equal", &["1h"], Some("60m"), true),
    ("WallTime", "Equal", &["1h"], Some("1h30m"), false),
    ("WallTime", "Equal", &["1h"], None, false),
    ("WallTime", "In", &["30m", "1h"], Some("1h"), true),
    ("WallTime", "In", &["30m", "1h"], Some("2h"), false),
    ("WallTime", "In", &["30m", "1h"], None, false),
    ("WallTime", "NotIn", &["30m", "1h"], Some("2h"), true),
    ("WallTime", "NotIn", &["30m", "1h"], Some("3600s"), false),
    ("WallTime", "NotIn", &["30m", "1h"], None, true),
    ("WallTime", "Exists", &[], Some("5m"), true),
    ("WallTime", "Exists", &[], None, false),
    // Memory: exact quantities, never floating point
    ("Memory", "LessThan", &["129M"], Some("123Mi"), true),
    ("Memory", "LessThan", &["129e6"], Some("128974848"), true),
    ("Memory", "LessThan", &["123Mi"], Some("128974848"), false),
    ("Memory", "LessThan", &["16Gi"], Some("16Gi"), false),
    ("Memory", "LessThan", &["16Gi"], None, false),
    ("Memory", "GreaterThan", &["1Gi"], Some("1073741825"), true),
    ("Memory", "GreaterThan", &["1Gi"], Some("1073741824"), false),
    ("Memory", "GreaterThan", &["1Gi"], None, false),
    ("Memory", "Equal", &["1Gi"], Some("1073741824"), true),
    ("Memory", "Equal", &["129M"], Some("129e6"), true),
    ("Memory", "Equal", &["1G"], Some("1Gi"), false),
    ("Memory", "Equal", &["1Gi"], None, false),
    ("Memory", "In", &["1Gi", "2Gi"], Some("2048Mi"), true),
    ("Memory", "In", &["1Gi", "2Gi"], Some("3Gi"), false),
    ("Memory", "In", &["1Gi"], None, false),
    ("Memory", "NotIn", &["1Gi"], Some("1024Mi"), false),
    ("Memory", "NotIn", &["1Gi"], Some("1G"), true),
    ("Memory", "NotIn", &["1Gi"], None, true),
    ("Memory", "Exists", &[], Some("1"), true),
    ("Memory", "Exists", &[], None, false),
    // Cpu
    ("Cpu", "LessThan", &["1"], Some("999m"), true),
    ("Cpu", "LessThan", &["1"], Some("1000m"), false),
    ("Cpu", "LessThan", &["1"], None, false),
    ("Cpu", "GreaterThan", &["100m"], Some("0.1"), false),
    ("Cpu", "GreaterThan", &["100m"], Some("0.11"), true),
    ("Cpu", "GreaterThan", &["100m"], None, false),
    ("Cpu", "Equal", &["0.5"], Some("500m"), true),
    ("Cpu", "Equal", &["1"], Some("1000m"), true),
    ("Cpu", "Equal", &["1"], Some("1001m"), false),
    ("Cpu", "Equal", &["1"], None, false),
    ("Cpu", "In", &["1", "2"], Some("2000m"), true),
    ("Cpu", "In", &["1", "2"], Some("1500m"), false),
    ("Cpu", "In", &["1"], None, false),
    ("Cpu", "NotIn", &["1", "2"], Some("1500m"), true),
    ("Cpu", "NotIn", &["1", "2"], Some("1"), false),
    ("Cpu", "NotIn", &["1"], None, true),
    ("Cpu", "Exists", &[], Some("100m"), true),
    ("Cpu", "Exists", &[], None, false),
    // Gpu
    ("Gpu", "LessThan", &["5"], Some("4"), true),
    ("Gpu", "LessThan", &["5"], Some("5"), false),
    ("Gpu", "LessThan", &["5"], None, false),
    ("Gpu", "GreaterThan", &["0"], Some("1"), true),
    ("Gpu", "GreaterThan", &["0"], Some("0"), false),
    ("Gpu", "GreaterThan", &["0"], None, false),
    ("Gpu", "Equal", &["0"], Some("0"), true),
    ("Gpu", "Equal", &["0"], Some("1"), false),
    ("Gpu", "Equal", &["0"], None, false),
    ("Gpu", "In", &["1", "2", "4"], Some("4"), true),
    ("Gpu", "In", &["1", "2", "4"], Some("3"), false),
    ("Gpu", "In", &["1"], None, false),
    ("Gpu", "NotIn", &["8"], Some("4"), true),
    ("Gpu", "NotIn", &["8"], Some("8"), false),
    ("Gpu", "NotIn", &["8"], None, true),
    ("Gpu", "Exists", &[], Some("0"), true),
    ("Gpu", "Exists", &[], None, false),
    // GpuModel
    (
        "GpuModel",
        "Equal",
        &["nvidia-tesla-t4"],
        Some("nvidia-tesla-t4"),
        true,
    ),
    (
        "GpuModel",
        "Equal",
        &["nvidia-tesla-t4"],
        Some("nvidia-l4"),
        false,
    ),
    ("GpuModel", "Equal", &["nvidia-tesla-t4"], None, false),
    (
        "GpuModel",
        "In",
        &["nvidia-tesla-t4", "nvidia-l4"],
        Some("nvidia-l4"),
        true,
    ),
    (
        "GpuModel",
        "In",
        &["nvidia-tesla-t4", "nvidia-l4"],
        Some("nvidia-tesla-k80"),
        false,
    ),
    ("GpuModel", "In", &["nvidia-l4"], None, false),
    (
        "GpuModel",
        "NotIn",
        &["nvidia-tesla-k80"],
        Some("nvidia-l4"),
        true,
    ),
    (
        "GpuModel",
        "NotIn",
        &["nvidia-tesla-k80"],
        Some("nvidia-tesla-k80"),
        false,
    ),
    ("GpuModel", "NotIn", &["nvidia-tesla-k80"], None, true),
    ("GpuModel", "Exists", &[], Some("nvidia-l4"), true),
    ("GpuModel", "Exists", &[], None, false),
    // RetryLimit
    ("RetryLimit", "LessThan", &["3"], Some("2"), true),
    ("RetryLimit", "LessThan", &["3"], Some("3"), false),
    ("RetryLimit", "LessThan", &["3"], None, false),
    ("RetryLimit", "GreaterThan", &["0"], Some("1"), true),
    ("RetryLimit", "GreaterThan", &["0"], Some("0"), false),
    ("RetryLimit", "GreaterThan", &["0"], None, false),
    ("RetryLimit", "Equal", &["0"], Some("0"), true),
    ("RetryLimit", "Equal", &["0"], Some("1"), false),
    ("RetryLimit", "Equal", &["0"], None, false),
    ("RetryLimit", "In", &["0", "1", "2"], Some("2"), true),
    ("RetryLimit", "In", &["0", "1", "2"], Some("3"), false),
    ("RetryLimit", "In", &["0"], None, false),
    ("RetryLimit", "NotIn", &["5"], Some("4"), true),
    ("RetryLimit", "NotIn", &["5"], Some("5"), false),
    ("RetryLimit", "NotIn", &["5"], None, true),
    ("RetryLimit", "Exists", &[], Some("0"), true),
    ("RetryLimit", "Exists", &[], None, false),
];

#[test]
fn every_operator_on_every_field() {
    for (field, op, values, actual, expected) in CASES {
        let c = parse_one(field, op, values);
        let actual = actual.map(|a| c.field.parse_value(a).unwrap());
        assert_eq!(
            c.holds(actual.as_ref()),
            *expected,
            "{field} {op} {values:?} with {actual:?}"
        );
    }
    // The table covers the full field × operator matrix that the SPEC allows.
    for field in Field::ALL {
        for op in Operator::ALL {
            let covered = CASES
                .iter()
                .any(|c| c.0 == field.as_str() && c.1 == op.as_str());
            assert_eq!(covered, field.allows(op), "{field} {op}");
        }
    }
}

#[test]
fn defaults_come_from_default_then_equal_then_in() {
    let set = ConstraintSet::parse(
        "c",
        &BatchJobConstraintSpec {
            constraints: vec![
                spec("WallTime", "LessThan", &["24h"], Some("1h")),
                spec("Gpu", "Equal", &["0"], None),
                spec("RetryLimit", "In", &["1", "2"], None),
                spec("Memory", "LessThan", &["16Gi"], None),
                spec("Cpu", "NotIn", &["3"], None),
                spec("GpuModel", "Exists", &[], None),
            ],
        },
    )
    .unwrap();
    let defaults: Vec<Option<&str>> = set
        .constraints
        .iter()
        .map(|c| c.default_value().map(|(_, raw)| raw))
        .collect();
    assert_eq!(
        defaults,
        [Some("1h"), Some("0"), Some("1"), None, None, None]
    );
}

/// (constraint, expected field path, expected reason)
type BadCase = (ConstraintSpec, &'static str, Reason);

#[test]
fn malformed_constraints_are_refused_with_their_index() {
    let cases: Vec<BadCase> = vec![
        (
            spec("Walltime", "LessThan", &["1h"], None),
            "spec.constraints[0].name",
            Reason::UnknownConstraintField,
        ),
        (
            spec("WallTime", "Less", &["1h"], None),
            "spec.constraints[0].operator",
            Reason::UnknownOperator,
        ),
        (
            spec("GpuModel", "LessThan", &["t4"], None),
            "spec.constraints[0].operator",
            Reason::UnknownOperator,
        ),
        (
            spec("GpuModel", "GreaterThan", &["t4"], None),
            "spec.constraints[0].operator",
            Reason::UnknownOperator,
        ),
        (
            spec("WallTime", "LessThan", &[], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("WallTime", "LessThan", &["1h", "2h"], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("Cpu", "GreaterThan", &[], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("Memory", "Equal", &["1Gi", "2Gi"], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("Gpu", "In", &[], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("Gpu", "NotIn", &[], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("Gpu", "Exists", &["1"], None),
            "spec.constraints[0].values",
            Reason::WrongArity,
        ),
        (
            spec("WallTime", "LessThan", &["1w"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("WallTime", "In", &["1h", "-1h"], None),
            "spec.constraints[0].values[1]",
            Reason::Invalid,
        ),
        (
            spec("Memory", "LessThan", &["16GB"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("Memory", "LessThan", &["-1Gi"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("Cpu", "LessThan", &["one"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("Gpu", "LessThan", &["1.5"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("Gpu", "LessThan", &["500m"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("RetryLimit", "LessThan", &["-1"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("RetryLimit", "LessThan", &["3000000000"], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("GpuModel", "Equal", &[""], None),
            "spec.constraints[0].values[0]",
            Reason::Invalid,
        ),
        (
            spec("WallTime", "LessThan", &["24h"], Some("soon")),
            "spec.constraints[0].default",
            Reason::Invalid,
        ),
        (
            spec("WallTime", "LessThan", &["24h"], Some("48h")),
            "spec.constraints[0].default",
            Reason::Invalid,
        ),
        (
            spec("Gpu", "NotIn", &["1"], Some("1")),
            "spec.constraints[0].default",
            Reason::Invalid,
        ),
    ];
    for (c, path, reason) in cases {
        let described = format!("{c:?}");
        let err = ConstraintSet::parse(
            "c",
            &BatchJobConstraintSpec {
                constraints: vec![c],
            },
        )
        .unwrap_err();
        let v = &err.as_slice()[0];
        assert_eq!(
            (v.field.as_str(), v.reason),
            (path, reason),
            "{described}: {err}"
        );
    }
}

#[test]
fn every_problem_is_reported_not_only_the_first() {
    let err = ConstraintSet::parse(
        "c",
        &BatchJobConstraintSpec {
            constraints: vec![
                spec("WallTime", "LessThan", &["24h"], None),
                spec("Disk", "LessThan", &["1Gi"], None),
                spec("Cpu", "Near", &["1"], None),
                spec("Memory", "In", &["1Gi", "lots"], None),
            ],
        },
    )
    .unwrap_err();
    let fields: Vec<&str> = err.iter().map(|v| v.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.constraints[1].name",
            "spec.constraints[2].operator",
            "spec.constraints[3].values[1]"
        ]
    );
    assert!(err.as_slice()[0].message.contains("\"Disk\""), "{err}");
}

#[test]
fn describe_reads_like_the_manifest() {
    assert_eq!(
        parse_one("WallTime", "LessThan", &["24h"]).describe(),
        "WallTime LessThan 24h"
    );
    assert_eq!(
        parse_one("Gpu", "In", &["1", "2"]).describe(),
        "Gpu In [1, 2]"
    );
    assert_eq!(
        parse_one("GpuModel", "Exists", &[]).describe(),
        "GpuModel Exists"
    );
}
