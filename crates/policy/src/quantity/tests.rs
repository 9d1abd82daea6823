//! Unit tests of `quantity`: parsing every form, errors, display, helpers and serde.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn q(text: &str) -> Quantity {
    Quantity::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
}

const UNIT: i128 = 1_000_000_000;

#[test]
fn parses_every_form() {
    let cases: &[(&str, &str, i128)] = &[
        ("zero", "0", 0),
        ("integer", "3", 3 * UNIT),
        ("plus sign", "+1", UNIT),
        ("minus sign", "-1", -UNIT),
        ("minus zero", "-0", 0),
        ("trailing dot", "1.", UNIT),
        ("leading dot", ".5", UNIT / 2),
        ("signed leading dot", "-.5", -UNIT / 2),
        ("decimal", "0.5", UNIT / 2),
        ("leading zeros", "007", 7 * UNIT),
        ("suffix n", "7n", 7),
        ("suffix u", "7u", 7_000),
        ("suffix m", "7m", 7_000_000),
        ("suffix k", "7k", 7_000 * UNIT),
        ("suffix M", "7M", 7_000_000 * UNIT),
        ("suffix G", "7G", 7 * 10i128.pow(9) * UNIT),
        ("suffix T", "7T", 7 * 10i128.pow(12) * UNIT),
        ("suffix P", "7P", 7 * 10i128.pow(15) * UNIT),
        ("suffix E is exa", "1E", 10i128.pow(18) * UNIT),
        ("suffix Ki", "1Ki", 1024 * UNIT),
        ("suffix Mi", "1Mi", (1 << 20) * UNIT),
        ("suffix Gi", "1Gi", (1 << 30) * UNIT),
        ("suffix Ti", "1Ti", (1 << 40) * UNIT),
        ("suffix Pi", "1Pi", (1 << 50) * UNIT),
        ("suffix Ei", "1Ei", (1 << 60) * UNIT),
        ("fractional binary", "1.5Gi", 1_610_612_736 * UNIT),
        ("binary finer than a nano", "0.0000000001Ki", 103),
        ("negative binary finer than a nano", "-0.0000000001Ki", -102),
        ("fraction with decimal suffix", "1.5k", 1_500 * UNIT),
        ("lower exponent", "1e3", 1_000 * UNIT),
        ("upper exponent", "1E3", 1_000 * UNIT),
        ("plus exponent", "1e+3", 1_000 * UNIT),
        ("negative exponent", "1e-3", 1_000_000),
        ("upper negative exponent", "2E-9", 2),
        ("zero exponent", "5e0", 5 * UNIT),
        ("fraction and exponent", "1.5e2", 150 * UNIT),
        ("dot then exponent", "1.e2", 100 * UNIT),
        ("rounds a tenth of a nano up", "0.1n", 1),
        ("rounds 1e-20 up", "1e-20", 1),
        ("rounds -1e-20 toward zero", "-1e-20", 0),
        ("rounds up past nano digits", "1.0000000001", UNIT + 1),
        ("exact nano digits", "1.000000001", UNIT + 1),
        ("negative fine digits", "-1.0000000019", -UNIT - 1),
        ("zero with a huge exponent", "0e999999999", 0),
        (
            "long zero fraction",
            "0.000000000000000000000000000000000000000000000001",
            1,
        ),
        (
            "largest",
            "170141183460469231731687303715884105727n",
            i128::MAX,
        ),
        (
            "smallest",
            "-170141183460469231731687303715884105728n",
            i128::MIN,
        ),
    ];
    for (name, text, nanos) in cases {
        assert_eq!(q(text).nanos(), *nanos, "{name}: {text:?}");
        assert_eq!(text.parse::<Quantity>(), Ok(q(text)), "{name}: FromStr");
    }
}

#[test]
fn equalities_and_orderings() {
    let equal: &[(&str, &str, &str)] = &[
        ("gibi is bytes", "1Gi", "1073741824"),
        ("half is 500m", "0.5", "500m"),
        ("1000m is one", "1000m", "1"),
        ("129M in exponent form", "129M", "129e6"),
        ("129M spelled out", "129M", "129000000"),
        ("kibi is 1024", "1Ki", "1024"),
        ("1.5Gi", "1.5Gi", "1610612736"),
        ("explicit plus", "+1", "1"),
        ("trailing dot", "1.", "1"),
        ("leading dot", ".5", "500m"),
        ("milli exponent", "1e-3", "1m"),
        ("exa binary", "1Ei", "1152921504606846976"),
    ];
    for (name, a, b) in equal {
        assert_eq!(q(a), q(b), "{name}: {a} == {b}");
    }
    let less: &[(&str, &str, &str)] = &[
        ("123Mi below 129M", "123Mi", "129M"),
        ("123Mi is 128974848", "128974847", "123Mi"),
        ("negative below zero", "-1", "0"),
        ("nano above zero", "0", "1n"),
        ("exa below exbi", "1E", "1Ei"),
    ];
    for (name, a, b) in less {
        assert!(q(a) < q(b), "{name}: {a} < {b}");
    }
    assert_eq!(q("123Mi").nanos(), 128_974_848 * UNIT);
}

