//! Exponential backoff with a cap and full jitter.
//!
//! Every fault the service meets (API server down, git fetch failing, GitHub
//! 5xx or rate limit) is retried through a [`Backoff`]. Full jitter (a delay
//! drawn uniformly from `[0, ceiling]`) keeps many flotilla replicas, or many
//! clusters behind one flaky proxy, from retrying in lockstep. The random
//! source is seeded so tests can pin the exact delays.

use std::time::Duration;

/// How retries grow: `initial · 2^attempt`, never above `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Ceiling of the first retry delay.
    pub initial: Duration,
    /// Largest ceiling any retry may reach.
    pub max: Duration,
}

impl Default for BackoffPolicy {
    /// 5 s first, 5 min at most: an API server restart is retried quickly, a
    /// long outage costs one request every few minutes.
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(5),
            max: Duration::from_secs(300),
        }
    }
}

/// Retry state of one fault source (a cluster, git, GitHub).
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    attempt: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// A backoff whose jitter is drawn from `seed`; the same seed gives the
    /// same delays.
    pub fn new(policy: BackoffPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng: SplitMix64(seed),
        }
    }

    /// The delay before the next retry, drawn uniformly from
    /// `[0, ceiling]`; each call raises the ceiling until `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.below_inclusive(nanos))
    }

    /// The upper bound of the next delay: `min(max, initial · 2^attempt)`.
    pub fn ceiling(&self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(31)).unwrap_or(u32::MAX);
        self.policy
            .initial
            .checked_mul(factor)
            .unwrap_or(self.policy.max)
            .min(self.policy.max)
    }

    /// Failed attempts since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }

    /// Forget past failures after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

/// A seed that differs between processes, for production use.
///
/// `RandomState` is seeded by the OS per process, which is all the jitter
/// needs; no cryptographic quality is required.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::process::id())
}

/// SplitMix64: tiny, fast, and good enough to spread retries.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, bound]` (the modulo bias is irrelevant for delays).
    fn below_inclusive(&mut self, bound: u64) -> u64 {
        match bound.checked_add(1) {
            Some(n) => self.next_u64() % n,
            None => self.next_u64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let policy = BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(10),
        };
        let mut b = Backoff::new(policy, 7);
        let ceilings: Vec<u64> = (0..6)
            .map(|_| {
                let c = b.ceiling().as_secs();
                b.next_delay();
                c
            })
            .collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 10, 10]);
        b.reset();
        assert_eq!(b.ceiling(), Duration::from_secs(1));
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(BackoffPolicy::default(), 1);
        for _ in 0..200 {
            assert!(b.next_delay() <= Duration::from_secs(300));
        }
        assert_eq!(b.attempts(), 200);
    }
}
