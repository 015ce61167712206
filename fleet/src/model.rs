//! The validated fleet: what the generator renders from.
//!
//! Every value here is resolved (defaults and overrides applied) and checked,
//! so the generator never has to decide anything or fail. Collections that
//! end up in output are ordered (`Vec` in a defined order, `BTreeMap`) so the
//! same spec always renders byte-identical files.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// A whole fleet: every cluster, sorted by name.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// Clusters in name order.
    pub clusters: Vec<Cluster>,
}

impl Fleet {
    /// The cluster called `name`, if the fleet has one.
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }
}

/// Where a cluster runs: AKS in Azure, or AKS on Azure Local (on-premises).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClusterKind {
    /// Azure Kubernetes Service in an Azure region.
    Aks,
    /// AKS enabled by Azure Arc on Azure Local ("AKS hybrid"): no Azure load
    /// balancer, no Azure workload identity; MetalLB/HAProxy for services.
    AksHybrid,
}

impl ClusterKind {
    /// The spelling used in the spec and in generated files.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterKind::Aks => "aks",
            ClusterKind::AksHybrid => "aks-hybrid",
        }
    }
}

/// One cluster with every setting resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    /// DNS-1123 label, unique in the fleet.
    pub name: String,
    /// AKS or AKS on Azure Local.
    pub kind: ClusterKind,
    /// Environment name (e.g. `production`, `staging`); selects overrides.
    pub environment: String,
    /// Azure region (aks) or Azure Local site name (aks-hybrid).
    pub location: String,
    /// The Git source Flux syncs this cluster from.
    pub source: GitSource,
    /// Workload namespaces the platform team governs, in spec order.
    pub namespaces: Vec<Namespace>,
    /// Traefik ingress controller settings.
    pub ingress: Ingress,
    /// Azure Key Vault through the Secrets Store CSI driver.
    pub secrets: Secrets,
    /// Kured node reboot daemon.
    pub kured: Kured,
    /// Policy guardrails.
    pub policies: Policies,
    /// Container images, all pulled from the cluster's registry.
    pub images: Images,
    /// flotilla itself, auditing the cluster it runs in.
    pub auditor: Auditor,
}

/// The Git repository Flux reconciles from.
#[derive(Debug, Clone, PartialEq)]
pub struct GitSource {
    /// Clone URL (`ssh://…` or `https://…`).
    pub url: String,
    /// Branch to follow.
    pub branch: String,
    /// Path of this cluster's entry folder in the repository, e.g. `./clusters/aks-eus2-01`.
    pub path: String,
    /// Flux interval for the GitRepository, e.g. `1m`.
    pub interval: String,
    /// Flux interval for the Kustomizations, e.g. `10m`.
    pub kustomization_interval: String,
    /// Name of the Secret in `flux-system` with the Git credentials, if any.
    pub secret_ref: Option<String>,
}

/// Pod Security Admission level enforced on a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PodSecurityLevel {
    /// No restrictions (needed by node agents such as Kured).
    Privileged,
    /// Prevents known privilege escalations.
    Baseline,
    /// Hardened pod best practice.
    Restricted,
}

impl PodSecurityLevel {
    /// The label value (`privileged`, `baseline`, `restricted`).
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }
}

/// A governed workload namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    /// DNS-1123 label.
    pub name: String,
    /// Pod Security level enforced (also used for `warn` and `audit`).
    pub pod_security: PodSecurityLevel,
    /// ResourceQuota `spec.hard`, if any (keys as Kubernetes spells them,
    /// e.g. `requests.cpu`, values as quantities).
    pub quota: BTreeMap<String, String>,
    /// LimitRange for containers, if any.
    pub limit_range: Option<LimitRange>,
    /// Whether the ingress controller may send traffic into this namespace.
    pub receives_ingress: bool,
}

/// Container defaults and maxima for a namespace's LimitRange.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LimitRange {
    /// `default` (limits) per resource, e.g. `cpu: 500m`.
    pub default_limits: BTreeMap<String, String>,
    /// `defaultRequest` per resource.
    pub default_requests: BTreeMap<String, String>,
    /// `max` per resource.
    pub max: BTreeMap<String, String>,
}

/// How the ingress controller's Service gets its IP.
#[derive(Debug, Clone, PartialEq)]
pub enum LoadBalancer {
    /// Azure internal load balancer in a subnet of the spoke VNet.
    AzureInternal {
        /// Static private IP, if pinned.
        ip: Option<IpAddr>,
        /// Subnet name the load balancer front end lives in.
        subnet: String,
    },
    /// AKS on Azure Local: MetalLB (or the HAProxy load balancer), no Azure annotations.
    Hybrid {
        /// Static IP from the pool, if pinned.
        ip: Option<IpAddr>,
        /// MetalLB address pool name, if any.
        pool: Option<String>,
    },
}

/// TLS settings of the ingress controller.
#[derive(Debug, Clone, PartialEq)]
pub struct Tls {
    /// Minimum TLS version, Traefik spelling (`VersionTLS12`, `VersionTLS13`).
    pub min_version: String,
    /// Reject requests whose SNI matches no certificate.
    pub sni_strict: bool,
}

