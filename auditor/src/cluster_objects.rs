//! The ConfigMaps and Secrets `postBuild.substituteFrom` names, read where
//! Flux reads them: in the cluster, at reconcile time.
//!
//! kustomize-controller loads each `substituteFrom` object from the API
//! server in the Kustomization's namespace (fluxcd/pkg
//! `kustomize/kustomize_varsub.go` `LoadVariables`: ConfigMap `.data`,
//! Secret `.data`; a missing object is an error unless `optional`). So the
//! renderer asks a [`ClusterObjects`] first and falls back to the objects
//! Git renders only when the cluster does not have one.
//!
//! - [`LiveObjects`]: one LIST per kind and namespace asked for (never a GET
//!   per object), on first use. Secrets only when RBAC allows it: a `403`
//!   makes every Secret unreadable, so its variables are unknown (not
//!   compared), never guessed.
//! - [`SnapshotObjects`]: the snapshot's ConfigMaps; its Secrets hold
//!   digests (or nothing), so their variables are unknown.
//!
//! Both are called from the render's thread (outside the async runtime).

use flotilla_core::secret::Sealer;
use flotilla_render::flux::substitution_source;
use flotilla_render::substitute::{Origin, Var, Vars};
use flotilla_render::{ClusterLookup, ClusterObjects};
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

/// What one LIST found: the objects by name, or why they cannot be read.
type Listed = Result<HashMap<String, Vars>, String>;

/// `substituteFrom` objects read from a live API server.
pub struct LiveObjects {
    client: kube::Client,
    runtime: tokio::runtime::Handle,
    listed: Mutex<HashMap<(String, String), Listed>>,
}

impl LiveObjects {
    /// Read through `client`, on `runtime` (the caller's async runtime; the
    /// renderer calls from a blocking thread).
    pub fn new(client: kube::Client, runtime: tokio::runtime::Handle) -> LiveObjects {
        LiveObjects {
            client,
            runtime,
            listed: Mutex::new(HashMap::new()),
        }
    }

    fn list(&self, kind: &str, namespace: &str) -> Listed {
        let resource = match kind {
            "ConfigMap" => ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            _ => ApiResource::erase::<k8s_openapi::api::core::v1::Secret>(&()),
        };
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), namespace, &resource);
        let listed = self
            .runtime
            .block_on(async move { api.list(&ListParams::default()).await });
        match listed {
            Ok(list) => Ok(list
                .items
                .into_iter()
                .filter_map(|o| {
                    let mut value = serde_json::to_value(&o).ok()?;
                    if let Some(map) = value.as_object_mut() {
                        map.insert("kind".into(), Value::String(kind.to_owned()));
                        map.insert("apiVersion".into(), Value::String("v1".into()));
                    }
                    let (_, _, name, vars) = substitution_source(&value)?;
                    Some((name, vars))
                })
                .collect()),
            Err(kube::Error::Api(status)) if status.code == 403 => Err(format!(
                "flotilla may not list {kind}s in namespace {namespace} (RBAC)"
            )),
            Err(e) => Err(format!(
                "cannot list {kind}s in namespace {namespace}: {}",
                flotilla_core::findings::error_chain(&flotilla_live::KubeError::from(e))
            )),
        }
    }
}

impl ClusterObjects for LiveObjects {
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> ClusterLookup {
        if kind != "ConfigMap" && kind != "Secret" {
            return ClusterLookup::NotFound;
        }
        let key = (kind.to_owned(), namespace.to_owned());
        let mut listed = self
            .listed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !listed.contains_key(&key) {
            let found = self.list(kind, namespace);
            listed.insert(key.clone(), found);
        }
        match &listed[&key] {
            Ok(objects) => objects.get(name).map_or(ClusterLookup::NotFound, |vars| {
                ClusterLookup::Found(vars.clone())
            }),
            Err(reason) => ClusterLookup::Unreadable(reason.clone()),
        }
    }
}

/// Variables of the snapshot's ConfigMaps and Secrets by `(kind, namespace, name)`.
type SnapshotVars = HashMap<(String, String, String), Vars>;

/// `substituteFrom` objects read from a recorded snapshot.
pub struct SnapshotObjects {
    dir: PathBuf,
    sealer: Sealer,
    loaded: Mutex<Option<SnapshotVars>>,
}

impl SnapshotObjects {
    /// Read the snapshot in `dir` (sealed with `sealer`, as the audit reads it).
    pub fn new(dir: PathBuf, sealer: Sealer) -> SnapshotObjects {
        SnapshotObjects {
            dir,
            sealer,
            loaded: Mutex::new(None),
        }
    }

    fn load(&self) -> SnapshotVars {
        let scope = flotilla_live::Scope::only([("", "ConfigMap"), ("", "Secret")]);
        let Ok(live) = flotilla_live::load_snapshot_with(&self.dir, Some(&scope), &self.sealer)
        else {
            // The audit reads the same snapshot next and reports the error.
            return HashMap::new();
        };
        live.objects
            .iter()
            .filter_map(|obj| {
                let (kind, namespace, name, mut vars) = substitution_source(obj)?;
                if kind == "Secret" {
                    // Sealed on read: a snapshot holds no Secret value to use.
                    for var in vars.values_mut() {
                        *var = Var {
                            value: String::new(),
                            origin: Origin::Unknown,
                        };
                    }
                }
                Some(((kind, namespace, name), vars))
            })
            .collect()
    }
}

impl ClusterObjects for SnapshotObjects {
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> ClusterLookup {
        let mut loaded = self
            .loaded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let objects = loaded.get_or_insert_with(|| self.load());
        objects
            .get(&(kind.to_owned(), namespace.to_owned(), name.to_owned()))
            .map_or(ClusterLookup::NotFound, |vars| {
                ClusterLookup::Found(vars.clone())
            })
    }
}
