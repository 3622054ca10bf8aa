//! `RateLimitMiddleware`'s in-memory store: fixed windows in a fixed table.
//!
//! Memory is bounded by construction: keys hash (with a per-process random
//! key, so clients cannot aim at one slot) into a table of `SLOTS` atomic
//! counters, each packing `(window number, count)`. A client cycling through
//! a million addresses only reuses slots. Two keys sharing a slot share a
//! count, which can only make the limit stricter for them, never looser.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Counters in the table (512 KiB).
pub const SLOTS: usize = 1 << 16;

/// `N/second|minute|hour|day`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    pub window_seconds: u64,
}

impl Rate {
    /// Parses `"100/minute"`; the error is one line saying what is accepted.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let problem = || {
            format!(
                "rate {text:?} is not 'N/second', 'N/minute', 'N/hour' or 'N/day' with N a positive integer"
            )
        };
        let (count, unit) = text.split_once('/').ok_or_else(problem)?;
        let limit: u32 = count.trim().parse().map_err(|_| problem())?;
        if limit == 0 {
            return Err(problem());
        }
        let window_seconds = match unit.trim() {
            "second" | "s" | "sec" => 1,
            "minute" | "m" | "min" => 60,
            "hour" | "h" => 3600,
            "day" | "d" => 86_400,
            _ => return Err(problem()),
        };
        Ok(Rate {
            limit,
            window_seconds,
        })
    }
}

/// One request's verdict, and what the `RateLimit-*` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets (at least 1).
    pub reset: u64,
}

pub struct MemoryLimiter {
    rate: Rate,
    slots: Box<[AtomicU64]>,
    hasher: std::collections::hash_map::RandomState,
}

impl MemoryLimiter {
    pub fn new(rate: Rate) -> MemoryLimiter {
        MemoryLimiter {
            rate,
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }

    /// Counts one request for `key` now.
    pub fn hit(&self, key: &[u8]) -> Verdict {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_secs());
        self.hit_at(key, now)
    }

    pub fn hit_at(&self, key: &[u8], now: u64) -> Verdict {
        let mut hasher = self.hasher.build_hasher();
        hasher.write(key);
        let slot = &self.slots[(hasher.finish() as usize) & (SLOTS - 1)];
        let window = now / self.rate.window_seconds;
        let reset = ((window + 1) * self.rate.window_seconds - now).max(1);
        // The window number's low 32 bits: enough to tell this window from the last.
        let stamp = (window & 0xffff_ffff) << 32;
        let mut current = slot.load(Ordering::Relaxed);
        loop {
            let count = if current & !0xffff_ffff == stamp {
                current & 0xffff_ffff
            } else {
                0
            };
            if count >= u64::from(self.rate.limit) {
                return Verdict {
                    allowed: false,
                    limit: self.rate.limit,
                    remaining: 0,
                    reset,
                };
            }
            match slot.compare_exchange_weak(
                current,
                stamp | (count + 1),
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    return Verdict {
                        allowed: true,
                        limit: self.rate.limit,
                        remaining: self.rate.limit - (count as u32 + 1),
                        reset,
                    }
                }
                Err(actual) => current = actual,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_malformed_ones_are_refused() {
        assert_eq!(
            Rate::parse("100/minute"),
            Ok(Rate {
                limit: 100,
                window_seconds: 60
            })
        );
        assert_eq!(
            Rate::parse("5/day").map(|rate| rate.window_seconds),
            Ok(86_400)
        );
        for bad in [
            "",
            "100",
            "0/minute",
            "-1/second",
            "ten/hour",
            "5/fortnight",
            "5/",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_per_key_and_resets_with_the_window() {
        let limiter = MemoryLimiter::new(Rate::parse("3/minute").unwrap_or(Rate {
            limit: 3,
            window_seconds: 60,
        }));
        let at = 6_000;
        let verdicts: Vec<_> = (0..4).map(|_| limiter.hit_at(b"a", at)).collect();
        assert_eq!(
            verdicts.iter().map(|v| v.allowed).collect::<Vec<_>>(),
            [true, true, true, false]
        );
        assert_eq!(verdicts[0].remaining, 2);
        assert_eq!(verdicts[3].reset, 60);
        assert!(limiter.hit_at(b"b", at).allowed);
        assert!(limiter.hit_at(b"a", at + 60).allowed);
    }

    #[test]
    fn a_million_keys_use_no_more_memory() {
        let limiter = MemoryLimiter::new(Rate {
            limit: 1_000_000,
            window_seconds: 60,
        });
        for key in 0u32..200_000 {
            limiter.hit_at(&key.to_le_bytes(), 60);
        }
        assert_eq!(limiter.slots.len(), SLOTS);
    }
}
