//! Unsigned 256-bit integers: just enough to price jobs exactly.
//!
//! A price (nano-currency) × a quantity (nano-units) × a multiplier × a task count × a wall
//! time in nanoseconds needs about 200 bits, beyond `u128`. Every operation is checked; the
//! divisions round explicitly (up for charges, down for refunds).

/// A 256-bit unsigned integer, `hi · 2¹²⁸ + lo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct U256 {
    hi: u128,
    lo: u128,
}

const LOW64: u128 = u64::MAX as u128;

impl U256 {
    /// Zero.
    pub(crate) const ZERO: U256 = U256 { hi: 0, lo: 0 };

    /// Widens a `u128`.
    pub(crate) const fn from_u128(v: u128) -> U256 {
        U256 { hi: 0, lo: v }
    }

    /// The full product of two `u128`s (never overflows).
    pub(crate) fn mul_u128(a: u128, b: u128) -> U256 {
        let (a1, a0) = (a >> 64, a & LOW64);
        let (b1, b0) = (b >> 64, b & LOW64);
        let p00 = a0 * b0;
        let p01 = a0 * b1;
        let p10 = a1 * b0;
        let p11 = a1 * b1;
        // Each term is below 2^64, so the sum of three is below 2^66.
        let mid = (p00 >> 64) + (p01 & LOW64) + (p10 & LOW64);
        let lo = (p00 & LOW64) | (mid << 64);
        let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
        U256 { hi, lo }
    }

    /// `self × b`, `None` on overflow.
    pub(crate) fn checked_mul_u128(self, b: u128) -> Option<U256> {
        let low = U256::mul_u128(self.lo, b);
        let high = U256::mul_u128(self.hi, b);
        if high.hi != 0 {
            return None;
        }
        let hi = high.lo.checked_add(low.hi)?;
        Some(U256 { hi, lo: low.lo })
    }

    /// `self + other`, `None` on overflow.
    pub(crate) fn checked_add(self, other: U256) -> Option<U256> {
        let (lo, carry) = self.lo.overflowing_add(other.lo);
        let hi = self
            .hi
            .checked_add(other.hi)?
            .checked_add(u128::from(carry))?;
        Some(U256 { hi, lo })
    }

    /// Quotient and remainder of `self / d`; `None` when `d` is zero.
    pub(crate) fn div_rem_u128(self, d: u128) -> Option<(U256, u128)> {
        if d == 0 {
            return None;
        }
        if self.hi == 0 {
            return Some((U256::from_u128(self.lo / d), self.lo % d));
        }
        if let Ok(small) = u64::try_from(d) {
            // Schoolbook division by 64-bit limbs: each step divides a value below d·2^64.
            let small = u128::from(small);
            let limbs = [
                self.hi >> 64,
                self.hi & LOW64,
                self.lo >> 64,
                self.lo & LOW64,
            ];
            let mut quotient = [0u128; 4];
            let mut r: u128 = 0;
            for (q, limb) in quotient.iter_mut().zip(limbs) {
                let current = (r << 64) | limb;
                *q = current / small;
                r = current % small;
            }
            let hi = (quotient[0] << 64) | quotient[1];
            let lo = (quotient[2] << 64) | quotient[3];
            return Some((U256 { hi, lo }, r));
        }
        let q_hi = self.hi / d;
        let mut r = self.hi % d;
        let mut q_lo: u128 = 0;
        for bit in (0..128).rev() {
            // r < d, so r·2 + 1 < 2·d fits in 129 bits: keep the carry out of the shift.
            let carry = r >> 127;
            r = (r << 1) | ((self.lo >> bit) & 1);
            if carry == 1 || r >= d {
                r = r.wrapping_sub(d);
                q_lo |= 1 << bit;
            }
        }
        Some((U256 { hi: q_hi, lo: q_lo }, r))
    }

    /// `⌈self / d⌉`; `None` when `d` is zero.
    pub(crate) fn div_ceil_u128(self, d: u128) -> Option<U256> {
        let (q, r) = self.div_rem_u128(d)?;
        if r == 0 {
            Some(q)
        } else {
            q.checked_add(U256::from_u128(1))
        }
    }

    /// Narrows to `u128`, `None` when it does not fit.
    pub(crate) fn to_u128(self) -> Option<u128> {
        (self.hi == 0).then_some(self.lo)
    }
}
