//! Per-route latency for `/debug/performance`: a fixed log-scale histogram of
//! atomic counters per route, so recording a request costs one relaxed
//! `fetch_add` and no lock, and percentiles are computed only when the page
//! is asked for.
//!
//! Buckets: four per power of two of microseconds (each at most 25 % wide),
//! from 1 µs to about 4.5 minutes; slower requests land in the last bucket.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB_BUCKETS: usize = 4;
const BUCKETS: usize = SUB_BUCKETS * 28;
pub const BUCKET_COUNT: usize = BUCKETS;

/// Latency counts of one route.
pub struct Histogram {
    counts: [AtomicU64; BUCKETS],
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn bucket_of(micros: u64) -> usize {
    if micros < SUB_BUCKETS as u64 {
        return micros as usize;
    }
    let log = 63 - micros.leading_zeros() as usize; // >= 2
    let sub = ((micros >> (log - 2)) & 3) as usize;
    (SUB_BUCKETS * (log - 1) + sub).min(BUCKETS - 1)
}

/// The upper edge of a bucket, in microseconds (what a percentile reports).
fn bucket_upper(index: usize) -> u64 {
    if index < SUB_BUCKETS {
        return index as u64 + 1;
    }
    let log = index / SUB_BUCKETS + 1;
    let sub = (index % SUB_BUCKETS) as u64;
    (5 + sub) << (log - 2)
}

impl Histogram {
    pub fn record(&self, elapsed: Duration) {
        let micros = elapsed.as_micros().min(u64::MAX as u128) as u64;
        self.counts[bucket_of(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// Adds this histogram's counts into `into` (routes sharing a pattern).
    pub fn add_to(&self, into: &mut [u64; BUCKETS]) {
        for (total, count) in into.iter_mut().zip(&self.counts) {
            *total += count.load(Ordering::Relaxed);
        }
    }
}

/// Summed counts of one pattern, as the page reports them.
pub struct Summary {
    pub count: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

pub fn empty_counts() -> [u64; BUCKETS] {
    [0; BUCKETS]
}

pub fn summarise(counts: &[u64; BUCKETS]) -> Summary {
    let count: u64 = counts.iter().sum();
    let percentile = |fraction: f64| -> f64 {
        if count == 0 {
            return 0.0;
        }
        let rank = ((count as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, bucket) in counts.iter().enumerate() {
            seen += bucket;
            if seen >= rank {
                return bucket_upper(index) as f64 / 1000.0;
            }
        }
        bucket_upper(BUCKETS - 1) as f64 / 1000.0
    };
    Summary {
        count,
        p50_ms: percentile(0.50),
        p99_ms: percentile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_ordered_and_contain_their_values() {
        let mut previous_upper = 0;
        for index in 0..BUCKETS {
            let upper = bucket_upper(index);
            assert!(upper > previous_upper, "bucket {index}");
            previous_upper = upper;
        }
        for micros in [0, 1, 3, 4, 5, 7, 8, 100, 999, 1000, 50_000, 10_000_000] {
            let index = bucket_of(micros);
            assert!(micros < bucket_upper(index), "{micros} in bucket {index}");
            if index > 0 {
                assert!(
                    micros >= bucket_upper(index - 1),
                    "{micros} in bucket {index}"
                );
            }
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_within_a_quarter() {
        let histogram = Histogram::default();
        for _ in 0..98 {
            histogram.record(Duration::from_millis(2));
        }
        histogram.record(Duration::from_millis(50));
        histogram.record(Duration::from_millis(400));
        let mut counts = empty_counts();
        histogram.add_to(&mut counts);
        let summary = summarise(&counts);
        assert_eq!(summary.count, 100);
        assert!((2.0..=2.5).contains(&summary.p50_ms), "{}", summary.p50_ms);
        assert!(
            (50.0..=62.5).contains(&summary.p99_ms),
            "{}",
            summary.p99_ms
        );
        assert_eq!(summarise(&empty_counts()).p99_ms, 0.0);
    }
}
