//! flotilla itself as a component of each cluster: `flotilla serve` in
//! `flotilla-system`, auditing the cluster it runs in against the cluster's
//! own Git source. A shared base (the objects of `deploy/`, minus the
//! ServiceMonitor) and a per-cluster overlay with the image and the serve
//! config.
//!
//! Like `deploy/`, two replicas elect a leader on the Lease
//! `flotilla-system/flotilla` (only the leader audits and writes; the
//! standby serves the leader's status and takes over when it is lost), with
//! a Role on that one Lease, a PodDisruptionBudget and a spread over nodes
//! and zones.
//!
//! The ServiceMonitor of `deploy/` is left out: its CRD comes with the
//! Prometheus Operator, which a baseline cluster need not run, and a
//! Kustomization applying an unknown kind fails as a whole. The metrics
//! Service is there for whichever scraper the cluster has.

use std::collections::BTreeMap;

use flotilla_fleet::Cluster;
use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    EnvVarSource, HTTPGetAction, Namespace, ObjectFieldSelector, PodSecurityContext, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile, SecretVolumeSource,
    SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec, TopologySpreadConstraint,
    Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde::Serialize;

use super::namespaces::pod_security_labels;
use super::{
    BASE, ConfigMapGenerator, ImageOverride, KustomizeFile, Manifest, cluster_dir, meta, string_map,
};
use crate::tree::Tree;

/// Deployment, Service, ServiceAccount and container name.
const FLOTILLA: &str = "flotilla";
/// The namespace flotilla runs in.
pub(super) const NAMESPACE: &str = "flotilla-system";
/// The read-only ClusterRole and its binding.
const READ_ROLE: &str = "flotilla-read";
/// The Role on the election Lease, and its binding.
const LEASE_ROLE: &str = "flotilla-lease";
/// The election Lease (`leaderElection.leaseName`).
const LEASE: &str = "flotilla";
/// Replicas: one leads, one stands by.
const REPLICAS: i32 = 2;
/// Image name in the base; each overlay pins it to its registry.
const IMAGE: &str = "flotilla";
/// The generated ConfigMap holding `serve.yaml`.
const CONFIG_MAP: &str = "flotilla-config";
/// The optional Secret with the Git (and GitHub) credentials.
const CREDENTIALS: &str = "flotilla-credentials";
/// Where that Secret is mounted.
const SECRET_DIR: &str = "/etc/flotilla/secret";
/// Port of `/metrics`, `/healthz` and `/readyz`.
const PORT: i32 = 8080;
const PORT_NAME: &str = "http-metrics";

fn labels() -> BTreeMap<String, String> {
    string_map([
        ("app.kubernetes.io/name", FLOTILLA),
        ("app.kubernetes.io/component", "auditor"),
    ])
}

/// `infrastructure/base/flotilla/`.
pub(super) fn render_auditor_base(tree: &mut Tree) {
    let dir = format!("{BASE}/{FLOTILLA}");
    let mut ns = Manifest::with_comment(
        "flotilla runs restricted: non-root, read-only root FS, no capabilities.",
    );
    ns.push(&namespace());
    ns.write(tree, format!("{dir}/namespace.yaml"));
    let mut rbac = Manifest::with_comment(
        "Read-only access to everything flotilla audits, except Secrets. RBAC has no\n\
         \"all but\": `apiGroups: [\"*\"]` would include the core group and so Secrets,\n\
         so the core group is listed resource by resource and the others by name.",
    );
    rbac.push(&ServiceAccount {
        metadata: meta(FLOTILLA, Some(NAMESPACE)),
        automount_service_account_token: Some(true),
        ..ServiceAccount::default()
    })
    .push(&cluster_role())
    .push(&cluster_role_binding())
    .push(&lease_role())
    .push(&lease_role_binding());
    rbac.write(tree, format!("{dir}/rbac.yaml"));
    let mut deployment = Manifest::with_comment(
        "Two replicas electing a leader on the Lease flotilla-system/flotilla: only the\n\
         leader audits and writes, the standby serves its status and takes over about\n\
         11 s after it is lost. Git and GitHub credentials come from the optional\n\
         Secret flotilla-credentials; the config from each overlay.",
    );
    deployment
        .push(&deployment_object())
        .push(&disruption_budget());
    deployment.write(tree, format!("{dir}/deployment.yaml"));
    let mut service = Manifest::with_comment("Metrics, for whichever scraper the cluster runs.");
    service.push(&service_object());
    service.write(tree, format!("{dir}/service.yaml"));
    let files = ["namespace", "rbac", "deployment", "service"];
    KustomizeFile::new(files.map(|f| format!("{f}.yaml"))).write(tree, &dir);
}

