//! `kured`: the node reboot window.

use crate::error::Problem;
use crate::formats::{self, Format};
use crate::model::*;
use crate::ranges;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    pub(super) fn kured(&self, val: &Val<KuredSpec>) -> Kured {
        let k = val.get().cloned().unwrap_or_default();
        let text = |v: &Val<String>, field: &str, format: &Format| {
            self.text(v, field, format, true).unwrap_or_default()
        };
        let start_time = text(&k.start_time, "kured.startTime", &formats::CLOCK);
        let end_time = text(&k.end_time, "kured.endTime", &formats::CLOCK);
        self.non_empty_window(&start_time, &end_time, &k.end_time);
        Kured {
            enabled: self.flag(&k.enabled, true),
            reboot_days: self.reboot_days(&k.reboot_days),
            start_time,
            end_time,
            time_zone: text(&k.time_zone, "kured.timeZone", &formats::TIME_ZONE),
            // kubereboot/kured pkg/delaytick: `time.Tick(period)` returns nil
            // for a period of 0, and Kured never checks again.
            period: self
                .duration(
                    &k.period,
                    "kured.period",
                    &formats::GO_DURATION,
                    ranges::go_duration_nanos,
                    "Kured reads --period as a Go duration, at most about 292 years; at 0 it stops checking",
                )
                .unwrap_or_default(),
            sentinel: text(&k.sentinel, "kured.sentinel", &formats::ABSOLUTE_PATH),
            lock_annotation: text(
                &k.lock_annotation,
                "kured.lockAnnotation",
                &formats::LABEL_KEY,
            ),
            concurrency: self.whole(
                &k.concurrency,
                "kured.concurrency",
                &ranges::KURED_CONCURRENCY,
            ),
        }
    }

    /// Kured reboots only while the time is within [start, end]
    /// (kubereboot/kured pkg/timewindow/timewindow.go `Contains`, which wraps
    /// past midnight when end is earlier): equal times leave a window of
    /// one second, and the nodes are never rebooted.
    fn non_empty_window(&self, start: &str, end: &str, end_val: &Val<String>) {
        let (Some(s), Some(e)) = (ranges::clock_seconds(start), ranges::clock_seconds(end)) else {
            return;
        };
        if s == e {
            let origin = match end_val {
                Val::Set(_, o) => *o,
                _ => crate::decode::OriginId::BUILTIN,
            };
            self.report(
                origin,
                "kured.endTime",
                Problem::Rule(format!(
                    "the reboot window from {start} to {end} is empty: Kured would never reboot a node"
                )),
            );
        }
    }

    fn reboot_days(&self, val: &Val<Vec<Val<WeekdaySpec>>>) -> Vec<String> {
        let field = "kured.rebootDays";
        let Some((days, origin)) = self.required(val, field) else {
            return Vec::new();
        };
        if days.is_empty() {
            self.report(
                origin,
                field,
                Problem::Rule("must name at least one day, or Kured never reboots".into()),
            );
        }
        let mut out: Vec<String> = Vec::new();
        for day in days {
            let Val::Set(day, o) = day else { continue };
            if out.iter().any(|d| d == day.as_str()) {
                self.report(
                    *o,
                    field,
                    Problem::Rule(format!("{} is listed twice", day.as_str())),
                );
                continue;
            }
            out.push(day.as_str().to_owned());
        }
        out
    }
}
