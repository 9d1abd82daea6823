//! Exact Kubernetes resource quantities.
//!
//! A [`Quantity`] is the value of a resource request or limit such as `cpu: 500m` or
//! `memory: 4Gi`, written in the grammar of Kubernetes' `resource.ParseQuantity`:
//!
//! ```text
//! <quantity>        ::= <signedNumber><suffix>
//! <signedNumber>    ::= <number> | +<number> | -<number>
//! <number>          ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
//! <suffix>          ::= <binarySI> | <decimalExponent> | <decimalSI>
//! <binarySI>        ::= Ki | Mi | Gi | Ti | Pi | Ei                 (2^10 .. 2^60)
//! <decimalSI>       ::= n | u | m | "" | k | M | G | T | P | E      (1e-9 .. 1e18)
//! <decimalExponent> ::= e<signedInteger> | E<signedInteger>
//! ```
//!
//! The value is held exactly, as a whole number of nano-units in an `i128`, and computed with
//! integer arithmetic only. Values finer than one nano-unit are rounded up (toward +infinity),
//! as Kubernetes does.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// Nano-units in one whole unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;

/// An exact Kubernetes resource quantity, held as a whole number of nano-units (1e-9).
///
/// Equality and ordering compare values, so `1Gi == 1073741824` and `1000m == 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity {
    nanos: i128,
}

/// Why a text is not a Kubernetes quantity.
///
/// Every message quotes the input, says what is wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// The text is empty.
    #[error("empty quantity (expected a number with an optional suffix, such as 500m, 2 or 4Gi)")]
    Empty,
    /// The text has no digits before its suffix (e.g. `Gi`, `-`, `.`).
    #[error("{input:?}: no digits (expected a number such as 1, 1.5 or .5 before any suffix)")]
    NoDigits {
        /// The whole text.
        input: String,
    },
    /// The number is malformed: a second `.`, a misplaced sign, whitespace or another stray
    /// character where a digit, `.` or suffix was expected.
    #[error(
        "{input:?}: bad number, unexpected {found:?} (expected an optional sign, digits with at most one '.', then an optional suffix)"
    )]
    BadNumber {
        /// The whole text.
        input: String,
        /// The first character that does not fit.
        found: char,
    },
    /// The suffix is none of the known ones.
    #[error(
        "{input:?}: unknown suffix {suffix:?} (expected one of n, u, m, k, M, G, T, P, E, Ki, Mi, Gi, Ti, Pi, Ei, or an exponent like e6)"
    )]
    UnknownSuffix {
        /// The whole text.
        input: String,
        /// Everything after the number.
        suffix: String,
    },
    /// The suffix starts like an exponent (`e` or `E`, then a sign or a digit) but is not a
    /// whole number that fits in an `i64`.
    #[error(
        "{input:?}: bad exponent {exponent:?} (expected e or E then a whole number, such as e6, E+3 or e-3)"
    )]
    BadExponent {
        /// The whole text.
        input: String,
        /// The exponent suffix, including its leading `e` or `E`.
        exponent: String,
    },
    /// The value does not fit in an `i128` of nano-units (about ±1.7e29 units).
    #[error("{input:?}: too large (expected a magnitude of at most about 1.7e29)")]
    TooLarge {
        /// The whole text.
        input: String,
    },
}

/// The scale a suffix applies to the number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    /// Times 10 to this power.
    Decimal(i64),
    /// Times 2 to this power (at most 60).
    Binary(u32),
}

impl Quantity {
    /// The quantity zero.
    pub const ZERO: Quantity = Quantity { nanos: 0 };

