//! Properties of Kubernetes quantities, against an exact big-rational reference.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_policy::quantity::{Quantity, QuantityError};
use num_bigint::BigInt;
use proptest::prelude::*;

/// A generated quantity text and its exact value in nano-units, as `numerator / denominator`.
#[derive(Clone, Debug)]
struct Case {
    text: String,
    numerator: BigInt,
    denominator: BigInt,
}

impl Case {
    /// The value in nano-units rounded up (toward +infinity), as Kubernetes does.
    fn reference(&self) -> BigInt {
        // BigInt division truncates toward zero, which is the ceiling for negative values.
        let quotient = &self.numerator / &self.denominator;
        let remainder = &self.numerator % &self.denominator;
        if remainder > BigInt::from(0) {
            quotient + 1
        } else {
            quotient
        }
    }

    /// The reference if it fits in an i128.
    fn reference_nanos(&self) -> Option<i128> {
        i128::try_from(&self.reference()).ok()
    }
}

fn ten_to(power: u32) -> BigInt {
    BigInt::from(10).pow(power)
}

/// A suffix: its text and its scale as (power of ten, power of two).
fn suffix() -> impl Strategy<Value = (String, i64, u32)> {
    let decimal = prop::sample::select(vec![
        ("n", -9),
        ("u", -6),
        ("m", -3),
        ("", 0),
        ("k", 3),
        ("M", 6),
        ("G", 9),
        ("T", 12),
        ("P", 15),
        ("E", 18),
    ])
    .prop_map(|(text, power)| (text.to_owned(), power, 0));
    let binary = prop::sample::select(vec![
        ("Ki", 10),
        ("Mi", 20),
        ("Gi", 30),
        ("Ti", 40),
        ("Pi", 50),
        ("Ei", 60),
    ])
    .prop_map(|(text, power)| (text.to_owned(), 0, power));
    let exponent = (
        prop::sample::select(vec!["e", "E"]),
        prop::sample::select(vec!["", "+", "-"]),
        0i64..=45,
    )
        .prop_map(|(letter, sign, value)| {
            let power = if sign == "-" { -value } else { value };
            (format!("{letter}{sign}{value}"), power, 0)
        });
    prop_oneof![decimal, binary, exponent]
}

/// A quantity text: sign, integer digits, optional fraction, suffix or exponent.
fn case() -> impl Strategy<Value = Case> {
    (
        prop::sample::select(vec!["", "+", "-"]),
        "[0-9]{0,22}",
        prop::option::of("[0-9]{0,22}"),
        suffix(),
    )
        .prop_filter("at least one digit", |(_, int, frac, _)| {
            !int.is_empty() || frac.as_ref().is_some_and(|f| !f.is_empty())
        })
        .prop_map(|(sign, int, frac, (suffix, power10, power2))| {
            let frac_digits = frac.clone().unwrap_or_default();
            let text = match &frac {
                Some(frac) => format!("{sign}{int}.{frac}{suffix}"),
                None => format!("{sign}{int}{suffix}"),
            };
            let digits = format!("0{int}{frac_digits}");
            let mut numerator: BigInt = digits.parse().unwrap();
            if sign == "-" {
                numerator = -numerator;
            }
            numerator = numerator * ten_to(9) * (BigInt::from(1) << power2);
            let mut denominator = ten_to(u32::try_from(frac_digits.len()).unwrap());
            if power10 >= 0 {
                numerator *= ten_to(u32::try_from(power10).unwrap());
            } else {
                denominator *= ten_to(u32::try_from(-power10).unwrap());
            }
            Case {
                text,
                numerator,
                denominator,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_matches_exact_reference(case in case()) {
        let parsed = Quantity::parse(&case.text);
        match case.reference_nanos() {
            Some(nanos) => prop_assert_eq!(parsed, Ok(Quantity::from_nanos(nanos)), "{}", case.text),
            None => prop_assert_eq!(
                parsed,
                Err(QuantityError::TooLarge { input: case.text.clone() }),
                "{}", case.text
            ),
        }
    }

    #[test]
    fn ordering_matches_reference(a in case(), b in case()) {
        // Texts beyond an i128 of nano-units are covered by the test above.
        if let (Ok(qa), Ok(qb)) = (Quantity::parse(&a.text), Quantity::parse(&b.text)) {
            prop_assert_eq!(qa.cmp(&qb), a.reference().cmp(&b.reference()), "{} vs {}", a.text, b.text);
        }
    }

    #[test]
    fn display_round_trips_any_value(nanos in any::<i128>()) {
        let quantity = Quantity::from_nanos(nanos);
        prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
    }

    #[test]
    fn display_round_trips_parsed_texts(case in case()) {
        if let Ok(quantity) = Quantity::parse(&case.text) {
            let text = quantity.to_string();
            prop_assert_eq!(Quantity::parse(&text), Ok(quantity), "{} -> {}", case.text, text);
        }
    }

    #[test]
    fn display_round_trips_scaled_values(units in any::<i64>(), power in 0u32..=9) {
        // Values with few significant digits exercise every suffix of the canonical text.
        let quantity = Quantity::from_nanos(i128::from(units) * 10i128.pow(power));
        prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
    }

    #[test]
    fn parse_never_panics_on_text(text in "\\PC*") {
        let _ = Quantity::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = Quantity::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parse_never_panics_on_near_misses(text in "[-+0-9.eEinumkKMGTP µ]{0,30}") {
        if let Ok(quantity) = Quantity::parse(&text) {
            prop_assert_eq!(Quantity::parse(&quantity.to_string()), Ok(quantity));
        }
    }
}

#[test]
fn serde_accepts_floats_integers_and_strings() {
    let from_float: Quantity = serde_json::from_str("1.5").unwrap();
    let from_string: Quantity = serde_json::from_str(r#""1500m""#).unwrap();
    let from_integer: Quantity = serde_json::from_str("2").unwrap();
    assert_eq!(from_float, from_string);
    assert_eq!(from_float, Quantity::from_milli(1500));
    assert_eq!(from_integer, Quantity::from_units(2));
    assert_eq!(
        serde_json::from_str::<Quantity>(r#""2""#).unwrap(),
        from_integer
    );
    assert_eq!(serde_json::to_string(&from_float).unwrap(), r#""1500m""#);
    // A field of a larger document, as in a container's resources.
    let limits: std::collections::BTreeMap<String, Quantity> =
        serde_json::from_str(r#"{"cpu": 1.5, "memory": "1Gi", "gpu": 2}"#).unwrap();
    assert_eq!(limits["cpu"], from_string);
    assert_eq!(limits["memory"], Quantity::parse("1073741824").unwrap());
    assert_eq!(limits["gpu"], from_integer);
}
