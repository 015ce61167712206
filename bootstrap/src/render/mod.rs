//! Fleet model → Flux v2 repository file tree. Pure: no I/O, no clock, no
//! randomness; the same fleet always renders byte-identical files.
//!
//! # Layout
//!
//! ```text
//! infrastructure/base/traefik/          shared, cluster-independent manifests
//! infrastructure/base/kured/            (rendered once per fleet, not per cluster)
//! infrastructure/base/flotilla/         the in-cluster auditor, if any cluster enables it
//! infrastructure/base/gatekeeper-templates/
//! clusters/<name>/
//!   kustomization.yaml                  entry of the `flux-system` Kustomization
//!   infrastructure.yaml                 one Flux Kustomization per component, with dependsOn
//!   flux-system/gotk-sync.yaml          GitRepository + Kustomization, as `flux bootstrap` writes them
//!   flux-system/kustomization.yaml
//!   flux-system/flux-configuration.json the same sync for the AKS / Arc `microsoft.flux` extension
//!   namespaces/    Namespaces (PSA labels), ResourceQuotas, LimitRanges
//!   policies/      NetworkPolicies, Gatekeeper constraints or azure-policy-assignment.json
//!   secrets/       SecretProviderClass for the ingress certificate
//!   traefik/       RoleBindings in the namespaces Traefik serves, and
//!     controller/  overlay of the Traefik base: namespace, image, config, Service, identity
//!   kured/         overlay of the Kured base: image and reboot window
//!   flotilla/      overlay of the flotilla base: image and `flotilla serve` config
//! ```
//!
//! Every folder has its own `kustomization.yaml`, so each is a valid
//! `kustomize build` root and Flux never falls back to generating one.
//!
//! Per-cluster values go into the overlays as plain kustomize resources and
//! patches, not as Flux `postBuild.substitute` variables: `kustomize build`
//! of a folder is then exactly what Flux applies, so the auditor, `preview`
//! and a reviewer reading a PR all see final values without re-implementing
//! Flux's substitution, and no `${…}` in a config file can be mangled.

mod auditor;
mod flux;
mod kured;
mod namespaces;
mod network_policy;
mod policy;
mod secrets_csi;
mod traefik;

pub mod example;

use std::collections::BTreeMap;

use flotilla_fleet::{Cluster, Fleet, PolicyEngine};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

use crate::header;
use crate::tree::Tree;

/// Folder of the shared bases.
const BASE: &str = "infrastructure/base";

/// The whole repository for `fleet`: the shared bases (each rendered once,
/// and only if a cluster uses it) and every cluster's folder.
pub fn render(fleet: &Fleet) -> Tree {
    let mut tree = render_bases(fleet);
    for part in render_clusters_in_parallel(&fleet.clusters) {
        tree.extend(part);
    }
    tree
}

/// Clusters render independently, so large fleets use every core (rayon's
/// global pool: the work is CPU only). The result does not depend on the
/// split: trees come back in the clusters' order and are merged into one
/// ordered map.
fn render_clusters_in_parallel(clusters: &[Cluster]) -> Vec<Tree> {
    use rayon::prelude::*;
    if clusters.len() < 64 {
        return clusters.iter().map(render_cluster).collect();
    }
    clusters.par_iter().map(render_cluster).collect()
}

/// The folder `clusters/<name>/` of one cluster. Its overlays refer to the
/// shared bases under `infrastructure/base/`, which [`render`] adds once
/// for the whole fleet.
pub fn render_cluster(cluster: &Cluster) -> Tree {
    let mut tree = Tree::new();
    flux::render_flux(cluster, &mut tree);
    namespaces::render_namespaces(cluster, &mut tree);
    network_policy::render_network_policies(cluster, &mut tree);
    policy::render_policies(cluster, &mut tree);
    if cluster.secrets.enabled {
        secrets_csi::render_secret_provider_class(cluster, &mut tree);
    }
    if cluster.ingress.enabled {
        traefik::render_traefik_overlay(cluster, &mut tree);
    }
    if cluster.kured.enabled {
        kured::render_kured_overlay(cluster, &mut tree);
    }
    if cluster.auditor.enabled {
        auditor::render_auditor_overlay(cluster, &mut tree);
    }
    tree
}

