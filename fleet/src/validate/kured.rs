//! `kured`: the node reboot window.

use crate::error::Problem;
use crate::formats::{self, Format};
use crate::model::*;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    pub(super) fn kured(&self, val: &Val<KuredSpec>) -> Kured {
        let k = val.get().cloned().unwrap_or_default();
        let text = |v: &Val<String>, field: &str, format: &Format| {
            self.text(v, field, format, true).unwrap_or_default()
        };
        Kured {
            enabled: self.flag(&k.enabled, true),
            reboot_days: self.reboot_days(&k.reboot_days),
            start_time: text(&k.start_time, "kured.startTime", &formats::CLOCK),
            end_time: text(&k.end_time, "kured.endTime", &formats::CLOCK),
            time_zone: text(&k.time_zone, "kured.timeZone", &formats::TIME_ZONE),
            period: text(&k.period, "kured.period", &formats::DURATION),
            sentinel: text(&k.sentinel, "kured.sentinel", &formats::ABSOLUTE_PATH),
            lock_annotation: text(
                &k.lock_annotation,
                "kured.lockAnnotation",
                &formats::LABEL_KEY,
            ),
            concurrency: self.count(&k.concurrency, "kured.concurrency"),
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
