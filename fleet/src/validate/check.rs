//! [`Check`]: checks one cluster's resolved values and reports each problem
//! where the value was written.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::decode::{OriginId, Recorder};
use crate::error::Problem;
use crate::formats::{self, Format};
use crate::ranges::{self, MAX_GO_DURATION, MAX_QUANTITY, QuantityRange, WholeRange};
use crate::spec::*;

/// Fields only a cluster's own entry can set.
const IDENTITY: [&str; 5] = ["name", "kind", "environment", "region", "site"];

/// Checks the values of one cluster, reporting each where it was written.
#[derive(Clone)]
pub(super) struct Check<'r> {
    pub(super) recorder: &'r Recorder,
    /// The cluster's entry under `clusters:`.
    pub(super) origin: OriginId,
    /// Path of that entry, e.g. `clusters[2]`.
    pub(super) prefix: String,
    pub(super) file: Rc<str>,
    /// Cluster name once known; empty before.
    pub(super) cluster: String,
    /// Set while converting a section that was itself of the wrong type:
    /// that is already reported, and its fields' absence is no news.
    pub(super) silent: bool,
}

impl<'r> Check<'r> {
    pub(super) fn new(
        recorder: &'r Recorder,
        origin: OriginId,
        index: usize,
        file: &Rc<str>,
    ) -> Self {
        Check {
            recorder,
            origin,
            prefix: format!("clusters[{index}]"),
            file: file.clone(),
            cluster: String::new(),
            silent: false,
        }
    }