/// The shared bases some cluster of `fleet` uses. They hold nothing
/// cluster-specific, so they are serialised once, however large the fleet.
pub fn render_bases(fleet: &Fleet) -> Tree {
    let mut tree = Tree::new();
    let any = |f: fn(&Cluster) -> bool| fleet.clusters.iter().any(f);
    if any(|c| c.ingress.enabled) {
        traefik::render_traefik_base(&mut tree);
    }
    if any(|c| c.kured.enabled) {
        kured::render_kured_base(&mut tree);
    }
    if any(|c| c.auditor.enabled) {
        auditor::render_auditor_base(&mut tree);
    }
    if any(|c| c.policies.engine == PolicyEngine::Gatekeeper) {
        policy::render_gatekeeper_templates(&mut tree);
    }
    tree
}

/// `clusters/<name>`: the cluster's folder.
fn cluster_dir(cluster: &Cluster) -> String {
    format!("clusters/{}", cluster.name)
}

/// A multi-document YAML file being assembled: an optional leading comment
/// (why the file looks the way it does) and `---`-separated documents.
#[derive(Default)]
struct Manifest {
    text: String,
}

impl Manifest {
    /// A file that starts with `comment`, one `# ` line per line.
    fn with_comment(comment: &str) -> Self {
        let mut m = Self::default();
        for line in comment.lines() {
            m.text.push_str(if line.is_empty() { "#" } else { "# " });
            m.text.push_str(line);
            m.text.push('\n');
        }
        m
    }

    /// Append one object as its own document.
    fn push<T: Serialize>(&mut self, object: &T) -> &mut Self {
        self.text.push_str("---\n");
        self.text.push_str(&to_yaml(object));
        self
    }

    /// Write the file (with the generated-file header) to `path`.
    fn write(self, tree: &mut Tree, path: String) {
        put(tree, path, &self.text);
    }
}

/// `object` as one YAML document. Serialising our own typed values cannot
/// fail (no non-string map keys, no NaN), so a failure is a renderer bug.
fn to_yaml<T: Serialize>(object: &T) -> String {
    serde_saphyr::to_string(object).expect("rendered objects serialise to yaml")
}

/// `value` as pretty JSON, for the Azure resource bodies.
fn to_json<T: Serialize>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).expect("rendered values serialise to json");
    s.push('\n');
    s
}

/// Insert a file with the generated-file header.
fn put(tree: &mut Tree, path: String, body: &str) {
    let stamped = header::stamp(&path, body);
    tree.insert(path, stamped);
}

/// `metadata` with a name and, for namespaced objects, a namespace.
fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        ..ObjectMeta::default()
    }
}

/// A string map from literal pairs.
fn string_map<const N: usize>(pairs: [(&str, &str); N]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A kustomize `kustomization.yaml`, with only the fields flotilla uses.
#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct KustomizeFile {
    api_version: &'static str,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    resources: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    config_map_generator: Vec<ConfigMapGenerator>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    images: Vec<ImageOverride>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    patches: Vec<PatchFile>,
}

impl KustomizeFile {
    fn new(resources: impl IntoIterator<Item = String>) -> Self {
        Self {
            api_version: "kustomize.config.k8s.io/v1beta1",
            kind: "Kustomization",
            resources: resources.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Write it as `<dir>/kustomization.yaml`.
    fn write(&self, tree: &mut Tree, dir: &str) {
        put(tree, format!("{dir}/kustomization.yaml"), &to_yaml(self));
    }
}

/// `configMapGenerator` entry: kustomize appends a content hash to the
/// name and rewrites references, so a config change rolls the pods.
#[derive(Serialize)]
struct ConfigMapGenerator {
    name: String,
    files: Vec<String>,
}

/// `images` entry: pins a base's image name to the cluster's registry.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImageOverride {
    name: String,
    new_name: String,
    new_tag: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
}

impl ImageOverride {
    /// Replace base image `name` with `image` from `registry`
    /// (`registry/repository:tag[@digest]`).
    fn pin(name: &str, registry: &str, image: &flotilla_fleet::Image) -> Self {
        Self {
            name: name.to_owned(),
            new_name: format!("{registry}/{}", image.repository),
            new_tag: image.tag.clone(),
            digest: image.digest.clone(),
        }
    }
}

/// A strategic-merge patch file; kustomize finds the target by the patch's
/// own apiVersion, kind and name.
#[derive(Serialize)]
struct PatchFile {
    path: String,
}
