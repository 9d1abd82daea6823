//! Wall-time durations.
//!
//! A [`WallTime`] is written like Go's `time.ParseDuration` (`1h30m`, `1.5h`, `500ms`), plus a
//! `d` unit of 24 hours (`30d`). Durations are never negative, and are held exactly as a
//! whole number of nanoseconds in a `u64` (up to about 584 years).

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;
const SECS_PER_MINUTE: u64 = 60;
const SECS_PER_HOUR: u64 = 3_600;

/// A non-negative duration with nanosecond precision, written like Go's `time.ParseDuration`
/// plus a `d` (24h) unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WallTime {
    nanos: u64,
}

/// Why a text is not a duration.
///
/// Every message quotes the input, says what is wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty.
    #[error("empty duration (expected a number and a unit, such as 30m, 1h30m or 2d)")]
    Empty,
    /// The text starts with `-`.
    #[error("{input:?}: durations cannot be negative (expected a duration such as 30m or 1h30m)")]
    Negative {
        /// The whole text.
        input: String,
    },
    /// A number has no unit after it (only the bare `0` may go without one).
    #[error("{input:?}: expected a unit such as s, m, h, d after {number}")]
    MissingUnit {
        /// The whole text.
        input: String,
        /// The number missing its unit.
        number: String,
    },
    /// A unit is none of the known ones.
    #[error("{input:?}: unknown unit {unit:?} (expected one of ns, us, µs, ms, s, m, h, d)")]
    UnknownUnit {
        /// The whole text.
        input: String,
        /// The unknown unit.
        unit: String,
    },
    /// A number is missing or malformed (no digits, a second `.`, a sign or space inside).
    #[error(
        "{input:?}: bad number at {at:?} (expected digits with at most one '.' and then a unit, as in 30m, 1.5h or 1h30m)"
    )]
    BadNumber {
        /// The whole text.
        input: String,
        /// The rest of the text from where a number was expected.
        at: String,
    },
    /// The duration is longer than `u64::MAX` nanoseconds.
    #[error("{input:?}: too long (expected at most about 584 years, 5124095h)")]
    Overflow {
        /// The whole text.
        input: String,
    },
}

impl WallTime {
    /// The zero duration.
    pub const ZERO: WallTime = WallTime { nanos: 0 };

    /// Parses a duration such as `50m`, `1h30m`, `1.5h`, `500ms` or `30d`.
    ///
    /// The text is a sequence of numbers (digits with an optional fraction), each followed by
    /// a unit: `ns`, `us` (or `µs`, `μs`), `ms`, `s`, `m`, `h` or `d` (24 hours). An optional
    /// leading `+` is allowed; `-` is not. The bare `0` is zero. Fractions are exact, and digits
    /// finer than a nanosecond are truncated, as in Go. No whitespace is allowed.
    ///
    /// ```
    /// use kbatch_policy::duration::WallTime;
    ///
    /// let limit = WallTime::parse("1h30m")?;
    /// assert_eq!(limit, WallTime::parse("1.5h")?);
    /// assert_eq!(limit.as_secs(), 5_400);
    /// assert_eq!(WallTime::parse("1d")?.to_string(), "24h");
    /// assert!(WallTime::parse("-1h").is_err());
    /// # Ok::<(), kbatch_policy::duration::DurationError>(())
    /// ```
    pub fn parse(text: &str) -> Result<WallTime, DurationError> {
        if text.is_empty() {
            return Err(DurationError::Empty);
        }
        if text.starts_with('-') {
            return Err(DurationError::Negative {
                input: text.to_owned(),
            });
        }
        let body = text.strip_prefix('+').unwrap_or(text);
        if body == "0" {
            return Ok(WallTime::ZERO);
        }
        if body.is_empty() {
            return Err(bad_number(text, body));
        }
        let overflow = || DurationError::Overflow {
            input: text.to_owned(),
        };
        let mut total = 0u64;
        let mut rest = body;
        while !rest.is_empty() {
            let component = rest;
            let (int_digits, after_int) = split_digits(component);
            let (frac_digits, after_number) = match after_int.strip_prefix('.') {
                Some(after_dot) => split_digits(after_dot),
                None => ("", after_int),
            };
            if (int_digits.is_empty() && frac_digits.is_empty()) || after_number.starts_with('.') {
                return Err(bad_number(text, component));
            }
            // A unit runs up to the next number, or to a sign (which no unit contains).
            let unit_end = after_number
                .find(|c: char| c.is_ascii_digit() || matches!(c, '.' | '+' | '-'))
                .unwrap_or(after_number.len());
            // `unit_end` is a char boundary (from `find`, or the length).
            let (unit, after_unit) = after_number
                .split_at_checked(unit_end)
                .unwrap_or((after_number, ""));
            let Some(unit_nanos) = unit_nanos(unit) else {
                return Err(if unit.is_empty() {
                    let number_len = component.len() - after_number.len();
                    DurationError::MissingUnit {
                        input: text.to_owned(),
                        number: component.get(..number_len).unwrap_or(component).to_owned(),
                    }
                } else {
                    DurationError::UnknownUnit {
                        input: text.to_owned(),
                        unit: unit.to_owned(),
                    }
                });
            };
            let value =
                component_nanos(int_digits, frac_digits, unit_nanos).ok_or_else(overflow)?;
            total = total.checked_add(value).ok_or_else(overflow)?;
            rest = after_unit;
        }
        Ok(WallTime { nanos: total })
    }

