//! Recycled header maps for answers.
//!
//! Every answer the application gives carries a `HeaderMap`: two allocations
//! made on the Python thread and freed on an I/O thread once the head is
//! written (a cross-thread free, the costly kind). The I/O thread gives the
//! emptied map back here and the next answer takes it: one short lock each
//! way instead of two allocations and two remote frees per request.

use http::HeaderMap;
use parking_lot::Mutex;

/// Maps kept for reuse (enough for a batch of answers in flight).
const KEEP: usize = 256;
/// A map that grew past this many entries is dropped, not kept.
const LARGEST: usize = 16;

static POOL: Mutex<Vec<HeaderMap>> = Mutex::new(Vec::new());

/// An empty map, recycled when one is available.
pub fn take() -> HeaderMap {
    POOL.lock()
        .pop()
        .unwrap_or_else(|| HeaderMap::with_capacity(4))
}

/// Empties `map` and keeps it for a later answer.
pub fn give_back(mut map: HeaderMap) {
    if !worth_keeping(&map) {
        return;
    }
    map.clear();
    let mut pool = POOL.lock();
    if pool.len() < KEEP {
        pool.push(map);
    }
}

fn worth_keeping(map: &HeaderMap) -> bool {
    map.capacity() <= LARGEST
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::CONTENT_TYPE;
    use http::HeaderValue;

    #[test]
    fn maps_come_back_empty_and_large_ones_are_not_kept() {
        let mut map = take();
        map.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        give_back(map);
        // Other tests may share the pool: whatever comes out is empty.
        for _ in 0..4 {
            assert!(take().is_empty());
        }
        assert!(worth_keeping(&take()));
        assert!(!worth_keeping(&HeaderMap::with_capacity(64)));
    }
}
