//! When to audit: a fixed interval, a 5-field cron expression (UTC), or both.
//!
//! Cron expressions are parsed and evaluated by `croner` (its jiff
//! support), set up as classic Vixie cron: five fields (no seconds, no
//! years), `5/20` meaning "from 5, every 20", and the day rule of
//! Vixie cron's `cron.c` (`DOM_STAR`/`DOW_STAR`, kept by cronie): when both
//! day-of-month and day-of-week are restricted a day matches if *either*
//! does, and a field whose text starts with `*` (also `*/2`) counts as
//! unrestricted, so the other one alone decides. croner's own extensions
//! (`L`, `W`, `#`, `?`) are accepted as it defines them.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use std::fmt;
use std::time::Duration;

/// Why a duration or cron expression was rejected; the config loader adds
/// file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a duration in Go's grammar (plus `d`), see `flotilla_core::duration`.
    #[error("invalid duration {0:?}: expected e.g. 30s, 5m, 1h30m")]
    Duration(String),
    /// A duration of zero, which would spin.
    #[error("duration must be greater than zero")]
    ZeroDuration,
    /// Not five space-separated fields or a known `@macro`.
    #[error("cron {0:?}: expected 5 fields (minute hour day-of-month month day-of-week)")]
    CronShape(String),
    /// One field has a bad token or an out-of-range value.
    #[error("cron {field} field {token:?}: {reason}")]
    CronField {
        /// `minute`, `hour`, `day-of-month`, `month` or `day-of-week`.
        field: &'static str,
        /// The offending token.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// When timer-driven audits happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// Audit this long after the previous timer tick.
    pub interval: Option<Duration>,
    /// Audit at these wall-clock minutes (UTC).
    pub cron: Option<Cron>,
}

impl Schedule {
    /// The next tick strictly after `now`: the earlier of interval and cron.
    /// `None` when neither is set (watch-only service).
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let by_interval = self.interval.and_then(|d| {
            let span = jiff::SignedDuration::try_from(d).ok()?;
            now.checked_add(span).ok()
        });
        let by_cron = self.cron.as_ref().and_then(|c| c.next_after(now));
        match (by_interval, by_cron) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// A parsed 5-field cron expression, evaluated in UTC.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    source: String,
    cron: croner::Cron,
}

impl fmt::Debug for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cron({:?})", self.source)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// The five fields, in order, as errors name them.
const FIELDS: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];

impl Cron {
    /// Parse `m h dom mon dow` or one of `@hourly @daily @midnight @weekly
    /// @monthly @yearly @annually`. Fields take `*`, `n`, `a-b`, `*/s`,
    /// `a-b/s`, `n/s`, names (`jan`, `mon`) and lists.
    pub fn parse(text: &str) -> Result<Cron, ParseError> {
        let source = text.trim();
        // croner knows every macro but `@midnight`, which Vixie cron has.
        let expanded = match source {
            "@midnight" => "0 0 * * *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        if !expanded.starts_with('@') && fields.len() != 5 {
            return Err(ParseError::CronShape(text.to_owned()));
        }
        // Vixie cron's DOM_STAR/DOW_STAR: a day field starting with `*` is
        // unrestricted, so the days are the other field's (AND with all);
        // croner ORs any two fields other than a bare `*`.
        let star_day = fields.get(2).is_some_and(|f| f.starts_with('*'))
            || fields.get(4).is_some_and(|f| f.starts_with('*'));
        let parse = |pattern: &str| {
            croner::parser::CronParser::builder()
                .seconds(croner::parser::Seconds::Disallowed)
                .year(croner::parser::Year::Disallowed)
                .sloppy_ranges(true)
                .dom_and_dow(star_day)
                .build()
                .parse(pattern)
        };
        let cron = parse(expanded).map_err(|e| match bad_field(&fields, parse) {
            Some((field, token)) => ParseError::CronField {
                field,
                token: token.to_owned(),
                reason: e.to_string(),
            },
            None => ParseError::CronShape(text.to_owned()),
        })?;
        Ok(Cron {
            source: source.to_owned(),
            cron,
        })
    }

