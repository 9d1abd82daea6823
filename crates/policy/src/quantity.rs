//! scratch quantity (for testing the rest while the real one is written)
use std::fmt;
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Quantity { nanos: i128 }
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Kubernetes quantity")]
pub struct QuantityError(String);
impl Quantity {
    pub const ZERO: Quantity = Quantity{nanos:0};
    pub fn parse(t: &str) -> Result<Quantity, QuantityError> {
        let err = || QuantityError(t.to_owned());
        let (neg, rest) = match t.as_bytes().first() { Some(b'-') => (true, &t[1..]), Some(b'+') => (false, &t[1..]), _ => (false, t) };
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let (num, suffix) = rest.split_at(end);
        if num.is_empty() || num == "." || num.matches('.').count() > 1 { return Err(err()); }
        let (ip, fp) = num.split_once('.').unwrap_or((num, ""));
        let digits: String = format!("{ip}{fp}");
        let mut d: i128 = 0; for c in digits.chars() { d = d.checked_mul(10).and_then(|x| x.checked_add((c as u8 - b'0') as i128)).ok_or_else(err)?; }
        let mut exp10: i32 = 9 - fp.len() as i32; let mut mul2: u32 = 0;
        match suffix { "" => {}, "n" => exp10 -= 9, "u" => exp10 -= 6, "m" => exp10 -= 3, "k" => exp10 += 3, "M" => exp10 += 6, "G" => exp10 += 9, "T" => exp10 += 12, "P" => exp10 += 15, "E" => exp10 += 18,
            "Ki" => mul2 = 10, "Mi" => mul2 = 20, "Gi" => mul2 = 30, "Ti" => mul2 = 40, "Pi" => mul2 = 50, "Ei" => mul2 = 60,
            s if s.starts_with('e') || s.starts_with('E') => { exp10 += s[1..].parse::<i32>().map_err(|_| err())?; }
            _ => return Err(err()) }
        let mut v = d.checked_mul(1i128 << mul2).ok_or_else(err)?;
        if exp10 >= 0 { v = v.checked_mul(10i128.checked_pow(exp10 as u32).ok_or_else(err)?).ok_or_else(err)?; }
        else { let p = 10i128.checked_pow((-exp10) as u32).unwrap_or(i128::MAX); let q = v / p; v = if v % p != 0 { q + 1 } else { q }; }
        Ok(Quantity{nanos: if neg { -v } else { v }})
    }
    pub const fn from_nanos(nanos: i128) -> Quantity { Quantity{nanos} }
    pub const fn nanos(self) -> i128 { self.nanos }
    pub fn checked_add(self, o: Quantity) -> Option<Quantity> { self.nanos.checked_add(o.nanos).map(|nanos| Quantity{nanos}) }
    pub fn is_negative(self) -> bool { self.nanos < 0 }
}
impl fmt::Display for Quantity { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let n = self.nanos; if n % 1_000_000_000 == 0 { return write!(f, "{}", n / 1_000_000_000) }
    if n % 1_000_000 == 0 { return write!(f, "{}m", n / 1_000_000) } if n % 1000 == 0 { return write!(f, "{}u", n/1000) } write!(f, "{}n", n) } }