    /// A checker for `val`'s fields: silent when `val` itself is invalid.
    pub(super) fn within<T>(&self, val: &Val<T>) -> Check<'r> {
        Check {
            silent: self.silent || matches!(val, Val::Invalid),
            ..self.clone()
        }
    }

    /// Reports at the value's origin; a built-in value is reported at the
    /// cluster, and a value from a shared layer names the cluster.
    pub(super) fn report(&self, origin: OriginId, field: &str, problem: Problem) {
        if self.silent {
            return;
        }
        if origin == OriginId::BUILTIN {
            let at = self.recorder.origin(self.origin);
            self.recorder.record(
                &at.file,
                at.pos,
                format!("{}.{field}", self.prefix),
                problem,
            );
            return;
        }
        let at = self.recorder.origin(origin);
        let own = *at.file == *self.file
            && at.path.strip_prefix(&self.prefix).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
            });
        let cluster = (!own && !self.cluster.is_empty()).then_some(self.cluster.as_str());
        self.recorder.report_at(origin, problem, cluster);
    }

    pub(super) fn missing(&self, field: &str) {
        if self.silent {
            return;
        }
        let at = self.recorder.origin(self.origin);
        let problem = if IDENTITY.contains(&field) {
            Problem::MissingOnCluster
        } else {
            Problem::Missing
        };
        self.recorder.record(
            &at.file,
            at.pos,
            format!("{}.{field}", self.prefix),
            problem,
        );
    }

    /// The value if set; reports it missing when absent.
    pub(super) fn required<'v, T>(
        &self,
        val: &'v Val<T>,
        field: &str,
    ) -> Option<(&'v T, OriginId)> {
        match val {
            Val::Set(v, o) => Some((v, *o)),
            Val::Absent => {
                self.missing(field);
                None
            }
            Val::Invalid => None,
        }
    }

    /// A required whole number within `range` (see [`crate::ranges`]);
    /// 0 when it is missing or out of range (already reported).
    pub(super) fn whole(&self, val: &Val<Integer>, field: &str, range: &WholeRange) -> u32 {
        let Some((n, origin)) = self.required(val, field) else {
            return 0;
        };
        match range.check(n.text()).and_then(|n| u32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                let problem = Problem::OutOfRange {
                    value: n.text().to_owned(),
                    expected: range.expected(),
                };
                self.report(origin, field, problem);
                0
            }
        }
    }

    /// A required duration of the given form whose length (`nanos`, `None`
    /// when it overflows what the reader accepts) must be more than zero;
    /// `why` explains the range, for the message.
    pub(super) fn duration(
        &self,
        val: &Val<String>,
        field: &str,
        format: &Format,
        nanos: fn(&str) -> Option<u64>,
        why: &str,
    ) -> Option<String> {
        let text = self.text(val, field, format, true)?;
        if nanos(&text).is_some_and(|n| n > 0) {
            return Some(text);
        }
        if let Val::Set(_, origin) = val {
            let problem = Problem::OutOfRange {
                value: text,
                expected: format!("must be more than 0 and at most {MAX_GO_DURATION} ({why})"),
            };
            self.report(*origin, field, problem);
        }
        None
    }

    /// A map of resource names to quantities, each within what Kubernetes
    /// accepts: not negative, at most 2^63-1, and whole where Kubernetes
    /// counts in units (`whole_for` says which names those are).
    pub(super) fn quantities(
        &self,
        val: &Val<ValMap>,
        field: &str,
        whole_for: fn(&str) -> bool,
    ) -> BTreeMap<String, String> {
        let mut out = self.map(val, field, &formats::RESOURCE_NAME, &formats::QUANTITY);
        out.retain(|resource, value| {
            let origin = match val.get().and_then(|m| m.get(resource)) {
                Some(Val::Set(_, o)) => *o,
                _ => OriginId::BUILTIN,
            };
            let field = format!("{field}[{resource:?}]");
            let whole = whole_for(resource);
            self.quantity_in_range(value, origin, &field, whole, false)
        });
        out
    }

    /// Whether the well-formed quantity `value` is in range, reporting it
    /// at `origin` when not. `positive` also rejects zero.
    pub(super) fn quantity_in_range(
        &self,
        value: &str,
        origin: OriginId,
        field: &str,
        whole: bool,
        positive: bool,
    ) -> bool {
        // k8s.io/kubernetes pkg/apis/core/validation/validation.go
        // `ValidateResourceQuantityValue`: not negative, and whole for
        // integer resources; quantity.go caps magnitudes at 2^63-1.
        let expected = match ranges::quantity_range(value) {
            Some(QuantityRange::Negative) => {
                "must not be negative (Kubernetes rejects negative resource values)".to_owned()
            }
            Some(QuantityRange::TooLarge) => {
                format!("must be at most {MAX_QUANTITY} (2^63-1, the largest Kubernetes quantity)")
            }
            Some(QuantityRange::InRange { zero: true, .. }) if positive => {
                "must be more than 0 (a maximum of 0 denies every container)".to_owned()
            }
            Some(QuantityRange::InRange { whole: false, .. }) if whole => {
                "must be a whole number (Kubernetes counts this resource in units)".to_owned()
            }
            _ => return true,
        };
        let problem = Problem::OutOfRange {
            value: value.to_owned(),
            expected,
        };
        self.report(origin, field, problem);
        false
    }

    /// Reports a value that must not be written for this kind of cluster.
    pub(super) fn forbid<T>(&self, val: &Val<T>, field: &str, problem: Problem) {
        if let Val::Set(_, origin) = val {
            self.report(*origin, field, problem);
        }
    }

    /// A string of the given form, if it is set and well-formed.
    pub(super) fn text(
        &self,
        val: &Val<String>,
        field: &str,
        format: &Format,
        required: bool,
    ) -> Option<String> {
        let (value, origin) = match val {
            Val::Set(v, o) => (v, *o),
            Val::Absent if required => {
                self.missing(field);
                return None;
            }
            _ => return None,
        };
        if (format.test)(value) {
            return Some(value.clone());
        }
        let problem = if format.secret {
            Problem::InvalidHidden { what: format.what }
        } else {
            Problem::Invalid {
                value: value.clone(),
                what: format.what,
            }
        };
        self.report(origin, field, problem);
        None
    }

    pub(super) fn flag(&self, val: &Val<bool>, default: bool) -> bool {
        val.get().copied().unwrap_or(default)
    }

    /// A list of strings of one form; `required` also rejects an empty list.
    pub(super) fn texts(
        &self,
        val: &Val<Vec<Val<String>>>,
        field: &str,
        format: &Format,
        required: bool,
    ) -> Option<Vec<String>> {
        let (items, origin) = match val {
            Val::Set(v, o) => (v, *o),
            Val::Absent if required => {
                self.missing(field);
                return None;
            }
            _ => return None,
        };
        if required && items.is_empty() {
            self.report(origin, field, Problem::Rule("must not be empty".into()));
        }
        let out = items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| self.text(item, &format!("{field}[{i}]"), format, false))
            .collect();
        Some(out)
    }

    /// A map whose keys and values have given forms.
    pub(super) fn map(
        &self,
        val: &Val<ValMap>,
        field: &str,
        keys: &Format,
        values: &Format,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (key, value) in val.get().into_iter().flatten() {
            let Val::Set(text, origin) = value else {
                continue;
            };
            let entry_field = format!("{field}[{key:?}]");
            if !(keys.test)(key) {
                self.report(
                    *origin,
                    &entry_field,
                    Problem::Invalid {
                        value: key.clone(),
                        what: keys.what,
                    },
                );
                continue;
            }
            if let Some(v) = self.text(
                &Val::Set(text.clone(), *origin),
                &entry_field,
                values,
                false,
            ) {
                out.insert(key.clone(), v);
            }
        }
        out
    }
}
