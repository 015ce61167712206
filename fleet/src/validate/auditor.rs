//! `auditor`: flotilla serve as a component of each cluster.

use crate::error::Problem;
use crate::formats::Format;
use crate::model::*;
use crate::ranges;
use crate::spec::*;

use super::check::Check;

/// The durations `flotilla serve` reads (`schedule.interval`): whole
/// numbers with ms, s, m, h or d, not zero. Narrower than the Go durations
/// Flux takes, so a value passing here is never rejected by the service.
const SERVE_DURATION: Format = Format {
    test: is_serve_duration,
    what: "a duration such as 15m or 1h30m (units ms, s, m, h, d; not zero)",
    secret: false,
};

/// The namespace the generator creates for the auditor: a declared
/// namespace of that name would be a second, conflicting Namespace object.
const AUDITOR_NAMESPACE: &str = "flotilla-system";

impl Check<'_> {
    pub(super) fn auditor(
        &self,
        val: &Val<AuditorSpec>,
        namespaces: &Val<Vec<NamespaceSpec>>,
    ) -> Auditor {
        let a = val.get().cloned().unwrap_or_default();
        let enabled = self.flag(&a.enabled, false);
        if enabled {
            self.reserve_auditor_namespace(namespaces);
        }
        Auditor {
            enabled,
            interval: self
                .duration(
                    &a.interval,
                    "auditor.interval",
                    &SERVE_DURATION,
                    ranges::serve_duration_nanos,
                    "flotilla serve takes each number up to 4294967295 and a whole of at most about 292 years",
                )
                .unwrap_or_default(),
            pr_enabled: self.flag(&a.pr_enabled, false),
        }
    }
}

impl Check<'_> {
    fn reserve_auditor_namespace(&self, namespaces: &Val<Vec<NamespaceSpec>>) {
        for (index, ns) in namespaces.get().into_iter().flatten().enumerate() {
            if let Val::Set(name, origin) = &ns.name
                && name == AUDITOR_NAMESPACE
            {
                let problem = Problem::Rule(format!(
                    "namespace {name} is generated for the flotilla auditor (auditor.enabled); choose another name"
                ));
                self.report(*origin, &format!("namespaces[{index}].name"), problem);
            }
        }
    }
}

fn is_serve_duration(s: &str) -> bool {
    let mut rest = s;
    let mut nonzero = false;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let Ok(n) = rest[..digits].parse::<u64>() else {
            return false;
        };
        rest = &rest[digits..];
        let Some(unit) = ["ms", "s", "m", "h", "d"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
        nonzero |= n > 0;
    }
    nonzero
}

#[cfg(test)]
mod tests {
    use super::is_serve_duration;

    #[test]
    fn serve_durations_are_whole_units_and_not_zero() {
        assert!(is_serve_duration("15m"));
        assert!(is_serve_duration("1h30m"));
        assert!(is_serve_duration("500ms"));
        assert!(!is_serve_duration(""));
        assert!(!is_serve_duration("0s"));
        assert!(!is_serve_duration("1.5m"));
        assert!(!is_serve_duration("10"));
        assert!(!is_serve_duration("5us"));
    }
}
