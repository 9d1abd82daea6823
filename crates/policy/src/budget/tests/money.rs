//! Money: parsing, display, f64 conversions, serde.

use crate::budget::{Money, MoneyError};

fn m(text: &str) -> Money {
    Money::parse(text).unwrap()
}

#[test]
fn parses_decimal_text_exactly() {
    let table: [(&str, i128); 9] = [
        ("0", 0),
        ("12", 12_000_000_000),
        ("-0.5", -500_000_000),
        ("+3.2", 3_200_000_000),
        ("0.000000001", 1),
        ("100.10", 100_100_000_000),
        ("007.5", 7_500_000_000),
        ("1234567890123.123456789", 1_234_567_890_123_123_456_789),
        ("-0.000000009", -9),
    ];
    for (text, nanos) in table {
        assert_eq!(Money::parse(text).map(Money::nanos), Ok(nanos), "{text}");
    }
}

#[test]
fn refuses_malformed_text() {
    for text in [
        "", "-", ".5", "5.", "1.2.3", "1e3", "12a", " 1", "1,5", "--1", "NaN",
    ] {
        assert!(
            matches!(Money::parse(text), Err(MoneyError::Syntax(_))),
            "{text:?}"
        );
    }
    assert!(matches!(
        Money::parse("0.0000000001"),
        Err(MoneyError::TooPrecise(_))
    ));
    assert!(matches!(
        Money::parse("999999999999999999999999999999999999999"),
        Err(MoneyError::OutOfRange(_))
    ));
}

#[test]
fn displays_at_least_two_decimals_and_exactly() {
    let table = [
        ("0", "0.00"),
        ("3.2", "3.20"),
        ("100", "100.00"),
        ("5.125", "5.125"),
        ("-1.5", "-1.50"),
        ("0.000000001", "0.000000001"),
        ("-0.000000001", "-0.000000001"),
    ];
    for (text, shown) in table {
        assert_eq!(m(text).to_string(), shown, "{text}");
    }
    assert_eq!(
        Money::from_nanos(i128::MIN)
            .to_string()
            .parse::<Money>()
            .ok(),
        Some(Money::from_nanos(i128::MIN))
    );
}

#[test]
fn reads_f64_through_its_shortest_decimal_text() {
    let table: [(f64, &str); 8] = [
        (0.1, "0.10"),
        (0.3, "0.30"),
        (2.675, "2.675"),
        (0.031611, "0.031611"),
        (1e-9, "0.000000001"),
        (1.5e-9, "0.000000002"),
        (1e-10, "0.00"),
        (-4.25, "-4.25"),
    ];
    for (f, shown) in table {
        assert_eq!(Money::from_f64(f).unwrap().to_string(), shown, "{f}");
    }
    assert!(Money::from_f64(f64::INFINITY).is_err());
    assert!(Money::from_f64(f64::NAN).is_err());
    assert!(matches!(
        Money::from_f64(1e300),
        Err(MoneyError::OutOfRange(_))
    ));
}

#[test]
fn tenths_add_up_exactly_unlike_f64() {
    let tenth = Money::from_f64(0.1).unwrap();
    let sum = (0..10).fold(Money::ZERO, |acc, _| acc.checked_add(tenth).unwrap());
    assert_eq!(sum, Money::from_units(1));
    assert_ne!((0..10).map(|_| 0.1_f64).sum::<f64>(), 1.0);
}

#[test]
fn to_f64_is_the_nearest_double() {
    assert_eq!(m("0.1").to_f64(), 0.1);
    assert_eq!(m("96.8").to_f64(), 96.8);
    assert_eq!(m("-12.345678901").to_f64(), -12.345678901);
}

#[test]
fn arithmetic_is_checked_or_saturating() {
    let max = Money::from_nanos(i128::MAX);
    assert_eq!(max.checked_add(Money::from_nanos(1)), None);
    assert_eq!(max.saturating_add(Money::from_nanos(1)), max);
    assert_eq!(m("1").checked_sub(m("1.5")), Some(m("-0.5")));
    assert!(m("-0.5").is_negative());
}

#[test]
fn serialises_as_exact_text() {
    let json = serde_json::to_string(&m("5.1")).unwrap();
    assert_eq!(json, "\"5.10\"");
    let back: Money = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m("5.1"));
    assert!(serde_json::from_str::<Money>("5.1").is_err());
    assert!(serde_json::from_str::<Money>("\"x\"").is_err());
}