fn namespace() -> Namespace {
    let mut metadata = meta(NAMESPACE, None);
    metadata.labels = Some(pod_security_labels("restricted"));
    Namespace {
        metadata,
        ..Namespace::default()
    }
}

fn owned(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Core resources flotilla reads: all but Secrets.
const CORE_RESOURCES: [&str; 14] = [
    "configmaps",
    "endpoints",
    "events",
    "limitranges",
    "namespaces",
    "nodes",
    "persistentvolumeclaims",
    "persistentvolumes",
    "pods",
    "podtemplates",
    "replicationcontrollers",
    "resourcequotas",
    "serviceaccounts",
    "services",
];

/// API groups read whole: Kubernetes, Flux v2 and the baseline add-ons.
const READ_GROUPS: [&str; 35] = [
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "source.toolkit.fluxcd.io",
    "kustomize.toolkit.fluxcd.io",
    "helm.toolkit.fluxcd.io",
    "notification.toolkit.fluxcd.io",
    "image.toolkit.fluxcd.io",
    "traefik.io",
    "traefik.containo.us",
    "secrets-store.csi.x-k8s.io",
    "config.gatekeeper.sh",
    "constraints.gatekeeper.sh",
    "templates.gatekeeper.sh",
    "mutations.gatekeeper.sh",
    "expansion.gatekeeper.sh",
    "externaldata.gatekeeper.sh",
    "status.gatekeeper.sh",
    "monitoring.coreos.com",
    "metrics.k8s.io",
];

const READ: [&str; 3] = ["get", "list", "watch"];

fn cluster_role() -> ClusterRole {
    ClusterRole {
        metadata: meta(READ_ROLE, None),
        rules: Some(vec![
            PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(owned(&CORE_RESOURCES)),
                verbs: owned(&READ),
                ..PolicyRule::default()
            },
            PolicyRule {
                api_groups: Some(owned(&READ_GROUPS)),
                resources: Some(vec!["*".to_owned()]),
                verbs: owned(&READ),
                ..PolicyRule::default()
            },
            // Discovery and OpenAPI (list merge keys).
            PolicyRule {
                non_resource_urls: Some(owned(&[
                    "/api",
                    "/api/*",
                    "/apis",
                    "/apis/*",
                    "/openapi/*",
                    "/version",
                ])),
                verbs: vec!["get".to_owned()],
                ..PolicyRule::default()
            },
        ]),
        ..ClusterRole::default()
    }
}

fn cluster_role_binding() -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(READ_ROLE, None),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "ClusterRole".to_owned(),
            name: READ_ROLE.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: FLOTILLA.to_owned(),
            namespace: Some(NAMESPACE.to_owned()),
            ..Subject::default()
        }]),
    }
}

/// The election Lease and nothing else: `get` and `patch` on it by name
/// (kube-lease-manager takes and renews it with server-side apply and merge
/// patches, and the leader patches its status into an annotation). RBAC
/// cannot restrict `create` by resourceNames (the name of a new object is
/// not known when the request is authorised; "Referring to resources" in
/// the Kubernetes RBAC docs), so `create` is a rule of its own, limited to
/// this namespace, which holds nothing but flotilla.
fn lease_role() -> Role {
    let rule = |names: Option<Vec<String>>, verbs: &[&str]| PolicyRule {
        api_groups: Some(vec!["coordination.k8s.io".to_owned()]),
        resources: Some(vec!["leases".to_owned()]),
        resource_names: names,
        verbs: owned(verbs),
        ..PolicyRule::default()
    };
    Role {
        metadata: meta(LEASE_ROLE, Some(NAMESPACE)),
        rules: Some(vec![
            rule(Some(vec![LEASE.to_owned()]), &["get", "patch"]),
            rule(None, &["create"]),
        ]),
    }
}

fn lease_role_binding() -> RoleBinding {
    RoleBinding {
        metadata: meta(LEASE_ROLE, Some(NAMESPACE)),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_owned()),
            kind: "Role".to_owned(),
            name: LEASE_ROLE.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: FLOTILLA.to_owned(),
            namespace: Some(NAMESPACE.to_owned()),
            ..Subject::default()
        }]),
    }
}

