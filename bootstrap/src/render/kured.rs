//! Kured, the node reboot daemon: a shared base in its own `kured`
//! namespace, and a per-cluster overlay with the image and reboot window.

use flotilla_fleet::{Cluster, Kured as KuredSpec};
use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, Namespace, ObjectFieldSelector, PodSpec,
    PodTemplateSpec, ResourceRequirements, SecurityContext, ServiceAccount, Toleration,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use std::collections::BTreeMap;

use super::namespaces::pod_security_labels;
use super::{
    BASE, ImageOverride, KustomizeFile, Manifest, PatchFile, cluster_dir, meta, put, string_map,
    to_yaml,
};
use crate::tree::Tree;

/// Namespace, DaemonSet, ServiceAccount and RBAC name.
pub(super) const KURED: &str = "kured";
/// Image name in the base; each overlay pins it to its registry.
const IMAGE: &str = "kured";

fn labels() -> BTreeMap<String, String> {
    string_map([("app.kubernetes.io/name", KURED)])
}

/// `infrastructure/base/kured/`.
pub(super) fn render_kured_base(tree: &mut Tree) {
    let dir = format!("{BASE}/kured");
    let mut ns = Manifest::with_comment(
        "Kured needs hostPID and a privileged container (it reboots the node via\n\
         nsenter into PID 1), which Pod Security \"baseline\" and \"restricted\" reject.\n\
         So it gets its own namespace at \"privileged\", holding nothing else, instead of\n\
         sharing a baseline namespace where its pods would be refused.",
    );
    ns.push(&namespace());
    ns.write(tree, format!("{dir}/namespace.yaml"));
    let mut rbac = Manifest::with_comment(
        "Cluster-wide: cordon, drain (evict) and uncordon nodes. Namespaced: take\n\
         the reboot lock, an annotation on its own DaemonSet, and nothing else.",
    );
    rbac.push(&ServiceAccount {
        metadata: meta(KURED, Some(KURED)),
        ..ServiceAccount::default()
    })
    .push(&cluster_role())
    .push(&cluster_role_binding())
    .push(&role())
    .push(&role_binding());
    rbac.write(tree, format!("{dir}/rbac.yaml"));
    let mut ds =
        Manifest::with_comment("The reboot window and image are set by each cluster's overlay.");
    ds.push(&daemon_set());
    ds.write(tree, format!("{dir}/daemonset.yaml"));
    let files = ["namespace", "rbac", "daemonset"];
    KustomizeFile::new(files.map(|f| format!("{f}.yaml"))).write(tree, &dir);
}

fn namespace() -> Namespace {
    let mut metadata = meta(KURED, None);
    metadata.labels = Some(pod_security_labels("privileged"));
    Namespace {
        metadata,
        ..Namespace::default()
    }
}

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(vec![group.to_owned()]),
        resources: Some(owned(resources)),
        verbs: owned(verbs),
        ..PolicyRule::default()
    }
}

fn cluster_role() -> ClusterRole {
    ClusterRole {
        metadata: meta(KURED, None),
        rules: Some(vec![
            rule("", &["nodes"], &["get", "patch"]),
            rule("", &["pods"], &["get", "list", "delete"]),
            rule("", &["pods/eviction"], &["create"]),
            rule("apps", &["daemonsets"], &["get"]),
        ]),
        ..ClusterRole::default()
    }
}

fn role() -> Role {
    Role {
        metadata: meta(KURED, Some(KURED)),
        rules: Some(vec![PolicyRule {
            resource_names: Some(vec![KURED.to_owned()]),
            ..rule("apps", &["daemonsets"], &["update", "patch"])
        }]),
    }
}

fn role_ref(kind: &str) -> RoleRef {
    RoleRef {
        api_group: Some("rbac.authorization.k8s.io".to_owned()),
        kind: kind.to_owned(),
        name: KURED.to_owned(),
    }
}

fn subjects() -> Option<Vec<Subject>> {
    Some(vec![Subject {
        kind: "ServiceAccount".to_owned(),
        name: KURED.to_owned(),
        namespace: Some(KURED.to_owned()),
        ..Subject::default()
    }])
}

