//! The sealer's latency histogram (`Histogram`): quantiles within a quarter of the value.

use coconut_audit::Histogram;

#[test]
fn a_quantile_is_the_value_or_at_most_a_quarter_above_it() {
    let mut v = 0u64;
    while v < u64::MAX / 3 {
        let mut h = Histogram::new();
        h.record(v);
        let q = h.quantile(1000);
        assert!(q >= v && q - v <= v / 4, "{v} -> {q}");
        v = v * 3 / 2 + 1;
    }
    let mut h = Histogram::new();
    h.record(u64::MAX);
    assert_eq!(h.quantile(500), u64::MAX);
}

#[test]
fn quantiles_rank_the_recorded_values() {
    let mut h = Histogram::new();
    assert_eq!(h.quantile(990), 0, "empty");
    for ns in 1..=1000u64 {
        h.record(ns * 1000);
    }
    assert_eq!(h.count(), 1000);
    let p50 = h.quantile(500);
    let p99 = h.quantile(990);
    assert!((500_000..=625_000).contains(&p50), "{p50}");
    assert!((990_000..=1_250_000).contains(&p99), "{p99}");
    assert!(h.quantile(0) >= 1000 && h.quantile(0) <= 1250);
}