    /// The duration of `secs` seconds, saturating at `u64::MAX` nanoseconds (about 584 years)
    /// for `secs` above 18446744073.
    pub const fn from_secs(secs: u64) -> WallTime {
        WallTime {
            nanos: secs.saturating_mul(NANOS_PER_SEC),
        }
    }

    /// The duration of exactly `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> WallTime {
        WallTime { nanos }
    }

    /// The duration in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.nanos
    }

    /// The duration in whole seconds, truncating: `1.9s` gives 1.
    pub const fn as_secs(self) -> u64 {
        self.nanos / NANOS_PER_SEC
    }

    /// The duration in seconds, rounded up: `1.1s` gives 2.
    pub fn as_secs_ceil(self) -> u64 {
        self.nanos.div_ceil(NANOS_PER_SEC)
    }

    /// Whether the duration is zero.
    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// The sum, or `None` beyond `u64::MAX` nanoseconds.
    pub fn checked_add(self, other: WallTime) -> Option<WallTime> {
        self.nanos
            .checked_add(other.nanos)
            .map(WallTime::from_nanos)
    }
}

/// Splits `s` after its leading ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    // `end` is a char boundary (from `find`, or the length), so the split always succeeds.
    s.split_at_checked(end).unwrap_or((s, ""))
}

fn bad_number(text: &str, at: &str) -> DurationError {
    DurationError::BadNumber {
        input: text.to_owned(),
        at: at.to_owned(),
    }
}

/// Nanoseconds in one `unit`, or `None` for an unknown unit.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        // U+00B5 MICRO SIGN and U+03BC GREEK SMALL LETTER MU, as Go accepts both.
        "us" | "\u{b5}s" | "\u{3bc}s" => NANOS_PER_MICRO,
        "ms" => NANOS_PER_MILLI,
        "s" => NANOS_PER_SEC,
        "m" => SECS_PER_MINUTE * NANOS_PER_SEC,
        "h" => SECS_PER_HOUR * NANOS_PER_SEC,
        "d" => 24 * SECS_PER_HOUR * NANOS_PER_SEC,
        _ => return None,
    })
}

/// `int.frac` units in nanoseconds, truncated to a whole nanosecond; `None` on overflow.
fn component_nanos(int_digits: &str, frac_digits: &str, unit: u64) -> Option<u64> {
    // Both strings hold ASCII digits only, so the subtractions never saturate.
    let whole = int_digits.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?
            .checked_add(u64::from(b.saturating_sub(b'0')))
    })?;
    // floor(unit * 0.frac) by long division from the last digit. The carry stays below
    // `unit` (<= 8.64e13): (unit * d + carry) / 10 < 10 * unit / 10, so nothing overflows.
    let fraction = frac_digits.bytes().rev().fold(0u64, |carry, b| {
        (unit * u64::from(b.saturating_sub(b'0')) + carry) / 10
    });
    whole.checked_mul(unit)?.checked_add(fraction)
}

