//! Coarse clocks for bookkeeping that runs on every request.
//!
//! The precise monotonic clock costs ~25 ns a read here (vDSO + `rdtsc`); the
//! coarse ones (the kernel's last tick, 1–4 ms old) cost ~3 ns. Request
//! bookkeeping whose bounds are milliseconds or seconds (load shedding's
//! waits, the `Date` header's second, the deadlines of waits for a request
//! head) reads these; measured latencies keep the precise clock.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A moment on the coarse monotonic clock, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Tick(u64);

impl Tick {
    pub fn now() -> Tick {
        let (seconds, nanos) = read(libc::CLOCK_MONOTONIC_COARSE);
        Tick(seconds.saturating_mul(1_000_000) + nanos / 1_000)
    }

    /// Microseconds since the clock's origin (for storing in an atomic).
    pub fn micros(self) -> u64 {
        self.0
    }

    pub fn from_micros(micros: u64) -> Tick {
        Tick(micros)
    }

    /// How long after `earlier` this is (zero if it is not after).
    pub fn since(self, earlier: Tick) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Tick {
    type Output = Tick;
    fn add(self, duration: Duration) -> Tick {
        Tick(self.0.saturating_add(duration.as_micros() as u64))
    }
}

impl Sub<Duration> for Tick {
    type Output = Tick;
    fn sub(self, duration: Duration) -> Tick {
        Tick(self.0.saturating_sub(duration.as_micros() as u64))
    }
}

/// An `Instant` read from the coarse clock (at most a tick off): for
/// deadlines handed to tokio's timer, which counts whole milliseconds anyway.
pub fn coarse_instant() -> std::time::Instant {
    static ORIGIN: std::sync::LazyLock<(std::time::Instant, Tick)> =
        std::sync::LazyLock::new(|| (std::time::Instant::now(), Tick::now()));
    let (instant, tick) = *ORIGIN;
    instant + Tick::now().since(tick)
}

/// Whole seconds since the Unix epoch, from the coarse wall clock (the
/// `Date` header has one-second resolution).
pub fn unix_seconds() -> u64 {
    read(libc::CLOCK_REALTIME_COARSE).0
}

fn read(clock: libc::clockid_t) -> (u64, u64) {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live local; both coarse
    // clocks exist on every Linux since 2.6.32, and a failure leaves zeros.
    unsafe {
        libc::clock_gettime(clock, &mut now);
    }
    (now.tv_sec.max(0) as u64, now.tv_nsec.max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coarse_clocks_follow_the_precise_ones() {
        let before = Tick::now();
        std::thread::sleep(Duration::from_millis(30));
        let after = Tick::now();
        // The coarse clock lags by at most a tick (≤ 10 ms at HZ=100).
        assert!(after.since(before) >= Duration::from_millis(15));
        assert!(after.since(before) < Duration::from_secs(5));
        assert_eq!(before.since(after), Duration::ZERO);
        let wall = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or(0);
        assert!(unix_seconds().abs_diff(wall) <= 1);
        assert_eq!(
            (before + Duration::from_millis(5)).since(before),
            Duration::from_millis(5)
        );
        assert_eq!(
            before.since(before - Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        let precise = std::time::Instant::now();
        let coarse = coarse_instant();
        let apart = if coarse > precise {
            coarse - precise
        } else {
            precise - coarse
        };
        assert!(apart < Duration::from_millis(50), "{apart:?}");
    }
}