    /// Parses a Kubernetes quantity such as `500m`, `2`, `1.5Gi` or `1e3`, exactly.
    ///
    /// No whitespace is allowed anywhere. Values finer than one nano-unit round up (toward
    /// +infinity) to the next nano-unit; values beyond an `i128` of nano-units are
    /// [`QuantityError::TooLarge`]. An exponent must fit in an `i64`, as in Kubernetes.
    ///
    /// ```
    /// use kbatch_policy::quantity::Quantity;
    ///
    /// let memory = Quantity::parse("1Gi")?;
    /// assert_eq!(memory, Quantity::parse("1073741824")?);
    /// assert_eq!(Quantity::parse("0.5")?, Quantity::from_milli(500));
    /// assert_eq!(Quantity::parse("1e3")?.to_string(), "1k");
    /// assert!(Quantity::parse("12Gb").is_err());
    /// # Ok::<(), kbatch_policy::quantity::QuantityError>(())
    /// ```
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        if text.is_empty() {
            return Err(QuantityError::Empty);
        }
        let (negative, unsigned) = split_sign(text);
        let (int_digits, after_int) = split_digits(unsigned);
        let (frac_digits, rest) = match after_int.strip_prefix('.') {
            Some(after_dot) => split_digits(after_dot),
            None => ("", after_int),
        };
        let next = rest.chars().next();
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(match next {
                Some(found) if !found.is_alphabetic() => bad_number(text, found),
                _ => QuantityError::NoDigits {
                    input: text.to_owned(),
                },
            });
        }
        let scale = match next {
            None => Scale::Decimal(0),
            Some(c) if c.is_alphabetic() => suffix_scale(text, rest)?,
            Some(found) => return Err(bad_number(text, found)),
        };
        exact_nanos(negative, int_digits, frac_digits, scale)
            .map(Quantity::from_nanos)
            .ok_or_else(|| QuantityError::TooLarge {
                input: text.to_owned(),
            })
    }

    /// The quantity of exactly `nanos` nano-units (1e-9).
    pub const fn from_nanos(nanos: i128) -> Quantity {
        Quantity { nanos }
    }

    /// The value as a whole number of nano-units (1e-9).
    pub const fn nanos(self) -> i128 {
        self.nanos
    }

    /// The quantity of `units` whole units: `from_units(3)` is `3`.
    pub fn from_units(units: i64) -> Quantity {
        // |units| * 1e9 < 2^63 * 2^30 = 2^93: cannot overflow an i128.
        Quantity::from_nanos(i128::from(units) * NANOS_PER_UNIT)
    }

    /// The quantity of `milli` thousandths: `from_milli(500)` is `500m`.
    pub fn from_milli(milli: i64) -> Quantity {
        // |milli| * 1e6 < 2^63 * 2^20 = 2^83: cannot overflow an i128.
        Quantity::from_nanos(i128::from(milli) * 1_000_000)
    }

    /// The sum, or `None` if it overflows.
    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_add(other.nanos)
            .map(Quantity::from_nanos)
    }

    /// The difference, or `None` if it overflows.
    pub fn checked_sub(self, other: Quantity) -> Option<Quantity> {
        self.nanos
            .checked_sub(other.nanos)
            .map(Quantity::from_nanos)
    }

    /// The product with a whole factor, or `None` if it overflows.
    pub fn checked_mul(self, factor: i64) -> Option<Quantity> {
        self.nanos
            .checked_mul(i128::from(factor))
            .map(Quantity::from_nanos)
    }

    /// Whether the value is zero.
    pub fn is_zero(self) -> bool {
        self.nanos == 0
    }

    /// Whether the value is below zero.
    pub fn is_negative(self) -> bool {
        self.nanos < 0
    }

    /// `ceil(value)` as whole units, e.g. cores or bytes: `100m` gives 1, `-1500m` gives -1.
    pub fn ceil_units(self) -> i128 {
        let floor = self.nanos.div_euclid(NANOS_PER_UNIT);
        if self.nanos.rem_euclid(NANOS_PER_UNIT) == 0 {
            floor
        } else {
            // floor <= i128::MAX / 1e9, so adding one cannot overflow.
            floor + 1
        }
    }
}

/// Splits an optional leading `+` or `-` off `text`: (is negative, the rest).
fn split_sign(text: &str) -> (bool, &str) {
    match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    }
}

/// Splits `s` after its leading ASCII digits.
fn split_digits(s: &str) -> (&str, &str) {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    // `end` is a char boundary (from `find`, or the length), so the split always succeeds.
    s.split_at_checked(end).unwrap_or((s, ""))
}

fn bad_number(text: &str, found: char) -> QuantityError {
    QuantityError::BadNumber {
        input: text.to_owned(),
        found,
    }
}

