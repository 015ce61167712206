//! `policies`: the guardrails and their engine.

use crate::error::Problem;
use crate::formats;
use crate::model::*;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    /// Either engine is accepted on both kinds: Azure Policy runs on
    /// Arc-enabled clusters, which AKS on Azure Local clusters are.
    pub(super) fn policies(&self, val: &Val<PoliciesSpec>, registry: &str) -> Policies {
        let p = val.get().cloned().unwrap_or_default();
        // A maximum of 0 would deny every container that sets a limit, and
        // every one that does not as well.
        let quantity = |v: &Val<String>, field: &str| {
            let text = self.text(v, field, &formats::QUANTITY, true)?;
            let origin = match v {
                Val::Set(_, o) => *o,
                _ => crate::decode::OriginId::BUILTIN,
            };
            self.quantity_in_range(&text, origin, field, false, true)
                .then_some(text)
        };
        let exempt = "policies.exemptNamespaces";
        Policies {
            mode: match p.mode.get() {
                Some(PolicyModeSpec::Deny) => PolicyMode::Deny,
                _ => PolicyMode::Audit,
            },
            engine: match p.engine.get() {
                Some(PolicyEngineSpec::Gatekeeper) => PolicyEngine::Gatekeeper,
                _ => PolicyEngine::AzurePolicy,
            },
            allowed_registries: self.allowed_registries(&p.allowed_registries, registry),
            max_cpu: quantity(&p.max_cpu, "policies.maxCpu").unwrap_or_default(),
            max_memory: quantity(&p.max_memory, "policies.maxMemory").unwrap_or_default(),
            read_only_root_fs: self.flag(&p.read_only_root_filesystem, true),
            forbid_privileged: self.flag(&p.no_privileged, true),
            forbid_host_path: self.flag(&p.no_host_path, true),
            exempt_namespaces: self
                .texts(&p.exempt_namespaces, exempt, &formats::DNS_LABEL, false)
                .unwrap_or_default(),
        }
    }

    /// The cluster's registry unless a list is given; a given list must
    /// still allow it, since the platform's own images come from there.
    fn allowed_registries(&self, val: &Val<Vec<Val<String>>>, registry: &str) -> Vec<String> {
        let field = "policies.allowedRegistries";
        if !val.is_written() {
            return vec![registry.to_owned()];
        }
        let list = self
            .texts(val, field, &formats::REGISTRY_PREFIX, true)
            .unwrap_or_default();
        if let Val::Set(_, origin) = val
            && !registry.is_empty()
            && !list.iter().any(|r| r == registry)
        {
            self.report(*origin, field, Problem::Rule(format!(
                "must include the cluster's registry {registry}, or Traefik and Kured themselves are blocked"
            )));
        }
        list
    }
}
