//! `auditor`: flotilla serve as a component of each cluster.

use crate::error::Problem;
use crate::formats::Format;
use crate::model::*;
use crate::ranges;
use crate::spec::*;

use super::check::Check;

/// The durations `flotilla serve` reads (`schedule.interval`): Go's grammar
/// plus `d`, not zero, read by the parser the service uses
/// (`flotilla_core::duration`), so a value passing here is never rejected
/// by the service.
const SERVE_DURATION: Format = Format {
    test: is_serve_duration,
    what: "a duration such as 15m or 1h30m (units ns, us, ms, s, m, h, d; not zero)",
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
                    "the largest Go duration, about 292 years",
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
    use flotilla_core::duration::{DurationError, nanos};
    match nanos(s) {
        Ok(n) => n > 0,
        // Well-formed but too long: the range check says so.
        Err(DurationError::Overflow) => true,
        Err(DurationError::Malformed) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_serve_duration;

    #[test]
    fn serve_durations_are_go_durations_with_days_and_not_zero() {
        assert!(is_serve_duration("15m"));
        assert!(is_serve_duration("1h30m"));
        assert!(is_serve_duration("500ms"));
        assert!(!is_serve_duration(""));
        assert!(!is_serve_duration("0s"));
        assert!(!is_serve_duration("10"));
        assert!(!is_serve_duration("15 m"));
        // One grammar with the service: Go's, plus `d`.
        assert!(is_serve_duration("1.5m"));
        assert!(is_serve_duration("1d"));
        assert!(is_serve_duration("5000000000ms"));
    }
}
