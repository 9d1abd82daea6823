//! U256: products, divisions and overflow.

use crate::budget::wide::U256;

#[test]
fn full_product_and_division_round_trip() {
    let a = u128::MAX - 12_345;
    let b = 987_654_321_987_654_321_u128;
    let p = U256::mul_u128(a, b);
    let (q, r) = p.div_rem_u128(b).unwrap();
    assert_eq!(q.to_u128(), Some(a));
    assert_eq!(r, 0);
    let (q, r) = p
        .checked_add(U256::from_u128(5))
        .unwrap()
        .div_rem_u128(a)
        .unwrap();
    assert_eq!(q.to_u128(), Some(b));
    assert_eq!(r, 5);
}

#[test]
fn division_by_a_divisor_above_two_to_the_127() {
    let d = u128::MAX - 1;
    let p = U256::mul_u128(d, 3)
        .checked_add(U256::from_u128(7))
        .unwrap();
    let (q, r) = p.div_rem_u128(d).unwrap();
    assert_eq!((q.to_u128(), r), (Some(3), 7));
}

#[test]
fn ceil_and_floor_differ_only_with_a_remainder() {
    let x = U256::from_u128(10);
    assert_eq!(x.div_ceil_u128(3).unwrap().to_u128(), Some(4));
    assert_eq!(x.div_rem_u128(3).unwrap().0.to_u128(), Some(3));
    assert_eq!(x.div_ceil_u128(5).unwrap().to_u128(), Some(2));
    assert_eq!(x.div_rem_u128(0), None);
}

#[test]
fn overflow_is_reported() {
    let big = U256::mul_u128(u128::MAX, u128::MAX);
    assert_eq!(big.checked_mul_u128(2), None);
    assert_eq!(big.checked_add(big), None);
    assert_eq!(big.to_u128(), None);
    assert!(
        U256::mul_u128(u128::MAX, 2)
            .checked_mul_u128(u128::MAX >> 2)
            .is_some()
    );
}

#[test]
fn division_by_a_small_divisor_uses_limbs_and_agrees_with_the_general_path() {
    let x = U256::mul_u128(u128::MAX - 3, 3_600_000_000_000)
        .checked_add(U256::from_u128(12_345))
        .unwrap();
    let (q, r) = x.div_rem_u128(3_600_000_000_000).unwrap();
    assert_eq!((q.to_u128(), r), (Some(u128::MAX - 3), 12_345));
    // A divisor just above 2^64 takes the bitwise path; results must be consistent.
    let d = (1_u128 << 64) + 1;
    let (q, r) = x.div_rem_u128(d).unwrap();
    let back = U256::mul_u128(q.to_u128().unwrap(), d)
        .checked_add(U256::from_u128(r))
        .unwrap();
    assert_eq!(back, x);
}
