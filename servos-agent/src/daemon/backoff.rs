//! Retry delays when the API is away: exponential, capped, with jitter.
//!
//! The cap (8 s) keeps the agent back within 10 s of the API returning
//! (the cap plus the 2 s connect timeout); jitter spreads a fleet's retries
//! so a returning API is not met by every agent at once; the first delay
//! (0.5 s) means a failing call is never retried in a tight loop.

use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

/// The first delay.
pub const FIRST: Duration = Duration::from_millis(500);
/// The longest delay.
pub const CAP: Duration = Duration::from_secs(8);

/// Delays for consecutive failures.
#[derive(Debug, Clone)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// No failure yet.
    pub fn new() -> Self {
        Self { failures: 0 }
    }

    /// A call succeeded: the next failure starts from [`FIRST`] again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// The delay before retrying after one more failure, with random jitter.
    pub fn next_delay(&mut self) -> Duration {
        let mut random = [0u8; 4];
        // Without randomness the delay is still bounded, just not spread.
        let _ = SystemRandom::new().fill(&mut random);
        self.next_delay_with(u32::from_le_bytes(random))
    }

    /// The delay for a given random value: between half and all of the
    /// exponential step (`FIRST * 2^failures`, at most [`CAP`]).
    pub fn next_delay_with(&mut self, random: u32) -> Duration {
        let step = FIRST.saturating_mul(1u32 << self.failures.min(16)).min(CAP);
        self.failures = self.failures.saturating_add(1);
        let half = step / 2;
        let fraction = f64::from(random) / f64::from(u32::MAX);
        half + half.mul_f64(fraction)
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_within_their_bounds() {
        let mut backoff = Backoff::new();
        let lows: Vec<Duration> = (0..8).map(|_| backoff.next_delay_with(0)).collect();
        assert_eq!(lows[0], Duration::from_millis(250));
        assert_eq!(lows[1], Duration::from_millis(500));
        assert_eq!(lows[4], Duration::from_secs(4));
        assert_eq!(lows[7], Duration::from_secs(4));
        let mut backoff = Backoff::new();
        let highs: Vec<Duration> = (0..40).map(|_| backoff.next_delay_with(u32::MAX)).collect();
        assert_eq!(highs[0], FIRST);
        assert!(highs.iter().all(|delay| *delay <= CAP));
        assert_eq!(highs[39], CAP);
    }

    #[test]
    fn jitter_spreads_delays_and_reset_starts_over() {
        let mut backoff = Backoff::new();
        for _ in 0..10 {
            backoff.next_delay();
        }
        let spread: Vec<Duration> = (0..20).map(|_| backoff.next_delay()).collect();
        assert!(spread.iter().all(|d| *d >= CAP / 2 && *d <= CAP));
        assert!(
            spread.windows(2).any(|pair| pair[0] != pair[1]),
            "no jitter: {spread:?}"
        );
        backoff.reset();
        assert!(backoff.next_delay() <= FIRST);
    }
}
