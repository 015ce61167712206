//! `namespaces`: the governed namespaces, their Pod Security level, quota
//! and LimitRange.

use std::collections::{BTreeMap, HashMap};

use flotilla_core::quantity::Quantity;

use crate::decode::OriginId;
use crate::error::Problem;
use crate::formats;
use crate::model::*;
use crate::ranges;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    pub(super) fn namespaces(&self, val: &Val<Vec<NamespaceSpec>>) -> Vec<Namespace> {
        let mut seen: HashMap<String, OriginId> = HashMap::new();
        let mut out = Vec::new();
        for (i, ns) in val.get().into_iter().flatten().enumerate() {
            let field = format!("namespaces[{i}]");
            let name = self.text(
                &ns.name,
                &format!("{field}.name"),
                &formats::DNS_LABEL,
                true,
            );
            let Some(name) = name else { continue };
            let origin = match &ns.name {
                Val::Set(_, o) => *o,
                _ => OriginId::BUILTIN,
            };
            if name == KURED_NAMESPACE {
                self.report(
                    origin,
                    &format!("{field}.name"),
                    Problem::Rule(format!(
                        "namespace {name} is generated for Kured (Pod Security privileged); choose another name"
                    )),
                );
            }
            if is_system_namespace(&name) {
                self.report(
                    origin,
                    &format!("{field}.name"),
                    Problem::Rule(format!(
                        "namespace {name} belongs to Kubernetes, AKS or Flux; declare only namespaces the platform team governs"
                    )),
                );
            }
            if let Some(first) = seen.get(&name) {
                self.report(
                    origin,
                    &format!("{field}.name"),
                    Problem::DuplicateNamespace {
                        name: name.clone(),
                        first: self.recorder.place(*first),
                    },
                );
                continue;
            }
            seen.insert(name.clone(), origin);
            out.push(self.namespace(ns, name, &field));
        }
        out
    }

    /// A namespace written without `podSecurity` is `restricted`; without
    /// `receivesIngress`, closed to ingress traffic.
    fn namespace(&self, ns: &NamespaceSpec, name: String, field: &str) -> Namespace {
        let limit_range = ns
            .limit_range
            .get()
            .map(|lr| self.limit_range(lr, &format!("{field}.limitRange")));
        Namespace {
            name,
            pod_security: match ns.pod_security.get() {
                Some(PodSecuritySpec::Privileged) => PodSecurityLevel::Privileged,
                Some(PodSecuritySpec::Baseline) => PodSecurityLevel::Baseline,
                Some(PodSecuritySpec::Restricted) | None => PodSecurityLevel::Restricted,
            },
            quota: self.quantities(
                &ns.quota,
                &format!("{field}.quota"),
                ranges::is_integer_resource,
            ),
            limit_range,
            receives_ingress: self.flag(&ns.receives_ingress, false),
        }
    }

    fn limit_range(&self, lr: &LimitRangeSpec, field: &str) -> LimitRange {
        let any = |_: &str| false;
        let range = LimitRange {
            default_limits: self.quantities(&lr.default, &format!("{field}.default"), any),
            default_requests: self.quantities(
                &lr.default_request,
                &format!("{field}.defaultRequest"),
                any,
            ),
            max: self.quantities(&lr.max, &format!("{field}.max"), any),
        };
        let (default, request, max) = (&range.default_limits, &range.default_requests, &range.max);
        self.at_most(
            &lr.default,
            default,
            max,
            &format!("{field}.default"),
            "max",
        );
        self.at_most(
            &lr.default_request,
            request,
            default,
            &format!("{field}.defaultRequest"),
            "default",
        );
        self.at_most(
            &lr.default_request,
            request,
            max,
            &format!("{field}.defaultRequest"),
            "max",
        );
        range
    }

    /// The API server rejects a LimitRange whose default exceeds its max (or
    /// whose defaultRequest exceeds either); catch it here rather than in a
    /// failing Flux Kustomization.
    fn at_most(
        &self,
        written: &Val<ValMap>,
        small: &BTreeMap<String, String>,
        large: &BTreeMap<String, String>,
        field: &str,
        large_name: &str,
    ) {
        for (resource, value) in small {
            let Some(limit) = large.get(resource) else {
                continue;
            };
            // Exactly, as the diff compares them (flotilla_core::quantity):
            // no floating point.
            let (Some(v), Some(l)) = (Quantity::parse(value), Quantity::parse(limit)) else {
                continue;
            };
            if v.cmp_amount(&l) == Some(std::cmp::Ordering::Greater) {
                let origin = match written.get().and_then(|m| m.get(resource)) {
                    Some(Val::Set(_, o)) => *o,
                    _ => OriginId::BUILTIN,
                };
                let problem =
                    Problem::Rule(format!("{value} is more than the {large_name} of {limit}"));
                self.report(origin, &format!("{field}.{resource}"), problem);
            }
        }
    }
}

/// The namespace the generator creates for Kured, whose pods need `hostPID`
/// and a privileged container: a declared namespace of that name would be a
/// second, conflicting Namespace object.
const KURED_NAMESPACE: &str = "kured";

/// Namespaces that exist on every cluster and belong to someone else.
fn is_system_namespace(name: &str) -> bool {
    matches!(
        name,
        "default" | "kube-system" | "kube-public" | "kube-node-lease" | "flux-system"
    ) || name.starts_with("kube-")
}