/// Traefik ingress controller settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Ingress {
    /// Whether Traefik is deployed on this cluster.
    pub enabled: bool,
    /// Namespace Traefik runs in (one of the governed namespaces).
    pub namespace: String,
    /// Number of replicas (at least 2 keeps the PDB from blocking drains).
    pub replicas: u32,
    /// Node selector (node pool) for the Traefik pods.
    pub node_selector: BTreeMap<String, String>,
    /// Load balancer of the Traefik Service.
    pub load_balancer: LoadBalancer,
    /// CIDRs allowed to reach Traefik and trusted for forwarded headers
    /// (the App Gateway subnet on aks, the upstream proxy on aks-hybrid).
    pub upstream_cidrs: Vec<String>,
    /// TLS options.
    pub tls: Tls,
    /// Domain the ingress serves, e.g. `aks-ingress.contoso.com`.
    pub domain: String,
}

/// How the Key Vault provider authenticates.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyVaultIdentity {
    /// Azure workload identity (aks): the managed identity's client ID.
    WorkloadIdentity {
        /// Client ID (UUID) of the user-assigned managed identity.
        client_id: String,
    },
    /// Service principal (aks-hybrid): a Kubernetes Secret holding `clientid`/`clientsecret`.
    ServicePrincipal {
        /// Name of the Secret in the ingress namespace.
        secret_name: String,
    },
}

/// One Key Vault certificate mounted by the SecretProviderClass.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    /// Key Vault object name.
    pub object_name: String,
    /// File name the certificate is mounted as (default `tls.crt`); the key
    /// is mounted beside it as `tls.key`.
    pub alias: String,
}

/// Azure Key Vault through the Secrets Store CSI driver.
#[derive(Debug, Clone, PartialEq)]
pub struct Secrets {
    /// Whether a SecretProviderClass is generated.
    pub enabled: bool,
    /// Key Vault name.
    pub keyvault_name: String,
    /// Azure AD tenant ID (UUID).
    pub tenant_id: String,
    /// How the provider authenticates.
    pub identity: KeyVaultIdentity,
    /// Certificates to mount.
    pub certificates: Vec<Certificate>,
    /// Name of a Kubernetes TLS Secret to sync the certificate into, if any.
    pub synced_secret: Option<String>,
}

/// Kured node reboot daemon settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Kured {
    /// Whether Kured is deployed.
    pub enabled: bool,
    /// Days reboots may happen on (`mon`…`sun`), in spec order.
    pub reboot_days: Vec<String>,
    /// Start of the reboot window, `HH:MM` (or with seconds).
    pub start_time: String,
    /// End of the reboot window.
    pub end_time: String,
    /// IANA time zone of the window, e.g. `UTC`, `Europe/Amsterdam`.
    pub time_zone: String,
    /// How often to check for the sentinel, e.g. `1h`.
    pub period: String,
    /// Sentinel file that signals a reboot is required.
    pub sentinel: String,
    /// Annotation on the DaemonSet used as the cluster-wide reboot lock.
    pub lock_annotation: String,
    /// How many nodes may reboot at once.
    pub concurrency: u32,
}

/// flotilla as a component of the cluster: `flotilla serve` auditing the
/// cluster it runs in against the cluster's own Git source. Its image is
/// [`Images::flotilla`].
#[derive(Debug, Clone, PartialEq)]
pub struct Auditor {
    /// Whether the auditor is deployed.
    pub enabled: bool,
    /// Time between timer-driven audits, e.g. `15m` (units ms, s, m, h, d).
    pub interval: String,
    /// Whether drift pull requests are opened (needs a GitHub credential).
    pub pr_enabled: bool,
}

/// What policy violations do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyMode {
    /// Report only.
    Audit,
    /// Reject.
    Deny,
}

/// Which engine enforces the guardrails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyEngine {
    /// Azure Policy for Kubernetes, assigned from Azure: flotilla emits the
    /// assignment parameters as JSON.
    AzurePolicy,
    /// OPA Gatekeeper in the cluster: flotilla emits ConstraintTemplates and constraints.
    Gatekeeper,
}

/// Policy guardrails.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    /// Audit or deny.
    pub mode: PolicyMode,
    /// Azure Policy or Gatekeeper.
    pub engine: PolicyEngine,
    /// Registries images may come from (the cluster's ACR first).
    pub allowed_registries: Vec<String>,
    /// Largest CPU limit a container may set.
    pub max_cpu: String,
    /// Largest memory limit a container may set.
    pub max_memory: String,
    /// Require a read-only root file system.
    pub read_only_root_fs: bool,
    /// Forbid privileged containers.
    pub forbid_privileged: bool,
    /// Forbid hostPath volumes.
    pub forbid_host_path: bool,
    /// Namespaces the policies do not apply to.
    pub exempt_namespaces: Vec<String>,
}

/// A container image pinned by tag and optionally by digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// Repository inside the registry, e.g. `traefik` or `kubereboot/kured`.
    pub repository: String,
    /// Tag, e.g. `v3.3.5`.
    pub tag: String,
    /// `sha256:…` digest, if pinned.
    pub digest: Option<String>,
}

impl Image {
    /// Full reference in `registry`: `registry/repository:tag[@digest]`.
    pub fn reference(&self, registry: &str) -> String {
        let mut s = format!("{registry}/{}:{}", self.repository, self.tag);
        if let Some(d) = &self.digest {
            s.push('@');
            s.push_str(d);
        }
        s
    }
}

/// Images of every component, pulled from the cluster's registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Images {
    /// Registry host, e.g. `acraksbaseline01.azurecr.io`.
    pub registry: String,
    /// Traefik.
    pub traefik: Image,
    /// Kured.
    pub kured: Image,
    /// flotilla, for the in-cluster auditor.
    pub flotilla: Image,
}