    /// The first matching minute strictly after `now`, or `None` if the
    /// expression can never fire (e.g. `0 0 31 2 *`: croner gives up at the
    /// year 5000, jumping a month at a time, in well under a millisecond).
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        self.cron
            .find_next_occurrence(&now.to_zoned(TimeZone::UTC), false)
            .ok()
            .map(|next| next.timestamp())
    }
}

/// The field croner refused: the first one that fails on its own, the others `*`.
fn bad_field<'a, T, E>(
    fields: &[&'a str],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Option<(&'static str, &'a str)> {
    (0..FIELDS.len().min(fields.len())).find_map(|i| {
        let alone: Vec<&str> = (0..5)
            .map(|j| if j == i { fields[i] } else { "*" })
            .collect();
        parse(&alone.join(" "))
            .is_err()
            .then(|| (FIELDS[i], fields[i]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn dom_and_dow_both_restricted_match_either() {
        // The 13th, or any Friday.
        let c = Cron::parse("0 12 13 * fri").unwrap();
        // 2026-11-21 is a Saturday; next Friday is the 27th, the 13th is in December.
        assert_eq!(
            c.next_after(ts("2026-11-21T07:00:00Z")),
            Some(ts("2026-11-27T12:00:00Z"))
        );
        assert_eq!(
            c.next_after(ts("2026-12-11T12:00:00Z")),
            Some(ts("2026-12-13T12:00:00Z"))
        );
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        // 2026-11-21 is a Saturday.
        for text in ["0 0 * * 7", "0 0 * * 0", "0 0 * * sun"] {
            assert_eq!(
                Cron::parse(text)
                    .unwrap()
                    .next_after(ts("2026-11-21T07:00:00Z")),
                Some(ts("2026-11-22T00:00:00Z")),
                "{text}"
            );
        }
    }

    #[test]
    fn step_from_single_value_runs_to_max() {
        // `5/20` is 5,25,45 as in Vixie cron.
        let c = Cron::parse("5/20 * * * *").unwrap();
        assert_eq!(
            c.next_after(ts("2026-11-21T07:06:00Z")),
            Some(ts("2026-11-21T07:25:00Z"))
        );
        assert_eq!(
            c.next_after(ts("2026-11-21T07:45:00Z")),
            Some(ts("2026-11-21T08:05:00Z"))
        );
    }

    /// Vixie cron's DOW_STAR/DOM_STAR: a day field starting with `*` (here
    /// `*/2`) leaves the days to the other one: odd days that are Mondays,
    /// not odd days or Mondays.
    #[test]
    fn a_starred_day_field_with_a_step_is_anded() {
        let c = Cron::parse("0 0 */2 * mon").unwrap();
        // After Monday 2026-11-23: the 25th is odd (a Wednesday), the 30th
        // a Monday (even); 2026-12-07 is both.
        assert_eq!(
            c.next_after(ts("2026-11-23T01:00:00Z")),
            Some(ts("2026-12-07T00:00:00Z"))
        );
    }

    /// Evaluated in UTC: no local time, so no DST gap or repeat (02:30 on
    /// the day US clocks skip 02:00-03:00 exists, and happens once).
    #[test]
    fn utc_has_no_dst_gap_or_repeat() {
        let c = Cron::parse("30 2 * * *").unwrap();
        assert_eq!(
            c.next_after(ts("2026-03-08T01:00:00Z")),
            Some(ts("2026-03-08T02:30:00Z"))
        );
        assert_eq!(
            c.next_after(ts("2026-11-01T02:30:00Z")),
            Some(ts("2026-11-02T02:30:00Z"))
        );
    }

    #[test]
    fn a_date_that_never_comes_is_none() {
        assert_eq!(
            Cron::parse("0 0 31 2 *")
                .unwrap()
                .next_after(ts("2026-01-01T00:00:00Z")),
            None
        );
    }
}