fn cluster_role_binding() -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(KURED, None),
        role_ref: role_ref("ClusterRole"),
        subjects: subjects(),
    }
}

fn role_binding() -> RoleBinding {
    RoleBinding {
        metadata: meta(KURED, Some(KURED)),
        role_ref: role_ref("Role"),
        subjects: subjects(),
    }
}

fn container() -> Container {
    let q = |cpu: &str, mem: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(mem.to_owned())),
        ])
    };
    Container {
        name: KURED.to_owned(),
        image: Some(IMAGE.to_owned()),
        image_pull_policy: Some("IfNotPresent".to_owned()),
        command: Some(vec!["/usr/bin/kured".to_owned()]),
        security_context: Some(SecurityContext {
            privileged: Some(true),
            ..SecurityContext::default()
        }),
        resources: Some(ResourceRequirements {
            requests: Some(q("20m", "16Mi")),
            limits: Some(q("500m", "64Mi")),
            ..ResourceRequirements::default()
        }),
        ports: Some(vec![ContainerPort {
            name: Some("metrics".to_owned()),
            container_port: 8080,
            protocol: Some("TCP".to_owned()),
            ..ContainerPort::default()
        }]),
        env: Some(vec![EnvVar {
            name: "KURED_NODE_ID".to_owned(),
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    field_path: "spec.nodeName".to_owned(),
                    ..ObjectFieldSelector::default()
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        }]),
        ..Container::default()
    }
}

fn toleration(key: &str, value: Option<&str>) -> Toleration {
    Toleration {
        key: Some(key.to_owned()),
        operator: Some(if value.is_some() { "Equal" } else { "Exists" }.to_owned()),
        value: value.map(str::to_owned),
        effect: Some("NoSchedule".to_owned()),
        ..Toleration::default()
    }
}

fn daemon_set() -> DaemonSet {
    DaemonSet {
        metadata: meta(KURED, Some(KURED)),
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..LabelSelector::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_unavailable: Some(IntOrString::Int(1)),
                    ..RollingUpdateDaemonSet::default()
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    annotations: Some(string_map([
                        ("prometheus.io/scrape", "true"),
                        ("prometheus.io/port", "8080"),
                    ])),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(KURED.to_owned()),
                    host_pid: Some(true),
                    restart_policy: Some("Always".to_owned()),
                    node_selector: Some(string_map([("kubernetes.io/os", "linux")])),
                    tolerations: Some(vec![
                        toleration("node-role.kubernetes.io/control-plane", None),
                        toleration("CriticalAddonsOnly", Some("true")),
                    ]),
                    containers: vec![container()],
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}

/// The command-line flags that set the reboot window and lock.
fn args(kured: &KuredSpec) -> Vec<String> {
    vec![
        format!("--ds-name={KURED}"),
        format!("--ds-namespace={KURED}"),
        format!("--period={}", kured.period),
        format!("--reboot-days={}", kured.reboot_days.join(",")),
        format!("--start-time={}", kured.start_time),
        format!("--end-time={}", kured.end_time),
        format!("--time-zone={}", kured.time_zone),
        format!("--reboot-sentinel={}", kured.sentinel),
        format!("--lock-annotation={}", kured.lock_annotation),
        format!("--concurrency={}", kured.concurrency),
    ]
}

/// `clusters/<name>/kured/`: the base with this cluster's image and window.
pub(super) fn render_kured_overlay(cluster: &Cluster, tree: &mut Tree) {
    let dir = format!("{}/kured", cluster_dir(cluster));
    let patch = json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": KURED, "namespace": KURED},
        "spec": {"template": {"spec": {"containers": [
            {"name": KURED, "args": args(&cluster.kured)},
        ]}}},
    });
    put(
        tree,
        format!("{dir}/daemonset-patch.yaml"),
        &to_yaml(&patch),
    );
    let images = &cluster.images;
    KustomizeFile {
        images: vec![ImageOverride::pin(IMAGE, &images.registry, &images.kured)],
        patches: vec![PatchFile {
            path: "daemonset-patch.yaml".to_owned(),
        }],
        ..KustomizeFile::new([format!("../../../{BASE}/kured")])
    }
    .write(tree, &dir);
}
