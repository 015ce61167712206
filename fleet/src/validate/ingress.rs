//! `ingress`: Traefik, its load balancer and who may reach it.

use crate::error::Problem;
use crate::formats;
use crate::model::*;
use crate::ranges;
use crate::spec::*;

use super::check::Check;

impl Check<'_> {
    /// Namespace, domain and upstream CIDRs are required only when Traefik
    /// is deployed (`enabled`, the default).
    pub(super) fn ingress(
        &self,
        kind: ClusterKind,
        val: &Val<IngressSpec>,
        namespaces: Option<&[Namespace]>,
    ) -> Ingress {
        let i = val.get().cloned().unwrap_or_default();
        let on = self.flag(&i.enabled, true);
        let namespace = self.ingress_namespace(&i.namespace, on, namespaces);
        let replicas = self.whole(&i.replicas, "ingress.replicas", &ranges::REPLICAS);
        Ingress {
            enabled: on,
            namespace: namespace.unwrap_or_default(),
            replicas,
            node_selector: self.map(
                &i.node_selector,
                "ingress.nodeSelector",
                &formats::LABEL_KEY,
                &formats::LABEL_VALUE,
            ),
            load_balancer: self
                .within(&i.load_balancer)
                .load_balancer(kind, &i.load_balancer, on),
            upstream_cidrs: self
                .texts(
                    &i.upstream_cidrs,
                    "ingress.upstreamCidrs",
                    &formats::CIDR,
                    on,
                )
                .unwrap_or_default(),
            tls: tls(&i.tls),
            domain: self
                .text(&i.domain, "ingress.domain", &formats::DOMAIN, on)
                .unwrap_or_default(),
        }
    }

    /// Traefik runs in one of the cluster's namespaces, so that namespace's
    /// quota, LimitRange and network policies cover it. `declared` is `None`
    /// when the namespace list itself was invalid (already reported).
    fn ingress_namespace(
        &self,
        val: &Val<String>,
        on: bool,
        declared: Option<&[Namespace]>,
    ) -> Option<String> {
        let field = "ingress.namespace";
        let namespace = self.text(val, field, &formats::DNS_LABEL, on)?;
        if on
            && let (Val::Set(_, origin), Some(declared)) = (val, declared)
            && !declared.iter().any(|n| n.name == namespace)
        {
            let problem = Problem::UndeclaredIngressNamespace(namespace.clone());
            self.report(*origin, field, problem);
        }
        Some(namespace)
    }

    /// An Azure internal load balancer in a subnet (aks) or a MetalLB
    /// address (aks-hybrid, where no Azure annotation means anything).
    fn load_balancer(
        &self,
        kind: ClusterKind,
        val: &Val<LoadBalancerSpec>,
        on: bool,
    ) -> LoadBalancer {
        let lb = val.get().cloned().unwrap_or_default();
        let field = "ingress.loadBalancer";
        let ip = self
            .text(&lb.ip, &format!("{field}.ip"), &formats::IP, false)
            .and_then(|ip| ip.parse().ok());
        match kind {
            ClusterKind::Aks => {
                self.forbid(
                    &lb.pool,
                    &format!("{field}.pool"),
                    Problem::HybridOnly("MetalLB address pool"),
                );
                LoadBalancer::AzureInternal {
                    ip,
                    subnet: self
                        .text(&lb.subnet, &format!("{field}.subnet"), &formats::SUBNET, on)
                        .unwrap_or_default(),
                }
            }
            ClusterKind::AksHybrid => {
                self.forbid(
                    &lb.subnet,
                    &format!("{field}.subnet"),
                    Problem::AzureOnly("Azure load balancer subnet"),
                );
                LoadBalancer::Hybrid {
                    ip,
                    pool: self.text(
                        &lb.pool,
                        &format!("{field}.pool"),
                        &formats::OBJECT_NAME,
                        false,
                    ),
                }
            }
        }
    }
}

/// TLS 1.2 and strict SNI unless the spec says otherwise.
fn tls(val: &Val<TlsSpec>) -> Tls {
    let tls = val.get();
    Tls {
        min_version: match tls.and_then(|t| t.min_version.get()) {
            Some(TlsVersionSpec::VersionTLS13) => "VersionTLS13",
            _ => "VersionTLS12",
        }
        .to_owned(),
        sni_strict: tls
            .and_then(|t| t.sni_strict.get())
            .copied()
            .unwrap_or(true),
    }
}
