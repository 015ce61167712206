//! Durations, exactly as Go's `time.ParseDuration` reads them (golang/go
//! `src/time/format.go`): Flux intervals and kured's `--period` are Go
//! durations, and flotilla's own settings use the same grammar (plus `d`),
//! so the fleet spec, the generated repository and `flotilla serve` agree
//! on every value. The bound is Go's: `1<<63 - 1` nanoseconds (about 292
//! years); `5000000000ms` is well inside it.
//!
//! Written out rather than taken from a crate (moved here from the fleet's
//! range checks): none parses Go durations with Go's fractions and exact
//! bound, and this is a few dozen lines.

use std::time::Duration;

/// The largest Go `time.Duration`: `1<<63 - 1` nanoseconds.
pub const MAX_GO_DURATION_NANOS: u64 = i64::MAX as u64;

/// How the largest Go duration is written, for messages.
pub const MAX_GO_DURATION: &str = "2562047h47m16.854775807s";

/// Why text is not a Go duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not of the form at all.
    #[error("not a duration")]
    Malformed,
    /// Well-formed, but more than `1<<63 - 1` nanoseconds.
    #[error("longer than {MAX_GO_DURATION}")]
    Overflow,
}

/// The nanoseconds of an unsigned Go duration (`1h30m`, `1.5s`, `300ms`,
/// `0`), exactly as Go's `time.ParseDuration` computes them (golang/go
/// src/time/format.go), which rejects more than `1<<63 - 1` nanoseconds as
/// "invalid duration". Units: `ns`, `us`, `µs`, `μs`, `ms`, `s`, `m`, `h`.
/// No sign: nothing flotilla reads is a negative duration.
pub fn go_nanos(text: &str) -> Result<u64, DurationError> {
    parse_nanos(text, false)
}

/// The nanoseconds of a duration in one of flotilla's own settings (the
/// serve config, the fleet's `auditor.interval`): Go's grammar, as
/// [`go_nanos`], plus the unit `d` (24h), which flotilla has always taken.
pub fn nanos(text: &str) -> Result<u64, DurationError> {
    parse_nanos(text, true)
}

/// [`nanos`] as a [`Duration`].
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    nanos(text).map(Duration::from_nanos)
}

fn parse_nanos(text: &str, days: bool) -> Result<u64, DurationError> {
    use DurationError::{Malformed, Overflow};
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    if rest.is_empty() {
        return Err(Malformed);
    }
    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(Malformed);
        }
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_digits, after) = rest.split_at(int_len);
        rest = after;
        let whole = leading_int(int_digits).ok_or(Overflow)?;
        let mut fraction: (u64, f64) = (0, 1.0);
        let mut has_fraction_digits = false;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            has_fraction_digits = frac_len > 0;
            fraction = leading_fraction(&after_dot[..frac_len]);
            rest = &after_dot[frac_len..];
        }
        if int_digits.is_empty() && !has_fraction_digits {
            return Err(Malformed);
        }
        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60 * 1_000_000_000,
            "h" => 3_600 * 1_000_000_000,
            "d" if days => 86_400 * 1_000_000_000,
            _ => return Err(Malformed),
        };
        rest = &rest[unit_len..];
        // Go: `if v > 1<<63/unit` is overflow, then `v *= unit`.
        if whole > (1u64 << 63) / unit {
            return Err(Overflow);
        }
        let mut part = whole * unit;
        if fraction.0 > 0 {
            // Go adds `uint64(float64(f) * (float64(unit) / scale))`, which
            // is at most 3.6e12 and so fits.
            let extra = (fraction.0 as f64 * (unit as f64 / fraction.1)) as u64;
            part = part.checked_add(extra).ok_or(Overflow)?;
            if part > 1 << 63 {
                return Err(Overflow);
            }
        }
        total = total.checked_add(part).ok_or(Overflow)?;
        if total > 1 << 63 {
            return Err(Overflow);
        }
    }
    if total > MAX_GO_DURATION_NANOS {
        return Err(Overflow);
    }
    Ok(total)
}

/// Go's `leadingInt` on all-digit text: overflow past `1<<63` is `None`.
fn leading_int(digits: &str) -> Option<u64> {
    let mut x: u64 = 0;
    for c in digits.bytes() {
        if x > (1 << 63) / 10 {
            return None;
        }
        x = x * 10 + u64::from(c - b'0');
        if x > 1 << 63 {
            return None;
        }
    }
    Some(x)
}

/// Go's `leadingFraction`: digits past what fits are dropped, not an error.
fn leading_fraction(digits: &str) -> (u64, f64) {
    let (mut x, mut scale) = (0u64, 1.0f64);
    for c in digits.bytes() {
        if x > (i64::MAX as u64) / 10 {
            break;
        }
        let y = x * 10 + u64::from(c - b'0');
        if y > 1 << 63 {
            break;
        }
        x = y;
        scale *= 10.0;
    }
    (x, scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        let s = 1_000_000_000;
        for (text, nanos) in [
            ("0", 0),
            ("1s", s),
            ("1.5s", s * 3 / 2),
            (".5s", s / 2),
            ("1.s", s),
            ("1h30m", 5_400 * s),
            ("300ms", 300_000_000),
            ("1us", 1_000),
            ("1µs", 1_000),
            ("2ns", 2),
            ("0.1ns", 0),
            (MAX_GO_DURATION, i64::MAX as u64),
            ("9223372036854775807ns", i64::MAX as u64),
            ("2562047h", 2_562_047 * 3_600 * s),
            ("5000000000ms", 5_000_000 * s),
        ] {
            assert_eq!(go_nanos(text), Ok(nanos), "{text}");
            assert_eq!(super::nanos(text), Ok(nanos), "{text}");
        }
        for bad in ["", "1", "s", ".s", "1d", "1 s", "-1s", "+1s", "1.5.5s"] {
            assert_eq!(go_nanos(bad), Err(DurationError::Malformed), "{bad}");
        }
        for long in [
            "5000000000h",
            "2562048h",
            "9223372036854775808ns",
            "2562047h47m16.854775808s",
            "99999999999999999999s",
            "106752d",
        ] {
            assert_eq!(super::nanos(long), Err(DurationError::Overflow), "{long}");
        }
    }

    #[test]
    fn flotilla_settings_also_take_days() {
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("1d12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse("106751d"), Ok(Duration::from_secs(106_751 * 86_400)));
        assert_eq!(parse("5000000000ms"), Ok(Duration::from_secs(5_000_000)));
    }
}
