//! From spec layers to the model: gather the layers, resolve each cluster
//! ([`crate::defaults::resolve`]), check every value and every rule between
//! values, and build the [`Fleet`].
//!
//! Nothing here stops at the first problem. A value that fails a check is
//! recorded and replaced by an empty stand-in so the rest of the cluster is
//! still checked; the fleet is only returned when nothing was recorded.

use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::decode::{OriginId, Recorder};
use crate::defaults::resolve;
use crate::error::Problem;
use crate::formats::{self, Format};
use crate::model::*;
use crate::spec::*;

/// One decoded spec file.
pub(crate) struct SpecFile {
    pub file: Rc<str>,
    pub spec: FileSpec,
}

/// The shared layers of the whole fleet, gathered from every file.
#[derive(Default)]
struct Layers<'a> {
    defaults: Option<(&'a Settings, OriginId)>,
    aks: Option<(&'a Settings, OriginId)>,
    aks_hybrid: Option<(&'a Settings, OriginId)>,
    environments: BTreeMap<&'a str, (Option<&'a Settings>, Option<OriginId>)>,
    /// Whether any file has an `environments:` section; only then must
    /// every cluster's environment be declared.
    environments_declared: bool,
}

/// Checks every file's clusters against the merged layers and builds the
/// fleet. The caller decides from `recorder` whether it may be used.
pub(crate) fn build_fleet(files: &[SpecFile], recorder: &Recorder) -> Fleet {
    let layers = gather_layers(files, recorder);
    let mut clusters = Vec::new();
    let mut first_seen: HashMap<String, OriginId> = HashMap::new();
    let mut git_paths: HashMap<(String, String, String), String> = HashMap::new();
    for file in files {
        let Some(list) = file.spec.clusters.get() else {
            continue;
        };
        for (index, entry) in list.iter().enumerate() {
            let Val::Set(spec, origin) = entry else {
                continue;
            };
            let check = Check::new(recorder, *origin, index, &file.file);
            let duplicate = spec.name.get().is_some_and(|n| first_seen.contains_key(n));
            if let Some(cluster) = check_cluster(&check, spec, &layers, &mut first_seen) {
                if !duplicate {
                    check_git_path_unique(&check, spec, &cluster, &mut git_paths);
                }
                clusters.push(cluster);
            }
        }
    }
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    Fleet { clusters }
}

fn gather_layers<'a>(files: &'a [SpecFile], recorder: &Recorder) -> Layers<'a> {
    let mut layers = Layers::default();
    for file in files {
        let spec = &file.spec;
        keep_once(&mut layers.defaults, &spec.defaults, recorder, "defaults");
        if let Some(kinds) = spec.kinds.get() {
            keep_once(&mut layers.aks, &kinds.aks, recorder, "kinds.aks");
            keep_once(
                &mut layers.aks_hybrid,
                &kinds.aks_hybrid,
                recorder,
                "kinds.aks-hybrid",
            );
        }
        if spec.environments.is_written() {
            layers.environments_declared = true;
        }
        for (name, settings) in spec.environments.get().into_iter().flatten() {
            let origin = match settings {
                Val::Set(_, o) => Some(*o),
                _ => None,
            };
            if let Some(o) = origin
                && !formats::is_dns_label(name)
            {
                recorder.report_at(
                    o,
                    Problem::Invalid {
                        value: name.clone(),
                        what: formats::DNS_LABEL.what,
                    },
                    None,
                );
            }
            match layers.environments.get(name.as_str()) {
                Some((_, Some(first))) if origin.is_some() => recorder.report_at(
                    origin.unwrap_or(OriginId::BUILTIN),
                    Problem::DuplicateSection {
                        section: format!("environments.{name}"),
                        first: recorder.place(*first),
                    },
                    None,
                ),
                _ => {
                    layers.environments.insert(name, (settings.get(), origin));
                }
            }
        }
    }
    layers
}