impl FromStr for WallTime {
    type Err = DurationError;

    /// Same as [`WallTime::parse`].
    fn from_str(text: &str) -> Result<WallTime, DurationError> {
        WallTime::parse(text)
    }
}

impl fmt::Display for WallTime {
    /// Writes the compact form, largest units first and zero parts left out: `1h30m`, `24h`,
    /// `1h0.5s`, `1.5s`. Under a second it uses `ms`, `us` or `ns` (`500ms`, `1.5us`); zero
    /// is `0s`. Days are written as hours. The text parses back to the same duration.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.nanos;
        if nanos == 0 {
            return f.write_str("0s");
        }
        if nanos < NANOS_PER_MICRO {
            return write!(f, "{nanos}ns");
        }
        if nanos < NANOS_PER_MILLI {
            return write_decimal(f, nanos, NANOS_PER_MICRO, 3, "us");
        }
        if nanos < NANOS_PER_SEC {
            return write_decimal(f, nanos, NANOS_PER_MILLI, 6, "ms");
        }
        let secs = nanos / NANOS_PER_SEC;
        let hours = secs / SECS_PER_HOUR;
        let minutes = secs % SECS_PER_HOUR / SECS_PER_MINUTE;
        let seconds = secs % SECS_PER_MINUTE;
        if hours > 0 {
            write!(f, "{hours}h")?;
        }
        if minutes > 0 {
            write!(f, "{minutes}m")?;
        }
        let sub_second = nanos % NANOS_PER_SEC;
        if seconds > 0 || sub_second > 0 {
            let in_seconds = seconds * NANOS_PER_SEC + sub_second;
            write_decimal(f, in_seconds, NANOS_PER_SEC, 9, "s")?;
        }
        Ok(())
    }
}

/// Writes `value / per_unit` in decimal, without trailing zeros in the fraction, then `unit`.
/// `per_unit` is `10^places`.
fn write_decimal(
    f: &mut fmt::Formatter<'_>,
    value: u64,
    per_unit: u64,
    places: usize,
    unit: &str,
) -> fmt::Result {
    let whole = value / per_unit;
    let fraction = value % per_unit;
    if fraction == 0 {
        return write!(f, "{whole}{unit}");
    }
    let digits = format!("{fraction:0places$}");
    write!(f, "{whole}.{}{unit}", digits.trim_end_matches('0'))
}

impl From<WallTime> for std::time::Duration {
    fn from(wall_time: WallTime) -> std::time::Duration {
        std::time::Duration::from_nanos(wall_time.nanos)
    }
}

impl Serialize for WallTime {
    /// Serializes as the compact string, e.g. `"1h30m"`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WallTime {
    /// Deserializes from a duration string such as `"30m"`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<WallTime, D::Error> {
        deserializer.deserialize_str(WallTimeVisitor)
    }
}

/// Reads a duration from a string.
struct WallTimeVisitor;