/// Drains leave one replica running.
fn disruption_budget() -> PodDisruptionBudget {
    let mut metadata = meta(FLOTILLA, Some(NAMESPACE));
    metadata.labels = Some(labels());
    PodDisruptionBudget {
        metadata,
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// Replicas apart where the cluster has several nodes and zones, together
/// where it has not.
fn spread() -> Vec<TopologySpreadConstraint> {
    ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
        .into_iter()
        .map(|key| TopologySpreadConstraint {
            max_skew: 1,
            topology_key: key.to_owned(),
            when_unsatisfiable: "ScheduleAnyway".to_owned(),
            label_selector: Some(LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            }),
            ..TopologySpreadConstraint::default()
        })
        .collect()
}

fn quantities(cpu: &str, memory: &str) -> BTreeMap<String, Quantity> {
    BTreeMap::from([
        ("cpu".to_owned(), Quantity(cpu.to_owned())),
        ("memory".to_owned(), Quantity(memory.to_owned())),
    ])
}

fn http_probe(path: &str, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(PORT_NAME.to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(3),
        ..Probe::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// Meets Pod Security `restricted` on its own: non-root, no privilege
/// escalation, no capabilities, RuntimeDefault seccomp (set on the pod).
fn container() -> Container {
    Container {
        name: FLOTILLA.to_owned(),
        image: Some(IMAGE.to_owned()),
        args: Some(owned(&[
            "serve",
            "--config=/etc/flotilla/config/serve.yaml",
            "--json-logs",
        ])),
        // POD_NAME names the replica in the Lease; kubectl (for kustomize)
        // and git want a writable home.
        env: Some(vec![
            EnvVar {
                name: "POD_NAME".to_owned(),
                value_from: Some(EnvVarSource {
                    field_ref: Some(ObjectFieldSelector {
                        field_path: "metadata.name".to_owned(),
                        ..ObjectFieldSelector::default()
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            },
            env("RUST_LOG", "info"),
            env("HOME", "/tmp"),
        ]),
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.to_owned()),
            container_port: PORT,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        liveness_probe: Some(http_probe("/healthz", 20)),
        // Ready once the cluster has had its first audit (good or not); a
        // standby once the leader's shared status says so.
        readiness_probe: Some(http_probe("/readyz", 10)),
        resources: Some(ResourceRequirements {
            requests: Some(quantities("100m", "256Mi")),
            limits: Some(quantities("1", "1Gi")),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![
            mount("config", "/etc/flotilla/config", true),
            mount("credentials", SECRET_DIR, true),
            mount("checkout", "/var/lib/flotilla", false),
            mount("tmp", "/tmp", false),
        ]),
        ..Container::default()
    }
}

fn empty_dir(name: &str, limit: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource {
            size_limit: Some(Quantity(limit.to_owned())),
            ..EmptyDirVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn volumes() -> Vec<Volume> {
    vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: CONFIG_MAP.to_owned(),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "credentials".to_owned(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(CREDENTIALS.to_owned()),
                // A public repository and no PRs need no Secret.
                optional: Some(true),
                default_mode: Some(0o400),
                ..SecretVolumeSource::default()
            }),
            ..Volume::default()
        },
        // Git checkouts: rebuilt from the remote after a restart.
        empty_dir("checkout", "1Gi"),
        // kustomize build output and temporary files.
        empty_dir("tmp", "512Mi"),
    ]
}

fn pod_spec() -> PodSpec {
    PodSpec {
        service_account_name: Some(FLOTILLA.to_owned()),
        // SIGTERM lets the current step finish; an audit is bounded by auditTimeout.
        termination_grace_period_seconds: Some(120),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            fs_group: Some(65532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        node_selector: Some(string_map([("kubernetes.io/os", "linux")])),
        topology_spread_constraints: Some(spread()),
        containers: vec![container()],
        volumes: Some(volumes()),
        ..PodSpec::default()
    }
}

fn deployment_object() -> Deployment {
    let mut metadata = meta(FLOTILLA, Some(NAMESPACE));
    metadata.labels = Some(labels());
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: Some(REPLICAS),
            // A new pod starts as a standby; the old one releases the Lease
            // on SIGTERM once its current step is done.
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDeployment {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec()),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn service_object() -> Service {
    let mut metadata = meta(FLOTILLA, Some(NAMESPACE));
    metadata.labels = Some(labels());
    Service {
        metadata,
        spec: Some(ServiceSpec {
            selector: Some(labels()),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.to_owned()),
                port: PORT,
                target_port: Some(IntOrString::String(PORT_NAME.to_owned())),
                protocol: Some("TCP".to_owned()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// `clusters/<name>/flotilla/`: the base with this cluster's image and
/// serve config. The ConfigMap is generated with a content hash in its
/// name, so a config change rolls the Deployment.
pub(super) fn render_auditor_overlay(cluster: &Cluster, tree: &mut Tree) {
    let dir = format!("{}/{FLOTILLA}", cluster_dir(cluster));
    let mut serve = Manifest::with_comment(&format!(
        "flotilla serve config of {} (every field: examples/serve.yaml). Credentials\n\
         are files of the optional Secret {CREDENTIALS} in {NAMESPACE}: a copy of the\n\
         Flux Git Secret (same keys), plus github-token when pull requests are on.",
        cluster.name
    ));
    serve.push(&serve_config(cluster));
    serve.write(tree, format!("{dir}/serve.yaml"));
    let images = &cluster.images;
    KustomizeFile {
        namespace: Some(NAMESPACE.to_owned()),
        config_map_generator: vec![ConfigMapGenerator {
            name: CONFIG_MAP.to_owned(),
            files: vec!["serve.yaml".to_owned()],
        }],
        images: vec![ImageOverride::pin(
            IMAGE,
            &images.registry,
            &images.flotilla,
        )],
        ..KustomizeFile::new([format!("../../../{BASE}/{FLOTILLA}")])
    }
    .write(tree, &dir);
}

/// The `flotilla serve` config of one cluster, in the format of
/// `examples/serve.yaml`. Only fields that differ from the service's
/// defaults or that the cluster decides are written.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServeFile {
    repo: ServeRepo,
    clusters: Vec<ServeCluster>,
    schedule: ServeSchedule,
    pr: ServePr,
    leader_election: ServeLeaderElection,
}

/// The election the replicas hold (durations: the service's defaults).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServeLeaderElection {
    enabled: bool,
    lease_name: String,
    namespace: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServeRepo {
    url: String,
    branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth: Option<ServeGitAuth>,
}

/// File paths only: the values stay in the mounted Secret. SSH sets the
/// two key files, HTTPS the token file.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct ServeGitAuth {
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh_key_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    known_hosts_file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_file: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServeCluster {
    name: String,
    in_cluster: bool,
    entry: String,
}

#[derive(Serialize)]
struct ServeSchedule {
    interval: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServePr {
    enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    base_branch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    github: Option<ServeGitHub>,
}

#[derive(Serialize)]
struct ServeGitHub {
    auth: ServeGitHubAuth,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServeGitHubAuth {
    token_file: String,
}

fn serve_config(cluster: &Cluster) -> ServeFile {
    let source = &cluster.source;
    let auditor = &cluster.auditor;
    ServeFile {
        repo: ServeRepo {
            url: source.url.clone(),
            branch: source.branch.clone(),
            auth: source.secret_ref.as_ref().map(|_| git_auth(&source.url)),
        },
        clusters: vec![ServeCluster {
            name: cluster.name.clone(),
            in_cluster: true,
            entry: source.path.trim_start_matches("./").to_owned(),
        }],
        schedule: ServeSchedule {
            interval: auditor.interval.clone(),
        },
        pr: ServePr {
            enabled: auditor.pr_enabled,
            base_branch: auditor.pr_enabled.then(|| source.branch.clone()),
            github: auditor.pr_enabled.then(|| ServeGitHub {
                auth: ServeGitHubAuth {
                    token_file: format!("{SECRET_DIR}/github-token"),
                },
            }),
        },
        leader_election: ServeLeaderElection {
            enabled: true,
            lease_name: LEASE.to_owned(),
            namespace: NAMESPACE.to_owned(),
        },
    }
}

/// The Flux Git Secret's keys (`identity` and `known_hosts` for SSH,
/// `password` for HTTPS), so the platform team can copy that Secret into
/// `flotilla-system` as `flotilla-credentials` unchanged.
fn git_auth(url: &str) -> ServeGitAuth {
    if url.starts_with("ssh://") {
        ServeGitAuth {
            ssh_key_file: Some(format!("{SECRET_DIR}/identity")),
            known_hosts_file: Some(format!("{SECRET_DIR}/known_hosts")),
            ..ServeGitAuth::default()
        }
    } else {
        ServeGitAuth {
            token_file: Some(format!("{SECRET_DIR}/password")),
            ..ServeGitAuth::default()
        }
    }
}
