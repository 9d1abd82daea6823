//! Exact money: a fixed-point amount in billionths of the cost model's currency.
//!
//! Prices and budget amounts arrive as JSON numbers (`f64`). They are read through their
//! shortest decimal text (`format!("{}", f)`, which is exactly what the user wrote for any
//! price with up to 15 significant digits), never by scaling the binary value, and all
//! arithmetic after that is on integers. `f64` appears again only when writing the
//! status fields the API declares as numbers.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

/// Billionths of a currency unit per unit.
const NANOS_PER_UNIT: i128 = 1_000_000_000;
/// Decimal places kept.
const DECIMALS: usize = 9;

/// An exact amount of money, in nano-units (10⁻⁹) of the cost model's currency.
///
/// Displays with at least two decimals and as many more as needed to be exact, so its
/// text parses back to the same value; it serialises as that text (a JSON string).
///
/// ```
/// use kbatch_policy::budget::Money;
///
/// let price = Money::from_f64(0.1).unwrap();
/// let three = price.checked_add(price).unwrap().checked_add(price).unwrap();
/// assert_eq!(three, Money::parse("0.3").unwrap()); // 0.1 + 0.1 + 0.1 == 0.3, exactly
/// assert_eq!(three.to_string(), "0.30");
/// assert_eq!(Money::parse("5.125").unwrap().to_string(), "5.125");
/// assert_eq!(Money::from_nanos(1).to_string(), "0.000000001");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(i128);

/// Why a decimal text or a number is not an amount of money.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number (`12`, `-0.5`, `3.20`).
    #[error("{0:?} is not a decimal amount")]
    Syntax(String),
    /// More decimals than the nano-unit resolution.
    #[error("{0:?} has more than 9 decimals")]
    TooPrecise(String),
    /// Beyond ±1.7·10²⁹ currency units.
    #[error("{0:?} is too large")]
    OutOfRange(String),
    /// NaN or an infinity.
    #[error("{0} is not a finite amount")]
    NotFinite(String),
}

impl Money {
    /// Nothing.
    pub const ZERO: Money = Money(0);

    /// The amount `nanos` × 10⁻⁹.
    pub const fn from_nanos(nanos: i128) -> Money {
        Money(nanos)
    }

    /// The amount in nano-units.
    pub const fn nanos(self) -> i128 {
        self.0
    }

    /// Whole currency units.
    pub const fn from_units(units: i64) -> Money {
        // i64 × 10⁹ is far below i128::MAX.
        Money(units as i128 * NANOS_PER_UNIT)
    }

    /// Parses decimal text: an optional sign, digits, optionally `.` and at most 9 decimals.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        parse_decimal(text, false)
    }

    /// Reads a price or an amount written as a JSON number, by way of its shortest decimal
    /// text; decimals beyond the ninth are rounded half away from zero.
    ///
    /// ```
    /// use kbatch_policy::budget::Money;
    /// assert_eq!(Money::from_f64(2.675).unwrap().to_string(), "2.675");
    /// assert_eq!(Money::from_f64(1e-10).unwrap(), Money::ZERO);
    /// assert!(Money::from_f64(f64::NAN).is_err());
    /// ```
    pub fn from_f64(value: f64) -> Result<Money, MoneyError> {
        if !value.is_finite() {
            return Err(MoneyError::NotFinite(value.to_string()));
        }
        parse_decimal(&format!("{value}"), true)
    }

    /// The nearest `f64`, for the status fields the API declares as numbers.
    pub fn to_f64(self) -> f64 {
        // The exact decimal text parses to the correctly rounded f64.
        self.to_string().parse().unwrap_or(0.0)
    }

    /// `self + other`, `None` on overflow.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    /// `self − other`, `None` on overflow.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `self + other`, clamped at the bounds.
    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }

    /// `self − other`, clamped at the bounds.
    pub fn saturating_sub(self, other: Money) -> Money {
        Money(self.0.saturating_sub(other.0))
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

fn parse_decimal(text: &str, round: bool) -> Result<Money, MoneyError> {
    let syntax = || MoneyError::Syntax(text.to_owned());
    let (negative, digits) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.is_empty()
        || digits.contains('.') && frac_part.is_empty()
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return Err(syntax());
    }
    let too_large = || MoneyError::OutOfRange(text.to_owned());
    // Accumulate the magnitude unsigned: i128::MIN has no positive counterpart.
    let mut nanos: u128 = 0;
    for b in int_part.bytes() {
        nanos = nanos
            .checked_mul(10)
            .and_then(|n| n.checked_add(u128::from(b - b'0')))
            .ok_or_else(too_large)?;
    }
    nanos = nanos
        .checked_mul(NANOS_PER_UNIT.unsigned_abs())
        .ok_or_else(too_large)?;
    let (kept, dropped) = frac_part.split_at(frac_part.len().min(DECIMALS));
    if !dropped.is_empty() && !round {
        return Err(MoneyError::TooPrecise(text.to_owned()));
    }
    let mut scale = NANOS_PER_UNIT.unsigned_abs();
    for b in kept.bytes() {
        scale /= 10;
        nanos = nanos
            .checked_add(u128::from(b - b'0') * scale)
            .ok_or_else(too_large)?;
    }
    if dropped.as_bytes().first().is_some_and(|&b| b >= b'5') {
        nanos = nanos.checked_add(1).ok_or_else(too_large)?;
    }
    let value = if negative {
        0_i128.checked_sub_unsigned(nanos)
    } else {
        i128::try_from(nanos).ok()
    };
    value.map(Money).ok_or_else(too_large)
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let abs = self.0.unsigned_abs();
        let units = abs / NANOS_PER_UNIT.unsigned_abs();
        let mut frac = abs % NANOS_PER_UNIT.unsigned_abs();
        // Nine decimal digits, built without allocating (this runs for every message).
        let mut digits = [b'0'; DECIMALS];
        for d in digits.iter_mut().rev() {
            // `frac % 10` is a single digit.
            *d = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        let significant = digits
            .iter()
            .rposition(|&d| d != b'0')
            .map_or(0, |i| i + 1)
            .max(2);
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}{units}.")?;
        for &d in &digits[..significant] {
            fmt::Write::write_char(f, char::from(d))?;
        }
        Ok(())
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Money, MoneyError> {
        Money::parse(s)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        Money::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Money {
    fn schema_name() -> Cow<'static, str> {
        "Money".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?$",
            "description": "An exact decimal amount of the cost model's currency (at most 9 decimals)."
        })
    }

    fn inline_schema() -> bool {
        true
    }
}