impl Visitor<'_> for WallTimeVisitor {
    type Value = WallTime;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration such as \"30m\", \"1h30m\" or \"2d\"")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<WallTime, E> {
        WallTime::parse(text).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    const SEC: u64 = NANOS_PER_SEC;
    const MIN: u64 = 60 * SEC;
    const HOUR: u64 = 60 * MIN;
    const DAY: u64 = 24 * HOUR;

    fn d(text: &str) -> WallTime {
        WallTime::parse(text).unwrap_or_else(|e| panic!("{text:?} should parse: {e}"))
    }

    #[test]
    fn parses_every_unit_and_compound() {
        let cases: &[(&str, &str, u64)] = &[
            ("nanoseconds", "7ns", 7),
            ("microseconds", "7us", 7_000),
            ("micro sign", "7\u{b5}s", 7_000),
            ("greek mu", "7\u{3bc}s", 7_000),
            ("milliseconds", "500ms", 500_000_000),
            ("seconds", "90s", 90 * SEC),
            ("minutes", "50m", 50 * MIN),
            ("hours", "1h", HOUR),
            ("a day", "1d", DAY),
            ("24 hours", "24h", DAY),
            ("720 hours", "720h", 30 * DAY),
            ("30 days", "30d", 30 * DAY),
            ("hours and minutes", "1h30m", 90 * MIN),
            ("days and hours", "1d12h", 36 * HOUR),
            ("fractional hours", "1.5h", 90 * MIN),
            ("zero parts", "1h0m0s", HOUR),
            ("plus sign", "+5m", 5 * MIN),
            ("bare zero", "0", 0),
            ("plus zero", "+0", 0),
            ("zero seconds", "0s", 0),
            ("leading dot", ".5s", SEC / 2),
            ("trailing dot", "1.s", SEC),
            (
                "every unit",
                "1d1h1m1s1ms1us1ns",
                DAY + HOUR + MIN + SEC + 1_001_001,
            ),
            ("repeated unit", "1m1m", 2 * MIN),
            ("fraction of a minute", "0.1m", 6 * SEC),
            ("fraction of a nanosecond truncates", "1.9ns", 1),
            ("fine digits truncate", "1.0000000019s", SEC + 1),
            ("exact fine fraction", "0.00000000001m", 0),
            ("fraction past ten digits matters", "0.00000000005m", 3),
            ("long fraction", "0.999999999999999999999999s", SEC - 1),
            ("largest", "18446744073709551615ns", u64::MAX),
            ("largest in parts", "5124095h34m33.709551615s", u64::MAX),
        ];
        for (name, text, nanos) in cases {
            assert_eq!(d(text).as_nanos(), *nanos, "{name}: {text:?}");
            assert_eq!(text.parse::<WallTime>(), Ok(d(text)), "{name}: FromStr");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let unknown = |input: &str, unit: &str| DurationError::UnknownUnit {
            input: input.into(),
            unit: unit.into(),
        };
        let bad = |input: &str, at: &str| DurationError::BadNumber {
            input: input.into(),
            at: at.into(),
        };
        let cases: &[(&str, &str, DurationError, &str)] = &[
            (
                "empty",
                "",
                DurationError::Empty,
                "empty duration (expected a number and a unit, such as 30m, 1h30m or 2d)",
            ),
            (
                "negative",
                "-1h",
                DurationError::Negative {
                    input: "-1h".into(),
                },
                r#""-1h": durations cannot be negative (expected a duration such as 30m or 1h30m)"#,
            ),
            (
                "negative zero",
                "-0",
                DurationError::Negative { input: "-0".into() },
                "",
            ),
            (
                "missing unit",
                "30",
                DurationError::MissingUnit {
                    input: "30".into(),
                    number: "30".into(),
                },
                r#""30": expected a unit such as s, m, h, d after 30"#,
            ),
            (
                "bare one",
                "1",
                DurationError::MissingUnit {
                    input: "1".into(),
                    number: "1".into(),
                },
                "",
            ),
            (
                "missing last unit",
                "1h1.5",
                DurationError::MissingUnit {
                    input: "1h1.5".into(),
                    number: "1.5".into(),
                },
                r#""1h1.5": expected a unit such as s, m, h, d after 1.5"#,
            ),
            (
                "double zero",
                "00",
                DurationError::MissingUnit {
                    input: "00".into(),
                    number: "00".into(),
                },
                "",
            ),
            (
                "weeks",
                "1w",
                unknown("1w", "w"),
                r#""1w": unknown unit "w" (expected one of ns, us, µs, ms, s, m, h, d)"#,
            ),
            ("space before unit", "1 h", unknown("1 h", " h"), ""),
            ("trailing space", "1h ", unknown("1h ", "h "), ""),
            ("upper case", "1H", unknown("1H", "H"), ""),
            ("long unit name", "1hour", unknown("1hour", "hour"), ""),
            (
                "unit alone",
                "h",
                bad("h", "h"),
                r#""h": bad number at "h" (expected digits with at most one '.' and then a unit, as in 30m, 1.5h or 1h30m)"#,
            ),
            ("two dots", "1..5h", bad("1..5h", "1..5h"), ""),
            (
                "second dot later",
                "1h2.5.5m",
                bad("1h2.5.5m", "2.5.5m"),
                "",
            ),
            ("dot alone", ".h", bad(".h", ".h"), ""),
            ("subtraction", "1h-30m", bad("1h-30m", "-30m"), ""),
            ("leading space", " 1h", bad(" 1h", " 1h"), ""),
            ("sign alone", "+", bad("+", ""), ""),
            ("two signs", "+-1h", bad("+-1h", "-1h"), ""),
            (
                "overflow",
                "99999999999h",
                DurationError::Overflow {
                    input: "99999999999h".into(),
                },
                r#""99999999999h": too long (expected at most about 584 years, 5124095h)"#,
            ),
            (
                "one past the largest",
                "18446744073709551616ns",
                DurationError::Overflow {
                    input: "18446744073709551616ns".into(),
                },
                "",
            ),
            (
                "sum overflows",
                "5124095h34m34s",
                DurationError::Overflow {
                    input: "5124095h34m34s".into(),
                },
                "",
            ),
            (
                "huge digits",
                "999999999999999999999999s",
                DurationError::Overflow {
                    input: "999999999999999999999999s".into(),
                },
                "",
            ),
        ];
        for (name, text, error, message) in cases {
            assert_eq!(
                WallTime::parse(text).as_ref(),
                Err(error),
                "{name}: {text:?}"
            );
            if !message.is_empty() {
                assert_eq!(error.to_string(), *message, "{name}: message");
            }
        }
    }

    #[test]
    fn displays_compactly() {
        let cases: &[(&str, u64, &str)] = &[
            ("zero", 0, "0s"),
            ("nanoseconds", 7, "7ns"),
            ("microseconds", 1_500, "1.5us"),
            ("milliseconds", 500 * NANOS_PER_MILLI, "500ms"),
            ("fractional milliseconds", 1_000_001, "1.000001ms"),
            ("seconds", 90 * SEC, "1m30s"),
            ("fractional seconds", 3 * SEC / 2, "1.5s"),
            ("finest seconds", SEC + 1, "1.000000001s"),
            ("minutes", 90 * MIN, "1h30m"),
            ("a day as hours", DAY, "24h"),
            ("thirty days", 30 * DAY, "720h"),
            ("all parts", HOUR + MIN + SEC + 1, "1h1m1.000000001s"),
            ("hours and half a second", HOUR + SEC / 2, "1h0.5s"),
            ("largest", u64::MAX, "5124095h34m33.709551615s"),
        ];
        for (name, nanos, text) in cases {
            let wall_time = WallTime::from_nanos(*nanos);
            assert_eq!(wall_time.to_string(), *text, "{name}");
            assert_eq!(d(text), wall_time, "{name}: round trip");
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(WallTime::from_secs(90), d("90s"));
        assert_eq!(WallTime::from_secs(u64::MAX).as_nanos(), u64::MAX);
        assert_eq!(WallTime::from_nanos(1_900_000_000).as_secs(), 1);
        assert_eq!(WallTime::from_nanos(1_100_000_000).as_secs_ceil(), 2);
        assert_eq!(WallTime::from_nanos(2 * SEC).as_secs_ceil(), 2);
        assert_eq!(
            WallTime::from_nanos(u64::MAX).as_secs_ceil(),
            u64::MAX / SEC + 1
        );
        assert!(WallTime::ZERO.is_zero() && d("0s").is_zero() && !d("1ns").is_zero());
        assert_eq!(WallTime::default(), WallTime::ZERO);
        assert_eq!(d("1h").checked_add(d("30m")), Some(d("90m")));
        assert_eq!(WallTime::from_nanos(u64::MAX).checked_add(d("1ns")), None);
        assert_eq!(
            std::time::Duration::from(d("1.5s")),
            std::time::Duration::from_millis(1500)
        );
        assert!(d("59m") < d("1h") && d("1d") > d("23h59m59.999999999s"));
    }

    #[test]
    fn serde_as_string() {
        assert_eq!(serde_json::to_string(&d("90m")).unwrap(), r#""1h30m""#);
        assert_eq!(
            serde_json::from_str::<WallTime>(r#""1d""#).unwrap(),
            d("24h")
        );
        let error = serde_json::from_str::<WallTime>(r#""1w""#)
            .unwrap_err()
            .to_string();
        assert!(error.contains(r#"unknown unit "w""#), "{error}");
        assert!(serde_json::from_str::<WallTime>("60").is_err());
    }
}
