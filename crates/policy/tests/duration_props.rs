//! Properties of wall-time durations.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kbatch_policy::duration::WallTime;
use proptest::prelude::*;

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000 * MS;
const MIN: u64 = 60 * SEC;
const HOUR: u64 = 60 * MIN;
const DAY: u64 = 24 * HOUR;

/// Optional d/h/m/s/ms components: the text and the exact total in nanoseconds.
fn components() -> impl Strategy<Value = (String, u64)> {
    let part = |max: u64| prop::option::of(0..=max);
    (
        part(10_000),
        part(100_000),
        part(1_000_000),
        part(10_000_000),
        part(100_000_000),
    )
        .prop_filter("at least one component", |parts| {
            parts.0.is_some()
                || parts.1.is_some()
                || parts.2.is_some()
                || parts.3.is_some()
                || parts.4.is_some()
        })
        .prop_map(|(days, hours, minutes, seconds, millis)| {
            let mut text = String::new();
            let mut total = 0;
            for (count, unit, nanos) in [
                (days, "d", DAY),
                (hours, "h", HOUR),
                (minutes, "m", MIN),
                (seconds, "s", SEC),
                (millis, "ms", MS),
            ] {
                if let Some(count) = count {
                    text.push_str(&format!("{count}{unit}"));
                    total += count * nanos;
                }
            }
            (text, total)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn components_sum(case in components()) {
        let (text, total) = case;
        prop_assert_eq!(WallTime::parse(&text), Ok(WallTime::from_nanos(total)), "{}", text);
    }

    #[test]
    fn fractional_hours_are_exact(whole in 0u64..10_000, tenths in 0u64..10) {
        let text = format!("{whole}.{tenths}h");
        let expected = WallTime::from_nanos(whole * HOUR + tenths * HOUR / 10);
        prop_assert_eq!(WallTime::parse(&text), Ok(expected), "{}", text);
    }

    #[test]
    fn display_round_trips(nanos in any::<u64>()) {
        let wall_time = WallTime::from_nanos(nanos);
        prop_assert_eq!(WallTime::parse(&wall_time.to_string()), Ok(wall_time));
    }

    #[test]
    fn display_round_trips_round_values(secs in 0u64..100_000_000, millis in 0u64..1_000) {
        let wall_time = WallTime::from_nanos(secs * SEC + millis * MS);
        let text = wall_time.to_string();
        prop_assert!(!text.contains('d'), "{}", text);
        prop_assert_eq!(WallTime::parse(&text), Ok(wall_time), "{}", text);
    }

    #[test]
    fn ordering_matches_nanos(a in any::<u64>(), b in any::<u64>()) {
        let (wa, wb) = (WallTime::from_nanos(a), WallTime::from_nanos(b));
        prop_assert_eq!(wa.cmp(&wb), a.cmp(&b));
        let (pa, pb) = (
            WallTime::parse(&wa.to_string()).unwrap(),
            WallTime::parse(&wb.to_string()).unwrap(),
        );
        prop_assert_eq!(pa.cmp(&pb), a.cmp(&b));
    }

    #[test]
    fn ordering_of_parsed_texts_matches_sums(a in components(), b in components()) {
        let (pa, pb) = (WallTime::parse(&a.0).unwrap(), WallTime::parse(&b.0).unwrap());
        prop_assert_eq!(pa.cmp(&pb), a.1.cmp(&b.1));
    }

    #[test]
    fn parse_never_panics_on_text(text in "\\PC*") {
        let _ = WallTime::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = WallTime::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parse_never_panics_on_near_misses(text in "[-+0-9.nuµμsmhdw ]{0,30}") {
        if let Ok(wall_time) = WallTime::parse(&text) {
            prop_assert_eq!(WallTime::parse(&wall_time.to_string()), Ok(wall_time), "{}", text);
        }
    }
}
