//! The targets file: which clusters `flotilla audit --targets` audits, and
//! where each one's live state comes from.
//!
//! ```yaml
//! clusters:
//!   - name: aks-eus2-prod-01          # report name; entry path clusters/<name>
//!     context: aks-eus2-prod-01-admin # kubeconfig context (or `inCluster: true`)
//!   - name: aksh-store-042
//!     path: clusters/aksh-store-042   # Flux entry path, if not clusters/<name>
//!     kubeconfig: ~/.kube/store-042   # a kubeconfig file (its current context)
//!   - name: aks-eus2-stg-01
//!     snapshot: snapshots/stg         # a recorded snapshot, relative to this file
//!   - name: spoke-staging             # applied by a hub's Flux (spec.kubeConfig)
//!     context: spoke-staging
//!     hub:
//!       path: clusters/hub            # the hub's entry path
//!       kubeConfigSecret: staging/cluster-kubeconfig
//! ```
//!
//! Unknown fields are errors, with the file and line.

use crate::audit::{AuditedCluster, Hub, LiveTarget};
use flotilla_render::RemoteCluster;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A targets file that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TargetsError {
    /// The file could not be read.
    #[error("cannot read targets file {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or has unknown fields.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line (0 when unknown).
        line: u64,
        /// 1-based column (0 when unknown).
        column: u64,
        /// What is wrong.
        message: String,
    },
    /// A cluster entry is inconsistent.
    #[error("{path}: clusters[{index}] ({name}): {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Index of the entry.
        index: usize,
        /// Its name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetsFile {
    clusters: Vec<TargetSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TargetSpec {
    name: String,
    path: Option<String>,
    context: Option<String>,
    kubeconfig: Option<PathBuf>,
    snapshot: Option<PathBuf>,
    #[serde(default)]
    in_cluster: bool,
    hub: Option<HubSpec>,
}

/// `hub:` — this cluster's desired state comes from a hub cluster's
/// Kustomizations that apply to it with `spec.kubeConfig`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HubSpec {
    /// The hub's Flux entry path.
    path: String,
    /// `namespace/name` of the kubeconfig Secret the hub's Kustomizations name.
    kube_config_secret: Option<String>,
    /// `namespace/name` of the kubeconfig ConfigMap (workload identity).
    kube_config_config_map: Option<String>,
}

/// Read a targets file.
pub fn load_targets(path: &Path) -> Result<Vec<AuditedCluster>, TargetsError> {
    let text = std::fs::read_to_string(path).map_err(|source| TargetsError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_targets(&text, path)
}

/// Parse a targets file's text; `path` names it in errors and anchors
/// relative snapshot and kubeconfig paths.
pub fn parse_targets(text: &str, path: &Path) -> Result<Vec<AuditedCluster>, TargetsError> {
    let file: TargetsFile = serde_saphyr::from_str(text).map_err(|e| {
        let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
        TargetsError::Parse {
            path: path.to_owned(),
            line,
            column,
            message: e.to_string().lines().next().unwrap_or_default().to_owned(),
        }
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    file.clusters
        .into_iter()
        .enumerate()
        .map(|(index, spec)| {
            let name = spec.name.clone();
            target_of(spec, base).map_err(|message| TargetsError::Invalid {
                path: path.to_owned(),
                index,
                name,
                message,
            })
        })
        .collect()
}

fn target_of(spec: TargetSpec, base: &Path) -> Result<AuditedCluster, String> {
    let sources = [
        spec.snapshot.is_some(),
        spec.context.is_some() || spec.kubeconfig.is_some(),
        spec.in_cluster,
    ];
    if sources.iter().filter(|s| **s).count() > 1 {
        return Err("give one of snapshot, context/kubeconfig or inCluster".to_owned());
    }
    let live = match spec.snapshot {
        Some(dir) => LiveTarget::Snapshot(base.join(dir)),
        None => LiveTarget::Cluster {
            context: spec.context,
            kubeconfig: spec.kubeconfig.map(|k| base.join(k)),
        },
    };
    let hub = match spec.hub {
        None => None,
        Some(hub) => {
            let (kind, reference) = match (hub.kube_config_secret, hub.kube_config_config_map) {
                (Some(s), None) => ("Secret", s),
                (None, Some(c)) => ("ConfigMap", c),
                _ => {
                    return Err(
                        "hub: give one of kubeConfigSecret or kubeConfigConfigMap".to_owned()
                    );
                }
            };
            let Some((namespace, name)) = reference.split_once('/') else {
                return Err(format!("hub: {reference}: expected namespace/name"));
            };
            Some(Hub {
                entry: hub.path,
                kube_config: RemoteCluster {
                    kind: kind.into(),
                    namespace: namespace.into(),
                    name: name.into(),
                },
            })
        }
    };
    Ok(AuditedCluster {
        entry: spec
            .path
            .unwrap_or_else(|| AuditedCluster::default_entry(&spec.name)),
        name: spec.name,
        live,
        hub,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_resolve_paths_and_defaults() {
        let text = "clusters:\n  - name: a\n    context: ctx-a\n  - name: b\n    path: other/b\n    snapshot: snaps/b\n";
        let targets = parse_targets(text, Path::new("/etc/flotilla/targets.yaml")).unwrap();
        assert_eq!(targets[0].entry, "clusters/a");
        assert_eq!(
            targets[0].live,
            LiveTarget::Cluster {
                context: Some("ctx-a".into()),
                kubeconfig: None
            }
        );
        assert_eq!(targets[1].entry, "other/b");
        assert_eq!(
            targets[1].live,
            LiveTarget::Snapshot(PathBuf::from("/etc/flotilla/snaps/b"))
        );
    }

    #[test]
    fn unknown_fields_are_errors_with_a_line() {
        let text = "clusters:\n  - name: a\n    contxt: ctx-a\n";
        let err = parse_targets(text, Path::new("t.yaml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("t.yaml:3:"), "{err}");
        assert!(err.contains("contxt"), "{err}");
    }

    #[test]
    fn two_live_sources_are_refused() {
        let text = "clusters:\n  - name: a\n    context: c\n    snapshot: s\n";
        let err = parse_targets(text, Path::new("t.yaml"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "t.yaml: clusters[0] (a): give one of snapshot, context/kubeconfig or inCluster"
        );
    }
}
