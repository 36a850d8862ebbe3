//! Exponential backoff with full jitter, shared by every network client here.

use std::time::Duration;

use rand::{Rng, RngExt, SeedableRng};

/// How often and how patiently to retry a failing call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    /// Delay before the first retry (doubled each time).
    pub base: Duration,
    /// Longest delay between two attempts.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 8,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `attempt` (0-based): uniform in
    /// `[d/2, d]` with `d = min(cap, base·2^attempt)`, so many clients that
    /// failed together do not come back together, yet none retries instantly.
    #[must_use]
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.cap);
        let half = exp / 2;
        let jitter_nanos = rng.random_range(0..=u64::try_from(half.as_nanos()).unwrap_or(u64::MAX));
        half + Duration::from_nanos(jitter_nanos)
    }
}

/// A jitter source that needs no global state: seeded from the address of a
/// stack value and the attempt, which differs between processes and tasks.
pub(crate) fn jitter_rng(salt: u64) -> rand::rngs::ChaCha8Rng {
    let local = 0u8;
    let addr = std::ptr::from_ref(&local) as u64;
    rand::rngs::ChaCha8Rng::seed_from_u64(
        addr ^ salt.rotate_left(17) ^ u64::from(std::process::id()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_delay_grows_and_is_capped() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(1),
        };
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(1);
        for attempt in 0..10 {
            let d = p.delay(attempt, &mut rng);
            let full = (Duration::from_millis(100) * 2u32.pow(attempt.min(10))).min(p.cap);
            assert!(d >= full / 2 && d <= full, "{attempt}: {d:?}");
        }
    }
}