/// The scale of a non-empty suffix.
fn suffix_scale(text: &str, suffix: &str) -> Result<Scale, QuantityError> {
    let scale = match suffix {
        "n" => Scale::Decimal(-9),
        "u" => Scale::Decimal(-6),
        "m" => Scale::Decimal(-3),
        "k" => Scale::Decimal(3),
        "M" => Scale::Decimal(6),
        "G" => Scale::Decimal(9),
        "T" => Scale::Decimal(12),
        "P" => Scale::Decimal(15),
        "E" => Scale::Decimal(18),
        "Ki" => Scale::Binary(10),
        "Mi" => Scale::Binary(20),
        "Gi" => Scale::Binary(30),
        "Ti" => Scale::Binary(40),
        "Pi" => Scale::Binary(50),
        "Ei" => Scale::Binary(60),
        _ => {
            // An exponent is `e` or `E` then a sign or a digit; `1E` alone is exa, above.
            let exponent = suffix.strip_prefix(['e', 'E']).filter(|rest| {
                rest.starts_with(|c: char| c.is_ascii_digit() || c == '+' || c == '-')
            });
            let Some(exponent) = exponent else {
                return Err(QuantityError::UnknownSuffix {
                    input: text.to_owned(),
                    suffix: suffix.to_owned(),
                });
            };
            let value = parse_exponent(exponent).ok_or_else(|| QuantityError::BadExponent {
                input: text.to_owned(),
                exponent: suffix.to_owned(),
            })?;
            Scale::Decimal(value)
        }
    };
    Ok(scale)
}

/// Parses an optionally signed whole number that fits in an `i64`.
fn parse_exponent(text: &str) -> Option<i64> {
    let (negative, unsigned) = split_sign(text);
    let (digits, rest) = split_digits(unsigned);
    if digits.is_empty() || !rest.is_empty() {
        return None;
    }
    digits.bytes().try_fold(0i64, |acc, b| {
        // `b` is an ASCII digit, so the subtraction never saturates.
        let digit = i64::from(b.saturating_sub(b'0'));
        let shifted = acc.checked_mul(10)?;
        if negative {
            shifted.checked_sub(digit)
        } else {
            shifted.checked_add(digit)
        }
    })
}

/// The exact value in nano-units, rounded toward +infinity, or `None` if it does not fit.
///
/// The value is `D * 10^s * M` nano-units, where `D` is the digit string read as an integer,
/// `s = 9 + decimal exponent - fraction length`, and `M` is the binary multiplier (or 1).
/// When `s >= 0` that is an integer. When `s < 0`, write `D = H * 10^t + L` with `t = -s` and
/// `L < 10^t`: the floor of the magnitude is `H * M + floor(L * M / 10^t)`, and a positive
/// value gains one if that division was inexact.
fn exact_nanos(negative: bool, int_digits: &str, frac_digits: &str, scale: Scale) -> Option<i128> {
    // Both strings hold ASCII digits only, so the subtraction never saturates. Read in place:
    // a Vec of them was an allocation for every quantity of every admitted pod.
    let digits = || {
        int_digits
            .bytes()
            .chain(frac_digits.bytes())
            .map(|b| u128::from(b.saturating_sub(b'0')))
    };
    if digits().all(|d| d == 0) {
        return Some(0);
    }
    let (decimal_exponent, multiplier) = match scale {
        Scale::Decimal(e) => (i128::from(e), 1u128),
        Scale::Binary(k) => (0, 1u128 << k.min(60)),
    };
    // Lengths are at most isize::MAX, so these conversions are lossless.
    let count = (int_digits.len() + frac_digits.len()) as i128;
    let shift = 9 + decimal_exponent - frac_digits.len() as i128;
    let cut = if shift < 0 { (-shift).min(count) } else { 0 };
    // The digits are split into a head H and a tail L of the last `cut` digits.
    let mut head = digits().take(usize::try_from(count - cut).ok()?);
    let tail_reversed = digits().rev().take(usize::try_from(cut).ok()?);

    // The whole part, H * 10^max(s, 0) * M.
    let mut magnitude = head.try_fold(0u128, |acc, d| acc.checked_mul(10)?.checked_add(d))?;
    if shift > 0 && magnitude != 0 {
        let power = 10u128.checked_pow(u32::try_from(shift).ok()?)?;
        magnitude = magnitude.checked_mul(power)?;
    }
    magnitude = magnitude.checked_mul(multiplier)?;

    // floor(L * M / 10^t) by long division from the least significant digit of L, keeping
    // whether any remainder was non-zero. The carry stays below M <= 2^60, as
    // (M * d + carry) / 10 < 10 * M / 10, so nothing here can overflow.
    let mut carry = 0u128;
    let mut inexact = false;
    let mut divide = |value: u128| {
        inexact |= !value.is_multiple_of(10);
        value / 10
    };
    for d in tail_reversed {
        carry = divide(multiplier * d + carry);
    }
    // Then the implicit zeros between the point and L's first digit: twenty divisions take a
    // carry below 2^64 to zero, after which dividing further changes nothing.
    let zeros = if shift < 0 { -shift - count } else { 0 };
    for _ in 0..zeros.clamp(0, 40) {
        carry = divide(carry);
    }
    magnitude = magnitude.checked_add(carry)?;

    if negative {
        // The ceiling of a negative value drops its fraction: -floor(|value|).
        0i128.checked_sub_unsigned(magnitude)
    } else {
        i128::try_from(magnitude.checked_add(u128::from(inexact))?).ok()
    }
}

