//! When to audit: a fixed interval, a 5-field cron expression (UTC), or both.
//!
//! Cron is parsed here rather than with a crate: the five classic fields are
//! a few dozen lines, and the service needs only "next time after now".

use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::fmt;
use std::time::Duration;

/// Why a duration or cron expression was rejected; the config loader adds
/// file, line and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not `<n><unit>…` with units `ms`, `s`, `m`, `h`, `d`.
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

/// Parse `500ms`, `30s`, `5m`, `1h30m`, `1d`.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let bad = || ParseError::Duration(text.to_owned());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let n: u64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        let part = unit.checked_mul(u32::try_from(n).map_err(|_| bad())?);
        total = part.and_then(|p| total.checked_add(p)).ok_or_else(bad)?;
    }
    if total.is_zero() {
        return Err(ParseError::ZeroDuration);
    }
    Ok(total)
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
///
/// Each field is a bit set of allowed values. As in Vixie cron, when both
/// day-of-month and day-of-week are restricted a day matches if *either*
/// does.
#[derive(Clone, PartialEq, Eq)]
pub struct Cron {
    source: String,
    minutes: u64,
    hours: u64,
    days_of_month: u64,
    months: u64,
    days_of_week: u64,
    dom_restricted: bool,
    dow_restricted: bool,
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

/// One cron field's name and allowed range.
struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: FieldSpec = FieldSpec {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
/// 7 is accepted as Sunday and folded onto 0.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// How far ahead to look: a Feb 29 schedule fires within 8 years.
const SEARCH_DAYS: i32 = 366 * 8;

impl Cron {
    /// Parse `m h dom mon dow` or one of `@hourly @daily @weekly @monthly
    /// @yearly`. Fields take `*`, `n`, `a-b`, `*/s`, `a-b/s` and lists.
    pub fn parse(text: &str) -> Result<Cron, ParseError> {
        let expanded = match text.trim() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            other => other,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [m, h, dom, mon, dow] = fields[..] else {
            return Err(ParseError::CronShape(text.to_owned()));
        };
        let mut days_of_week = parse_field(dow, &DAY_OF_WEEK)?;
        if days_of_week & (1 << 7) != 0 {
            days_of_week = (days_of_week & !(1 << 7)) | 1;
        }
        Ok(Cron {
            source: text.trim().to_owned(),
            minutes: parse_field(m, &MINUTE)?,
            hours: parse_field(h, &HOUR)?,
            days_of_month: parse_field(dom, &DAY_OF_MONTH)?,
            months: parse_field(mon, &MONTH)?,
            days_of_week,
            dom_restricted: !dom.starts_with('*'),
            dow_restricted: !dow.starts_with('*'),
        })
    }

    /// The first matching minute strictly after `now`, or `None` if the
    /// expression can never fire (e.g. `0 0 31 2 *`).
    pub fn next_after(&self, now: Timestamp) -> Option<Timestamp> {
        let start = now
            .to_zoned(TimeZone::UTC)
            .datetime()
            .checked_add(1.minute())
            .ok()?;
        let mut date = start.date();
        let mut from = Time::new(start.hour(), start.minute(), 0, 0).ok()?;
        for _ in 0..SEARCH_DAYS {
            if self.matches_day(date)
                && let Some(time) = self.first_time_from(from)
            {
                return date
                    .to_datetime(time)
                    .to_zoned(TimeZone::UTC)
                    .ok()
                    .map(|z| z.timestamp());
            }
            date = date.tomorrow().ok()?;
            from = Time::midnight();
        }
        None
    }

    fn matches_day(&self, date: Date) -> bool {
        let month_ok = bit(self.months, date.month());
        let dom_ok = bit(self.days_of_month, date.day());
        let dow_ok = bit(self.days_of_week, date.weekday().to_sunday_zero_offset());
        let day_ok = match (self.dom_restricted, self.dow_restricted) {
            (true, true) => dom_ok || dow_ok,
            _ => dom_ok && dow_ok,
        };
        month_ok && day_ok
    }

    fn first_time_from(&self, from: Time) -> Option<Time> {
        let (h0, m0) = (from.hour(), from.minute());
        (h0..24)
            .filter(|&h| bit(self.hours, h))
            .find_map(|h| {
                let first_minute = if h == h0 { m0 } else { 0 };
                (first_minute..60)
                    .find(|&m| bit(self.minutes, m))
                    .map(|m| (h, m))
            })
            .and_then(|(h, m)| Time::new(h, m, 0, 0).ok())
    }
}

fn bit(set: u64, value: i8) -> bool {
    u32::try_from(value).is_ok_and(|v| v < 64 && set & (1 << v) != 0)
}

fn parse_field(text: &str, spec: &FieldSpec) -> Result<u64, ParseError> {
    text.split(',').try_fold(0u64, |set, part| {
        parse_part(part, spec).map(|bits| set | bits)
    })
}

fn parse_part(part: &str, spec: &FieldSpec) -> Result<u64, ParseError> {
    let bad = |reason: String| ParseError::CronField {
        field: spec.name,
        token: part.to_owned(),
        reason,
    };
    let (range, step) = match part.split_once('/') {
        Some((r, s)) => {
            let step: u32 = s
                .parse()
                .map_err(|_| bad(format!("step {s:?} is not a number")))?;
            if step == 0 {
                return Err(bad("step must be at least 1".into()));
            }
            (r, step)
        }
        None => (part, 1),
    };
    let (lo, hi) = match range {
        "*" => (spec.min, spec.max),
        _ => match range.split_once('-') {
            Some((a, b)) => (
                parse_value(a, spec).map_err(bad)?,
                parse_value(b, spec).map_err(bad)?,
            ),
            None => {
                let v = parse_value(range, spec).map_err(bad)?;
                // `5/15` means "from 5, every 15", as in Vixie cron.
                (v, if part.contains('/') { spec.max } else { v })
            }
        },
    };
    if lo > hi {
        return Err(bad(format!("range {lo}-{hi} is backwards")));
    }
    Ok((lo..=hi)
        .step_by(step as usize)
        .fold(0u64, |set, v| set | (1 << v)))
}

fn parse_value(text: &str, spec: &FieldSpec) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    let value = match spec.names.iter().position(|n| *n == lower) {
        Some(i) => u32::try_from(i).unwrap_or(u32::MAX) + spec.min,
        None => text
            .parse()
            .map_err(|_| format!("{text:?} is not a number"))?,
    };
    if value < spec.min || value > spec.max {
        return Err(format!("{value} is outside {}-{}", spec.min, spec.max));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn durations_add_up() {
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 m").is_err());
        assert_eq!(parse_duration("0s"), Err(ParseError::ZeroDuration));
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
        assert_eq!(Cron::parse("0 0 * * 7").unwrap().days_of_week, 1);
    }

    #[test]
    fn step_from_single_value_runs_to_max() {
        let c = Cron::parse("5/20 * * * *").unwrap();
        assert_eq!(c.minutes, (1 << 5) | (1 << 25) | (1 << 45));
    }
}
