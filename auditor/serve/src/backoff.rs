//! Exponential backoff with a cap and full jitter.
//!
//! Every fault the service meets (API server down, git fetch failing, GitHub
//! 5xx or rate limit) is retried on a later cycle through a [`Backoff`]. Its
//! ceilings are the [`RetryPolicy`]'s exponential delays (backon's, the same
//! policy type a GitHub call retries on; serve config `backoff.initial` is
//! its `base_delay`, `backoff.max` its `max_delay`). The delay itself is
//! full jitter, drawn uniformly from `[0, ceiling]` ("Exponential Backoff
//! And Jitter", AWS Architecture Blog, 2015), which backon's own jitter
//! (`[ceiling, 2·ceiling)`) is not: it keeps many flotilla replicas, or many
//! clusters behind one flaky proxy, from retrying in lockstep. The random
//! source (fastrand) is seeded so tests can pin the exact delays.

use std::time::Duration;

pub use flotilla_repos::retry::RetryPolicy;

/// Retry state of one fault source (a cluster, git, GitHub).
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    /// A backoff whose jitter is drawn from `seed`; the same seed gives the
    /// same delays.
    pub fn new(policy: RetryPolicy, seed: u64) -> Self {
        Backoff {
            policy,
            attempt: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The delay before the next retry, drawn uniformly from
    /// `[0, ceiling]`; each call raises the ceiling until `max_delay`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.u64(0..=nanos))
    }

    /// The upper bound of the next delay: `min(max_delay, base_delay · 2^attempt)`.
    pub fn ceiling(&self) -> Duration {
        self.policy.delay(self.attempt.saturating_add(1))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_then_caps() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::service()
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
        let mut b = Backoff::new(RetryPolicy::service(), 1);
        for _ in 0..200 {
            assert!(b.next_delay() <= Duration::from_secs(300));
        }
        assert_eq!(b.attempts(), 200);
    }
}