impl FromStr for Quantity {
    type Err = QuantityError;

    /// Same as [`Quantity::parse`].
    fn from_str(text: &str) -> Result<Quantity, QuantityError> {
        Quantity::parse(text)
    }
}

impl fmt::Display for Quantity {
    /// Writes the canonical text: a whole number of units with the largest decimal suffix
    /// (`k` .. `E`) that keeps it whole, otherwise a whole number of `m`, `u` or `n`.
    /// Zero is `0`; negative values keep a leading `-`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const WHOLE: [(&str, i128); 6] = [
            ("E", 1_000_000_000_000_000_000),
            ("P", 1_000_000_000_000_000),
            ("T", 1_000_000_000_000),
            ("G", 1_000_000_000),
            ("M", 1_000_000),
            ("k", 1_000),
        ];
        const FRACTIONAL: [(&str, i128); 2] = [("m", 1_000_000), ("u", 1_000)];
        let nanos = self.nanos;
        if nanos % NANOS_PER_UNIT == 0 {
            let units = nanos / NANOS_PER_UNIT;
            if units != 0 {
                for (suffix, factor) in WHOLE {
                    if units % factor == 0 {
                        return write!(f, "{}{suffix}", units / factor);
                    }
                }
            }
            return write!(f, "{units}");
        }
        for (suffix, factor) in FRACTIONAL {
            if nanos % factor == 0 {
                return write!(f, "{}{suffix}", nanos / factor);
            }
        }
        write!(f, "{nanos}n")
    }
}

impl Serialize for Quantity {
    /// Serializes as the canonical string.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    /// Deserializes from a quantity string, or from a number (Kubernetes accepts unquoted
    /// numbers such as `cpu: 1.5`). A float is read through its shortest round-trip decimal
    /// text, which is then parsed exactly.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Quantity, D::Error> {
        deserializer.deserialize_any(QuantityVisitor)
    }
}

/// Reads a quantity from a string or a number.
struct QuantityVisitor;

impl QuantityVisitor {
    /// Whole units, or a "too large" error.
    fn units<E: de::Error>(units: i128) -> Result<Quantity, E> {
        units
            .checked_mul(NANOS_PER_UNIT)
            .map(Quantity::from_nanos)
            .ok_or_else(|| {
                E::custom(QuantityError::TooLarge {
                    input: units.to_string(),
                })
            })
    }
}

impl Visitor<'_> for QuantityVisitor {
    type Value = Quantity;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Kubernetes quantity such as \"500m\" or \"4Gi\", or a number")
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Quantity, E> {
        Quantity::parse(text).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, units: i64) -> Result<Quantity, E> {
        Ok(Quantity::from_units(units))
    }

    fn visit_u64<E: de::Error>(self, units: u64) -> Result<Quantity, E> {
        Self::units(i128::from(units))
    }

    fn visit_i128<E: de::Error>(self, units: i128) -> Result<Quantity, E> {
        Self::units(units)
    }

    fn visit_u128<E: de::Error>(self, units: u128) -> Result<Quantity, E> {
        match i128::try_from(units) {
            Ok(units) => Self::units(units),
            Err(_) => Err(E::custom(QuantityError::TooLarge {
                input: units.to_string(),
            })),
        }
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Quantity, E> {
        // Rust's `{}` for f64 is the shortest text that round-trips, and never uses an
        // exponent; NaN and the infinities give texts that do not parse.
        Quantity::parse(&value.to_string()).map_err(E::custom)
    }
}

#[cfg(test)]
#[path = "quantity/tests.rs"]
mod tests;
