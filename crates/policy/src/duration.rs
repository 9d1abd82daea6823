//! scratch duration
use std::fmt;
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WallTime { nanos: u64 }
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a duration")]
pub struct DurationError(String);
impl WallTime {
    pub fn parse(t: &str) -> Result<WallTime, DurationError> {
        let err = || DurationError(t.to_owned());
        if t == "0" { return Ok(WallTime{nanos:0}) }
        if t.is_empty() || t.starts_with('-') { return Err(err()) }
        let mut rest = t.strip_prefix('+').unwrap_or(t); let mut total: u64 = 0;
        if rest.is_empty() { return Err(err()) }
        while !rest.is_empty() {
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if end == 0 { return Err(err()) }
            let n: u64 = rest[..end].parse().map_err(|_| err())?; rest = &rest[end..];
            let uend = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let unit = &rest[..uend]; rest = &rest[uend..];
            let mult: u64 = match unit { "ns" => 1, "us" => 1000, "ms" => 1_000_000, "s" => 1_000_000_000, "m" => 60_000_000_000, "h" => 3_600_000_000_000, "d" => 86_400_000_000_000, _ => return Err(err()) };
            total = total.checked_add(n.checked_mul(mult).ok_or_else(err)?).ok_or_else(err)?;
        }
        Ok(WallTime{nanos: total})
    }
    pub const fn from_secs(s: u64) -> WallTime { WallTime{nanos: s * 1_000_000_000} }
    pub fn is_zero(self) -> bool { self.nanos == 0 }
}
impl fmt::Display for WallTime { fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let s = self.nanos / 1_000_000_000; let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    if s == 0 { return write!(f, "0s") }
    if h > 0 { write!(f, "{h}h")?; } if m > 0 { write!(f, "{m}m")?; } if sec > 0 { write!(f, "{sec}s")?; } Ok(()) } }