#[test]
fn errors_say_what_is_wrong() {
    let cases: &[(&str, &str, QuantityError, &str)] = &[
        (
            "empty",
            "",
            QuantityError::Empty,
            "empty quantity (expected a number with an optional suffix, such as 500m, 2 or 4Gi)",
        ),
        (
            "suffix alone",
            "Gi",
            QuantityError::NoDigits { input: "Gi".into() },
            r#""Gi": no digits (expected a number such as 1, 1.5 or .5 before any suffix)"#,
        ),
        (
            "sign alone",
            "-",
            QuantityError::NoDigits { input: "-".into() },
            "",
        ),
        (
            "dot alone",
            ".",
            QuantityError::NoDigits { input: ".".into() },
            "",
        ),
        (
            "signed dot",
            "+.",
            QuantityError::NoDigits { input: "+.".into() },
            "",
        ),
        (
            "two dots",
            "1.2.3",
            QuantityError::BadNumber {
                input: "1.2.3".into(),
                found: '.',
            },
            r#""1.2.3": bad number, unexpected '.' (expected an optional sign, digits with at most one '.', then an optional suffix)"#,
        ),
        (
            "two signs",
            "+-1",
            QuantityError::BadNumber {
                input: "+-1".into(),
                found: '-',
            },
            "",
        ),
        (
            "leading space",
            " 1",
            QuantityError::BadNumber {
                input: " 1".into(),
                found: ' ',
            },
            "",
        ),
        (
            "inner space",
            "1 Gi",
            QuantityError::BadNumber {
                input: "1 Gi".into(),
                found: ' ',
            },
            "",
        ),
        (
            "trailing sign",
            "1-",
            QuantityError::BadNumber {
                input: "1-".into(),
                found: '-',
            },
            "",
        ),
        (
            "unknown suffix",
            "12Gb",
            QuantityError::UnknownSuffix {
                input: "12Gb".into(),
                suffix: "Gb".into(),
            },
            r#""12Gb": unknown suffix "Gb" (expected one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or an exponent like e6)"#,
        ),
        (
            "lower K",
            "1K",
            QuantityError::UnknownSuffix {
                input: "1K".into(),
                suffix: "K".into(),
            },
            "",
        ),
        (
            "bare e",
            "1e",
            QuantityError::UnknownSuffix {
                input: "1e".into(),
                suffix: "e".into(),
            },
            "",
        ),
        (
            "trailing space",
            "1Gi ",
            QuantityError::UnknownSuffix {
                input: "1Gi ".into(),
                suffix: "Gi ".into(),
            },
            "",
        ),
        (
            "fractional exponent",
            "1e3.5",
            QuantityError::BadExponent {
                input: "1e3.5".into(),
                exponent: "e3.5".into(),
            },
            r#""1e3.5": bad exponent "e3.5" (expected e or E then a whole number, such as e6, E+3 or e-3)"#,
        ),
        (
            "sign-only exponent",
            "1E+",
            QuantityError::BadExponent {
                input: "1E+".into(),
                exponent: "E+".into(),
            },
            "",
        ),
        (
            "exponent then letters",
            "1e3k",
            QuantityError::BadExponent {
                input: "1e3k".into(),
                exponent: "e3k".into(),
            },
            "",
        ),
        (
            "exponent beyond i64",
            "1e9223372036854775808",
            QuantityError::BadExponent {
                input: "1e9223372036854775808".into(),
                exponent: "e9223372036854775808".into(),
            },
            "",
        ),
        (
            "too large",
            "1e30",
            QuantityError::TooLarge {
                input: "1e30".into(),
            },
            r#""1e30": too large (expected a magnitude of at most about 1.7e29)"#,
        ),
        (
            "too many digits",
            "1000000000000000000000000000000000000000n",
            QuantityError::TooLarge {
                input: "1000000000000000000000000000000000000000n".into(),
            },
            "",
        ),
        (
            "one past the largest",
            "170141183460469231731687303715884105728n",
            QuantityError::TooLarge {
                input: "170141183460469231731687303715884105728n".into(),
            },
            "",
        ),
        (
            "one past the smallest",
            "-170141183460469231731687303715884105729n",
            QuantityError::TooLarge {
                input: "-170141183460469231731687303715884105729n".into(),
            },
            "",
        ),
        (
            "rounding up overflows",
            "170141183460469231731687303715884105727.1n",
            QuantityError::TooLarge {
                input: "170141183460469231731687303715884105727.1n".into(),
            },
            "",
        ),
        (
            "huge exponent",
            "1e9223372036854775807",
            QuantityError::TooLarge {
                input: "1e9223372036854775807".into(),
            },
            "",
        ),
        (
            "large binary",
            "1000000000000000000Ei",
            QuantityError::TooLarge {
                input: "1000000000000000000Ei".into(),
            },
            "",
        ),
    ];
    for (name, text, error, message) in cases {
        assert_eq!(
            Quantity::parse(text).as_ref(),
            Err(error),
            "{name}: {text:?}"
        );
        if !message.is_empty() {
            assert_eq!(error.to_string(), *message, "{name}: message");
        }
    }
}