/// Keeps the first definition of a once-per-fleet section, reporting others.
fn keep_once<'a>(
    slot: &mut Option<(&'a Settings, OriginId)>,
    val: &'a Val<Settings>,
    recorder: &Recorder,
    section: &str,
) {
    let Val::Set(settings, origin) = val else {
        return;
    };
    match slot {
        Some((_, first)) => recorder.report_at(
            *origin,
            Problem::DuplicateSection {
                section: section.to_owned(),
                first: recorder.place(*first),
            },
            None,
        ),
        None => *slot = Some((settings, *origin)),
    }
}

/// Checks a cluster's identity, resolves its layers and converts it.
fn check_cluster(
    check: &Check<'_>,
    spec: &ClusterSpec,
    layers: &Layers<'_>,
    first_seen: &mut HashMap<String, OriginId>,
) -> Option<Cluster> {
    let name = check.text(&spec.name, "name", &formats::DNS_LABEL, true);
    if let (Some(name), Val::Set(_, origin)) = (&name, &spec.name) {
        if let Some(first) = first_seen.get(name) {
            check.recorder.report_at(
                *origin,
                Problem::DuplicateCluster {
                    name: name.clone(),
                    first: check.recorder.place(*first),
                },
                None,
            );
        } else {
            first_seen.insert(name.clone(), *origin);
        }
    }
    let kind = check.required(&spec.kind, "kind").map(|(k, _)| *k);
    let environment = check_environment(check, spec, layers);
    let location = check_location(check, spec, kind);
    // A malformed name is reported above; keep checking the rest under it.
    let name = name
        .or_else(|| spec.name.get().cloned())
        .unwrap_or_default();
    let kind = kind?;
    let check = Check {
        cluster: name.clone(),
        ..check.clone()
    };
    let kind_layer = match kind {
        KindSpec::Aks => layers.aks,
        KindSpec::AksHybrid => layers.aks_hybrid,
    };
    let env_layer = environment
        .as_deref()
        .and_then(|e| layers.environments.get(e))
        .and_then(|(s, _)| *s);
    let own = spec.settings();
    let mut chain: Vec<&Settings> = Vec::with_capacity(4);
    chain.extend(layers.defaults.map(|(s, _)| s));
    chain.extend(kind_layer.map(|(s, _)| s));
    chain.extend(env_layer);
    chain.push(&own);
    let settings = resolve(kind, &name, &chain);
    let model_kind = match kind {
        KindSpec::Aks => ClusterKind::Aks,
        KindSpec::AksHybrid => ClusterKind::AksHybrid,
    };
    let namespaces = check
        .within(&settings.namespaces)
        .namespaces(&settings.namespaces);
    let declared = settings.namespaces.get().map(|_| namespaces.as_slice());
    let images = check.within(&settings.images).images(&settings.images);
    let ingress = check.within(&settings.ingress);
    let secrets = check.within(&settings.secrets);
    let policies = check.within(&settings.policies);
    Some(Cluster {
        ingress: ingress.ingress(model_kind, &settings.ingress, declared),
        secrets: secrets.secrets(model_kind, &settings.secrets),
        kured: check.within(&settings.kured).kured(&settings.kured),
        policies: policies.policies(&settings.policies, &images.registry),
        source: check.within(&settings.git).git(&settings.git),
        name,
        kind: model_kind,
        environment: environment.unwrap_or_default(),
        location: location.unwrap_or_default(),
        namespaces,
        images,
    })
}

fn check_environment(check: &Check<'_>, spec: &ClusterSpec, layers: &Layers<'_>) -> Option<String> {
    let env = check.text(&spec.environment, "environment", &formats::DNS_LABEL, true)?;
    if layers.environments_declared
        && !layers.environments.contains_key(env.as_str())
        && let Val::Set(_, origin) = &spec.environment
    {
        let declared: Vec<&str> = layers.environments.keys().copied().collect();
        check.recorder.report_at(
            *origin,
            Problem::UnknownEnvironment {
                name: env.clone(),
                declared: declared.join(", "),
            },
            None,
        );
    }
    Some(env)
}

