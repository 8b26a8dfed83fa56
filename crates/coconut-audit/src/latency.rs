//! A fixed-size latency histogram: the sealer's append-to-sealed times, for `stats`.
//!
//! Job: [`Histogram::record`] counts one duration in nanoseconds into a bucket of a
//! logarithmic scale with four sub-buckets per power of two (so a quantile is known to within
//! 19 %), and [`Histogram::quantile`] answers the upper edge of the bucket holding a quantile.
//!
//! Constraints: no_std, no heap, no panics, no floats; 256 `u64` counters (2 KiB), meant for a
//! static.

/// Sub-buckets per power of two.
const SUB: u32 = 4;
/// Buckets: 64 powers of two, [`SUB`] each (the top four are never used).
const BUCKETS: usize = 64 * SUB as usize;

/// Counts of durations by logarithmic bucket.
pub struct Histogram {
    counts: [u64; BUCKETS],
    total: u64,
}

/// The bucket of `ns`: values below 4 have a bucket each; above, the power of two and the next
/// two bits below the top one.
fn bucket_of(ns: u64) -> usize {
    if ns < u64::from(SUB) {
        // Below SUB, so it fits usize.
        return ns as usize;
    }
    let log = 63u32.saturating_sub(ns.leading_zeros());
    // The two bits after the leading one: 0..=3.
    let frac = (ns >> log.saturating_sub(2)) & 3;
    // log <= 63, so this is below 256.
    log.saturating_sub(1)
        .saturating_mul(SUB)
        .saturating_add(frac as u32) as usize
}

/// The largest value that falls into `bucket` (the inverse of [`bucket_of`]).
fn upper_edge(bucket: usize) -> u64 {
    let b = bucket as u64;
    if b < u64::from(SUB) {
        return b;
    }
    // SUB is 4: the power of two above the bucket's row, and the sub-bucket.
    let log = (b >> 2).saturating_add(1);
    let frac = b & 3;
    let base = 1u64.checked_shl(log as u32).unwrap_or(u64::MAX);
    let step = base >> 2;
    // (base - 1) + step * (frac + 1): exactly u64::MAX for the top bucket, no overflow.
    base.saturating_sub(1)
        .saturating_add(step.saturating_mul(frac.saturating_add(1)))
}

impl Histogram {
    /// An empty histogram (for a `static` initializer).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Histogram {
        Histogram {
            counts: [0; BUCKETS],
            total: 0,
        }
    }

    /// Counts one duration.
    pub fn record(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(ns)) {
            *c = c.saturating_add(1);
            self.total = self.total.saturating_add(1);
        }
    }

    /// Durations counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The upper edge of the bucket holding the `per_mille`/1000 quantile (0 when empty): at
    /// least that share of the durations were at most this long.
    pub fn quantile(&self, per_mille: u64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        // The rank of the quantile, 1-based, rounded up; u64 ranks times 1000 cannot overflow
        // for any count a boot reaches (saturating anyway).
        let rank = self
            .total
            .saturating_mul(per_mille.min(1000))
            .div_ceil(1000)
            .max(1);
        let mut seen = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*c);
            if seen >= rank {
                return upper_edge(i);
            }
        }
        u64::MAX
    }
}