#[test]
fn displays_canonically() {
    let cases: &[(&str, i128, &str)] = &[
        ("zero", 0, "0"),
        ("units", 3 * UNIT, "3"),
        ("kilo", 1_000 * UNIT, "1k"),
        ("not a whole kilo", 1_500 * UNIT, "1500"),
        ("mega", 2_000_000 * UNIT, "2M"),
        ("giga", 10i128.pow(9) * UNIT, "1G"),
        ("tera", 10i128.pow(12) * UNIT, "1T"),
        ("peta", 10i128.pow(15) * UNIT, "1P"),
        ("exa", 10i128.pow(18) * UNIT, "1E"),
        ("many exa", 10i128.pow(21) * UNIT, "1000E"),
        ("gibi", 1_073_741_824 * UNIT, "1073741824"),
        ("half", UNIT / 2, "500m"),
        ("one and a half", 3 * UNIT / 2, "1500m"),
        ("micro", 1_000, "1u"),
        ("nano", 1, "1n"),
        ("negative", -UNIT / 2, "-500m"),
        ("negative kilo", -2_000 * UNIT, "-2k"),
        (
            "largest",
            i128::MAX,
            "170141183460469231731687303715884105727n",
        ),
        (
            "smallest",
            i128::MIN,
            "-170141183460469231731687303715884105728n",
        ),
    ];
    for (name, nanos, text) in cases {
        let quantity = Quantity::from_nanos(*nanos);
        assert_eq!(quantity.to_string(), *text, "{name}");
        assert_eq!(q(text), quantity, "{name}: round trip");
    }
}

#[test]
fn arithmetic_and_helpers() {
    assert_eq!(Quantity::from_units(3), q("3"));
    assert_eq!(Quantity::from_milli(500), q("500m"));
    assert_eq!(Quantity::from_units(-2).nanos(), -2 * UNIT);
    assert_eq!(q("1").checked_add(q("500m")), Some(q("1.5")));
    assert_eq!(q("1").checked_sub(q("1500m")), Some(q("-500m")));
    assert_eq!(q("1500m").checked_mul(4), Some(q("6")));
    assert_eq!(Quantity::from_nanos(i128::MAX).checked_add(q("1n")), None);
    assert_eq!(Quantity::from_nanos(i128::MIN).checked_sub(q("1n")), None);
    assert_eq!(Quantity::from_nanos(i128::MAX).checked_mul(2), None);
    assert!(Quantity::ZERO.is_zero() && q("-0").is_zero() && !q("1n").is_zero());
    assert!(q("-1n").is_negative() && !Quantity::ZERO.is_negative());
    assert_eq!(Quantity::default(), Quantity::ZERO);
    let ceilings: &[(&str, i128)] = &[
        ("0", 0),
        ("1n", 1),
        ("100m", 1),
        ("1", 1),
        ("1001m", 2),
        ("1Gi", 1 << 30),
        ("-1500m", -1),
        ("-2", -2),
        ("-1n", 0),
    ];
    for (text, units) in ceilings {
        assert_eq!(q(text).ceil_units(), *units, "ceil_units({text})");
    }
    assert_eq!(
        Quantity::from_nanos(i128::MAX).ceil_units(),
        i128::MAX / UNIT + 1
    );
    assert_eq!(
        Quantity::from_nanos(i128::MIN).ceil_units(),
        i128::MIN / UNIT
    );
}

#[test]
fn serde_string_and_numbers() {
    let from = |json: &str| serde_json::from_str::<Quantity>(json);
    assert_eq!(serde_json::to_string(&q("1.5")).unwrap(), r#""1500m""#);
    assert_eq!(from(r#""1500m""#).unwrap(), q("1.5"));
    assert_eq!(from("1.5").unwrap(), q("1.5"));
    assert_eq!(from("2").unwrap(), q("2"));
    assert_eq!(from("-2").unwrap(), q("-2"));
    assert_eq!(from("0.1").unwrap(), q("100m"));
    assert_eq!(from("1e3").unwrap(), q("1k"));
    assert_eq!(
        from("18446744073709551615").unwrap(),
        q("18446744073709551615")
    );
    let error = from(r#""12Gb""#).unwrap_err().to_string();
    assert!(error.contains(r#"unknown suffix "Gb""#), "{error}");
    assert!(from("1e300").unwrap_err().to_string().contains("too large"));
    assert!(from("true").is_err());
}