/// An Azure region for aks, an Azure Local site for aks-hybrid.
fn check_location(check: &Check<'_>, spec: &ClusterSpec, kind: Option<KindSpec>) -> Option<String> {
    match kind? {
        KindSpec::Aks => {
            check.forbid(
                &spec.site,
                "site",
                Problem::HybridOnly("site (set region to the Azure region)"),
            );
            check.text(&spec.region, "region", &formats::REGION, true)
        }
        KindSpec::AksHybrid => {
            check.forbid(
                &spec.region,
                "region",
                Problem::AzureOnly("region (set site to the Azure Local site name)"),
            );
            check.text(&spec.site, "site", &formats::DNS_LABEL, true)
        }
    }
}

/// Two clusters syncing one folder of one branch would overwrite each other.
fn check_git_path_unique(
    check: &Check<'_>,
    spec: &ClusterSpec,
    cluster: &Cluster,
    seen: &mut HashMap<(String, String, String), String>,
) {
    let s = &cluster.source;
    let key = (s.url.clone(), s.branch.clone(), s.path.clone());
    match seen.get(&key) {
        Some(other) => {
            let origin = spec
                .git
                .get()
                .and_then(|g| match &g.path {
                    Val::Set(_, o) => Some(*o),
                    _ => None,
                })
                .unwrap_or(OriginId::BUILTIN);
            check.report(
                origin,
                "git.path",
                Problem::Rule(format!(
                    "cluster {other} already syncs this path of the same repository and branch"
                )),
            );
        }
        None => {
            seen.insert(key, cluster.name.clone());
        }
    }
}

/// Fields only a cluster's own entry can set.
const IDENTITY: [&str; 5] = ["name", "kind", "environment", "region", "site"];

/// Checks the values of one cluster, reporting each where it was written.
#[derive(Clone)]
struct Check<'r> {
    recorder: &'r Recorder,
    /// The cluster's entry under `clusters:`.
    origin: OriginId,
    /// Path of that entry, e.g. `clusters[2]`.
    prefix: String,
    file: Rc<str>,
    /// Cluster name once known; empty before.
    cluster: String,
    /// Set while converting a section that was itself of the wrong type:
    /// that is already reported, and its fields' absence is no news.
    silent: bool,
}

impl<'r> Check<'r> {
    fn new(recorder: &'r Recorder, origin: OriginId, index: usize, file: &Rc<str>) -> Self {
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
    fn within<T>(&self, val: &Val<T>) -> Check<'r> {
        Check {
            silent: self.silent || matches!(val, Val::Invalid),
            ..self.clone()
        }
    }

