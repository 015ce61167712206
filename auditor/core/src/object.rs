//! Identity of a Kubernetes object, independent of the API version it was
//! read or written at (Git may say `autoscaling/v2` where discovery prefers
//! another version of the same group), and of a namespace written on a
//! cluster-scoped object (the API server drops it; see [`ObjectKey::scoped`]).

use serde_json::Value;
use std::fmt;

/// `(group, kind, namespace, name)`: how desired and live objects are matched.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// API group, empty for the core group.
    pub group: String,
    /// Kind, e.g. `Deployment`.
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects.
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectKey {
    /// The key of a JSON object (`apiVersion`, `kind`, `metadata.namespace`, `metadata.name`).
    /// Returns `None` when kind or name is missing.
    pub fn of(obj: &Value) -> Option<ObjectKey> {
        let api_version = obj.get("apiVersion")?.as_str()?;
        let kind = obj.get("kind")?.as_str()?;
        let meta = obj.get("metadata")?;
        let name = meta.get("name")?.as_str()?;
        let namespace = meta
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        Some(ObjectKey {
            group: group_of(api_version).to_owned(),
            kind: kind.to_owned(),
            namespace,
            name: name.to_owned(),
        })
    }
}

impl ObjectKey {
    /// This key as the API server identifies the object: without a
    /// namespace when the kind is cluster-scoped (`namespaced == Some(false)`;
    /// a ClusterRole written with `metadata.namespace` is stored without
    /// one). An unknown scope (`None`) keeps the key as written.
    pub fn scoped(mut self, namespaced: Option<bool>) -> ObjectKey {
        if namespaced == Some(false) {
            self.namespace = None;
        }
        self
    }
}

/// Whether a built-in kind is namespaced, from k8s-openapi's `Resource::Scope`
/// (the scope Kubernetes' own API definitions give each type); `None` for a
/// kind not listed (custom resources: discovery or their CRD's `spec.scope`
/// decide).
pub fn builtin_namespaced(group: &str, kind: &str) -> Option<bool> {
    BUILTIN_SCOPES
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
        .map(|(_, _, namespaced)| *namespaced)
}

/// `(group, kind, namespaced)` of a k8s-openapi resource type.
macro_rules! scopes {
    ($($ty:path),* $(,)?) => {
        [$((
            <$ty as k8s_openapi::Resource>::GROUP,
            <$ty as k8s_openapi::Resource>::KIND,
            is_namespaced::<<$ty as k8s_openapi::Resource>::Scope>(),
        )),*]
    };
}

fn is_namespaced<S: 'static>() -> bool {
    std::any::TypeId::of::<S>() == std::any::TypeId::of::<k8s_openapi::NamespaceResourceScope>()
}

static BUILTIN_SCOPES: std::sync::LazyLock<Vec<(&'static str, &'static str, bool)>> =
    std::sync::LazyLock::new(|| {
        use k8s_openapi::api::{
            admissionregistration::v1 as adm, apps::v1 as apps, autoscaling::v2 as autoscaling,
            batch::v1 as batch, certificates::v1 as certificates, coordination::v1 as coordination,
            core::v1 as core, discovery::v1 as discovery, flowcontrol::v1 as flowcontrol,
            networking::v1 as networking, node::v1 as node, policy::v1 as policy, rbac::v1 as rbac,
            resource::v1 as resource, scheduling::v1 as scheduling, storage::v1 as storage,
        };
        use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
        use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
        scopes![
            adm::MutatingWebhookConfiguration,
            adm::ValidatingWebhookConfiguration,
            adm::ValidatingAdmissionPolicy,
            adm::ValidatingAdmissionPolicyBinding,
            adm::MutatingAdmissionPolicy,
            adm::MutatingAdmissionPolicyBinding,
            apiextensions::CustomResourceDefinition,
            apiregistration::APIService,
            apps::ControllerRevision,
            apps::DaemonSet,
            apps::Deployment,
            apps::ReplicaSet,
            apps::StatefulSet,
            autoscaling::HorizontalPodAutoscaler,
            batch::CronJob,
            batch::Job,
            certificates::CertificateSigningRequest,
            coordination::Lease,
            core::ConfigMap,
            core::Endpoints,
            core::LimitRange,
            core::Namespace,
            core::Node,
            core::PersistentVolume,
            core::PersistentVolumeClaim,
            core::Pod,
            core::PodTemplate,
            core::ReplicationController,
            core::ResourceQuota,
            core::Secret,
            core::Service,
            core::ServiceAccount,
            discovery::EndpointSlice,
            flowcontrol::FlowSchema,
            flowcontrol::PriorityLevelConfiguration,
            networking::Ingress,
            networking::IngressClass,
            networking::IPAddress,
            networking::NetworkPolicy,
            networking::ServiceCIDR,
            node::RuntimeClass,
            policy::PodDisruptionBudget,
            rbac::ClusterRole,
            rbac::ClusterRoleBinding,
            rbac::Role,
            rbac::RoleBinding,
            resource::DeviceClass,
            resource::ResourceClaim,
            resource::ResourceClaimTemplate,
            resource::ResourceSlice,
            scheduling::PriorityClass,
            storage::CSIDriver,
            storage::CSINode,
            storage::CSIStorageCapacity,
            storage::StorageClass,
            storage::VolumeAttachment,
            storage::VolumeAttributesClass,
        ]
        .to_vec()
    });

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// An object's `apiVersion`, empty when it has none.
pub fn api_version_of(obj: &Value) -> &str {
    obj.get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The group part of an `apiVersion` (`apps/v1` → `apps`, `v1` → ``).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((group, _)) => group,
        None => "",
    }
}

/// `metadata.labels[key]` or `metadata.annotations[key]` of an object.
pub fn meta_str<'a>(obj: &'a Value, map: &str, key: &str) -> Option<&'a str> {
    obj.get("metadata")?.get(map)?.get(key)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_scopes_come_from_the_api_definitions() {
        let rbac = "rbac.authorization.k8s.io";
        assert_eq!(builtin_namespaced(rbac, "ClusterRole"), Some(false));
        assert_eq!(builtin_namespaced(rbac, "Role"), Some(true));
        assert_eq!(builtin_namespaced("", "Namespace"), Some(false));
        assert_eq!(builtin_namespaced("apps", "Deployment"), Some(true));
        assert_eq!(builtin_namespaced("cert-manager.io", "ClusterIssuer"), None);
    }

    #[test]
    fn scoped_keys_drop_a_namespace_only_for_cluster_scoped_kinds() {
        let key = ObjectKey {
            group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            namespace: Some("a0008".into()),
            name: "traefik".into(),
        };
        assert_eq!(key.clone().scoped(Some(false)).namespace, None);
        assert_eq!(
            key.clone().scoped(Some(true)).namespace.as_deref(),
            Some("a0008")
        );
        assert_eq!(key.scoped(None).namespace.as_deref(), Some("a0008"));
    }
}
