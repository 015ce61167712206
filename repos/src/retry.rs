//! The one retry policy of flotilla: how long to wait after a failure,
//! growing exponentially up to a cap, and how many attempts to make.
//!
//! The delays are `backon`'s [`ExponentialBuilder`] (factor 2, first
//! delay `base_delay`, capped at `max_delay`); what waits on them differs:
//! a GitHub call retries within one request ([`crate::github`], through
//! backon's `Retryable`, honouring `Retry-After` and `x-ratelimit-reset`),
//! the service retries a failing cluster, git fetch or GitHub publish on
//! the next cycles (flotilla-auditor's `serve::backoff`, full jitter).

use std::time::Duration;

use backon::ExponentialBuilder;

/// Bounds on retrying a failure.
///
/// `max_delay` caps a single wait: when GitHub asks for a longer pause (a
/// primary rate limit resetting in 40 minutes) the call fails at once with
/// [`crate::github::Error::RateLimited`] so that the service loop can
/// requeue the work instead of holding a task hostage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first one included. At least 1;
    /// [`u32::MAX`] for "never give up" (the service's own loop).
    pub max_attempts: u32,
    /// First back-off for errors that carry no `Retry-After`; doubles on
    /// each attempt.
    pub base_delay: Duration,
    /// Longest single wait flotilla accepts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// A GitHub call: 5 attempts, 1 s first, 2 min at most.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// The service's retries of a cluster, git or GitHub (serve config
    /// `backoff`): 5 s first, 5 min at most, never giving up. An API server
    /// restart is retried quickly, a long outage costs one request every
    /// few minutes.
    pub const fn service() -> Self {
        Self {
            max_attempts: u32::MAX,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(300),
        }
    }

    /// backon's builder for the delays after each failed attempt:
    /// `base_delay · 2^n`, capped at `max_delay`, `max_attempts - 1` of them.
    pub fn backoff(&self) -> ExponentialBuilder {
        let builder = ExponentialBuilder::new()
            .with_factor(2.0)
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay);
        match self.max_attempts {
            u32::MAX => builder.without_max_times(),
            n => builder.with_max_times(usize::try_from(n.saturating_sub(1)).unwrap_or(usize::MAX)),
        }
    }

    /// The delay after failed attempt `attempt` (from 1), with no jitter:
    /// the same sequence as [`RetryPolicy::backoff`], computed in whole
    /// nanoseconds (backon multiplies in `f32`, which drifts below a
    /// millisecond: 40 ms comes out as 39.99 ms).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(31);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn delays_double_and_are_capped() {
        let p = RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        };
        let ms = |d: Duration| d.as_millis();
        let backon: Vec<Duration> = p.backoff().build().collect();
        assert_eq!(backon.len(), 3, "max_attempts - 1 waits");
        for (n, wait) in (1..).zip(backon) {
            assert!(
                p.delay(n).abs_diff(wait) < Duration::from_millis(1),
                "{n}: {wait:?}"
            );
        }
        assert_eq!([1, 2, 3, 9].map(|a| ms(p.delay(a))), [10, 20, 40, 50]);
        let service = RetryPolicy::service();
        assert_eq!(service.backoff().build().nth(1000), Some(service.max_delay));
    }
}