    /// Reports at the value's origin; a built-in value is reported at the
    /// cluster, and a value from a shared layer names the cluster.
    fn report(&self, origin: OriginId, field: &str, problem: Problem) {
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

    fn missing(&self, field: &str) {
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
    fn required<'v, T>(&self, val: &'v Val<T>, field: &str) -> Option<(&'v T, OriginId)> {
        match val {
            Val::Set(v, o) => Some((v, *o)),
            Val::Absent => {
                self.missing(field);
                None
            }
            Val::Invalid => None,
        }
    }

    /// Reports a value that must not be written for this kind of cluster.
    fn forbid<T>(&self, val: &Val<T>, field: &str, problem: Problem) {
        if let Val::Set(_, origin) = val {
            self.report(*origin, field, problem);
        }
    }

    /// A string of the given form, if it is set and well-formed.
    fn text(
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

    fn flag(&self, val: &Val<bool>, default: bool) -> bool {
        val.get().copied().unwrap_or(default)
    }

    /// A list of strings of one form; `required` also rejects an empty list.
    fn texts(
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
    fn map(
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

    fn git(&self, val: &Val<GitSpec>) -> GitSource {
        let g = val.get().cloned().unwrap_or_default();
        GitSource {
            url: self
                .text(&g.url, "git.url", &formats::GIT_URL, true)
                .unwrap_or_default(),
            branch: self
                .text(&g.branch, "git.branch", &formats::GIT_BRANCH, true)
                .unwrap_or_default(),
            path: self
                .text(&g.path, "git.path", &formats::REPO_PATH, true)
                .unwrap_or_default(),
            interval: self
                .text(&g.interval, "git.interval", &formats::DURATION, true)
                .unwrap_or_default(),
            kustomization_interval: self
                .text(
                    &g.kustomization_interval,
                    "git.kustomizationInterval",
                    &formats::DURATION,
                    true,
                )
                .unwrap_or_default(),
            secret_ref: self.text(&g.secret_ref, "git.secretRef", &formats::SECRET_NAME, false),
        }
    }

    fn namespaces(&self, val: &Val<Vec<NamespaceSpec>>) -> Vec<Namespace> {
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
        let limit_range = ns.limit_range.get().map(|lr| LimitRange {
            default_limits: self.quantities(&lr.default, &format!("{field}.limitRange.default")),
            default_requests: self.quantities(
                &lr.default_request,
                &format!("{field}.limitRange.defaultRequest"),
            ),
            max: self.quantities(&lr.max, &format!("{field}.limitRange.max")),
        });
        Namespace {
            name,
            pod_security: match ns.pod_security.get() {
                Some(PodSecuritySpec::Privileged) => PodSecurityLevel::Privileged,
                Some(PodSecuritySpec::Baseline) => PodSecurityLevel::Baseline,
                Some(PodSecuritySpec::Restricted) | None => PodSecurityLevel::Restricted,
            },
            quota: self.quantities(&ns.quota, &format!("{field}.quota")),
            limit_range,
            receives_ingress: self.flag(&ns.receives_ingress, false),
        }
    }

    fn quantities(&self, val: &Val<ValMap>, field: &str) -> BTreeMap<String, String> {
        self.map(val, field, &formats::RESOURCE_NAME, &formats::QUANTITY)
    }

    fn ingress(
        &self,
        kind: ClusterKind,
        val: &Val<IngressSpec>,
        namespaces: Option<&[Namespace]>,
    ) -> Ingress {
        let i = val.get().cloned().unwrap_or_default();
        let on = self.flag(&i.enabled, true);
        let namespace = self.text(&i.namespace, "ingress.namespace", &formats::DNS_LABEL, on);
        if on
            && let (Some(ns), Val::Set(_, origin)) = (&namespace, &i.namespace)
            && let Some(namespaces) = namespaces
            && !namespaces.iter().any(|n| &n.name == ns)
        {
            self.report(
                *origin,
                "ingress.namespace",
                Problem::UndeclaredIngressNamespace(ns.clone()),
            );
        }
        let replicas = self
            .required(&i.replicas, "ingress.replicas")
            .map_or(0, |(r, o)| {
                if *r == 0 {
                    self.report(
                        o,
                        "ingress.replicas",
                        Problem::Rule("must be at least 1".into()),
                    );
                }
                *r
            });
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
            tls: Tls {
                min_version: match i.tls.get().and_then(|t| t.min_version.get()) {
                    Some(TlsVersionSpec::VersionTLS13) => "VersionTLS13",
                    _ => "VersionTLS12",
                }
                .to_owned(),
                sni_strict: self.flag(&i.tls.get().cloned().unwrap_or_default().sni_strict, true),
            },
            domain: self
                .text(&i.domain, "ingress.domain", &formats::DOMAIN, on)
                .unwrap_or_default(),
        }
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

    /// Workload identity on aks; on aks-hybrid, which has no Azure AD
    /// workload identity federation, a service principal Secret.
    fn secrets(&self, kind: ClusterKind, val: &Val<SecretsSpec>) -> Secrets {
        let s = val.get().cloned().unwrap_or_default();
        let on = self.flag(&s.enabled, true);
        let identity = match kind {
            ClusterKind::Aks => {
                self.forbid(
                    &s.service_principal_secret,
                    "secrets.servicePrincipalSecret",
                    Problem::HybridOnly("service principal secret (use workloadIdentityClientId)"),
                );
                KeyVaultIdentity::WorkloadIdentity {
                    client_id: self
                        .text(
                            &s.workload_identity_client_id,
                            "secrets.workloadIdentityClientId",
                            &formats::UUID,
                            on,
                        )
                        .unwrap_or_default(),
                }
            }
            ClusterKind::AksHybrid => {
                self.forbid(
                    &s.workload_identity_client_id,
                    "secrets.workloadIdentityClientId",
                    Problem::AzureOnly("workload identity (use servicePrincipalSecret)"),
                );
                KeyVaultIdentity::ServicePrincipal {
                    secret_name: self
                        .text(
                            &s.service_principal_secret,
                            "secrets.servicePrincipalSecret",
                            &formats::SECRET_NAME,
                            on,
                        )
                        .unwrap_or_default(),
                }
            }
        };
        Secrets {
            enabled: on,
            keyvault_name: self
                .text(
                    &s.keyvault_name,
                    "secrets.keyvaultName",
                    &formats::KEYVAULT_NAME,
                    on,
                )
                .unwrap_or_default(),
            tenant_id: self
                .text(&s.tenant_id, "secrets.tenantId", &formats::UUID, on)
                .unwrap_or_default(),
            identity,
            certificates: self.certificates(&s.certificates, on),
            synced_secret: self.text(
                &s.synced_secret,
                "secrets.syncedSecret",
                &formats::SECRET_NAME,
                false,
            ),
        }
    }

    fn certificates(&self, val: &Val<Vec<CertificateSpec>>, on: bool) -> Vec<Certificate> {
        let field = "secrets.certificates";
        if on
            && let Val::Set(list, origin) = val
            && list.is_empty()
        {
            self.report(
                *origin,
                field,
                Problem::Rule("at least one certificate is needed for Traefik's TLS".into()),
            );
        }
        let mut aliases: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, c) in val.get().into_iter().flatten().enumerate() {
            let object_name = self.text(
                &c.object_name,
                &format!("{field}[{i}].objectName"),
                &formats::KEYVAULT_OBJECT,
                true,
            );
            let alias_field = format!("{field}[{i}].alias");
            let alias = match &c.alias {
                Val::Absent => Some("tls.crt".to_owned()),
                other => self.text(other, &alias_field, &formats::FILE_NAME, false),
            };
            let (Some(object_name), Some(alias)) = (object_name, alias) else {
                continue;
            };
            if let Some(first) = aliases.insert(alias.clone(), i) {
                let origin = match &c.alias {
                    Val::Set(_, o) => *o,
                    _ => OriginId::BUILTIN,
                };
                self.report(origin, &alias_field, Problem::Rule(format!(
                    "alias {alias} is already used by {field}[{first}]; each certificate needs its own file name"
                )));
            }
            out.push(Certificate { object_name, alias });
        }
        out
    }

    fn kured(&self, val: &Val<KuredSpec>) -> Kured {
        let k = val.get().cloned().unwrap_or_default();
        let text = |v: &Val<String>, field: &str, format: &Format| {
            self.text(v, field, format, true).unwrap_or_default()
        };
        let concurrency = self
            .required(&k.concurrency, "kured.concurrency")
            .map_or(0, |(c, o)| {
                if *c == 0 {
                    self.report(
                        o,
                        "kured.concurrency",
                        Problem::Rule("must be at least 1".into()),
                    );
                }
                *c
            });
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
            concurrency,
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

    fn policies(&self, val: &Val<PoliciesSpec>, registry: &str) -> Policies {
        let p = val.get().cloned().unwrap_or_default();
        let allowed = match &p.allowed_registries {
            Val::Absent => vec![registry.to_owned()],
            given => {
                let list = self
                    .texts(
                        given,
                        "policies.allowedRegistries",
                        &formats::REGISTRY_PREFIX,
                        true,
                    )
                    .unwrap_or_default();
                if let Val::Set(_, origin) = given
                    && !registry.is_empty()
                    && !list.iter().any(|r| r == registry)
                {
                    self.report(*origin, "policies.allowedRegistries", Problem::Rule(format!(
                        "must include the cluster's registry {registry}, or Traefik and Kured themselves are blocked"
                    )));
                }
                list
            }
        };
        let quantity = |v: &Val<String>, field: &str| {
            self.text(v, field, &formats::QUANTITY, true)
                .unwrap_or_default()
        };
        Policies {
            mode: match p.mode.get() {
                Some(PolicyModeSpec::Deny) => PolicyMode::Deny,
                _ => PolicyMode::Audit,
            },
            engine: match p.engine.get() {
                Some(PolicyEngineSpec::Gatekeeper) => PolicyEngine::Gatekeeper,
                _ => PolicyEngine::AzurePolicy,
            },
            allowed_registries: allowed,
            max_cpu: quantity(&p.max_cpu, "policies.maxCpu"),
            max_memory: quantity(&p.max_memory, "policies.maxMemory"),
            read_only_root_fs: self.flag(&p.read_only_root_filesystem, true),
            forbid_privileged: self.flag(&p.no_privileged, true),
            forbid_host_path: self.flag(&p.no_host_path, true),
            exempt_namespaces: self
                .texts(
                    &p.exempt_namespaces,
                    "policies.exemptNamespaces",
                    &formats::DNS_LABEL,
                    false,
                )
                .unwrap_or_default(),
        }
    }

    fn images(&self, val: &Val<ImagesSpec>) -> Images {
        let i = val.get().cloned().unwrap_or_default();
        Images {
            registry: self
                .text(&i.registry, "images.registry", &formats::REGISTRY, true)
                .unwrap_or_default(),
            traefik: self.within(&i.traefik).image(
                &i.traefik,
                "images.traefik",
                "v3.",
                "a Traefik v3 release (the generated configuration is v3 syntax)",
            ),
            kured: self.within(&i.kured).image(
                &i.kured,
                "images.kured",
                "1.",
                "a Kured 1.x release (the generated flags are 1.x flags)",
            ),
        }
    }

    /// One image; its tag must also be of the major release the generator
    /// writes configuration for.
    fn image(&self, val: &Val<ImageSpec>, field: &str, major: &str, release: &str) -> Image {
        let i = val.get().cloned().unwrap_or_default();
        let tag_field = format!("{field}.tag");
        let tag = self.text(&i.tag, &tag_field, &formats::TAG, true);
        if let (Some(tag), Val::Set(_, origin)) = (&tag, &i.tag)
            && !tag.starts_with(major)
        {
            self.report(
                *origin,
                &tag_field,
                Problem::Rule(format!("tag {tag:?} is not {release}")),
            );
        }
        Image {
            repository: self
                .text(
                    &i.repository,
                    &format!("{field}.repository"),
                    &formats::REPOSITORY,
                    true,
                )
                .unwrap_or_default(),
            tag: tag.unwrap_or_default(),
            digest: self.text(
                &i.digest,
                &format!("{field}.digest"),
                &formats::DIGEST,
                false,
            ),
        }
    }
}

/// Namespaces that exist on every cluster and belong to someone else.
fn is_system_namespace(name: &str) -> bool {
    matches!(
        name,
        "default" | "kube-system" | "kube-public" | "kube-node-lease" | "flux-system"
    ) || name.starts_with("kube-")
}
