//! `coordination.k8s.io/v1` Leases the replay server keeps in memory, so
//! that replicas of `flotilla serve` can hold a leader election against it.
//!
//! The write semantics are the API server's, as far as a Lease needs them:
//!
//! - `POST …/leases`: create; 409 `AlreadyExists` when the name is taken.
//! - `PUT …/leases/<name>`: replace; 409 `Conflict` unless the body's
//!   `metadata.resourceVersion` is the stored one (k8s.io/apiserver
//!   `pkg/registry/generic/registry/store.go`, `Update`).
//! - `PATCH` with `application/merge-patch+json` or
//!   `application/strategic-merge-patch+json`: RFC 7386 merge (a Lease has
//!   no lists, so the strategic patch merges the same way); a
//!   `metadata.resourceVersion` in the patch is a precondition (409
//!   `Conflict` when stale, as the registry compares the patched object's
//!   version with the stored one).
//! - `PATCH` with `application/apply-patch+yaml` (server-side apply, JSON
//!   body): each `spec` field the patch sets is owned by its `fieldManager`;
//!   setting a field another manager owns to another value is a 409
//!   `Conflict` unless `force=true` (kubernetes/website
//!   `content/en/docs/reference/using-api/server-side-apply.md`,
//!   "Conflicts"). A merge or strategic patch takes ownership of the fields
//!   it sets and drops it for the fields it deletes. Not modelled: fields an
//!   applier stops listing are not removed, and ownership is per manager
//!   name, not per (manager, operation).
//!
//! Every write moves the store-wide `resourceVersion` on. GETs of a Lease
//! the store does not hold fall through to the recorded snapshot.

use super::{Body, json_response, status};
use bytes::Bytes;
use hyper::{Method, Response, StatusCode};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const PREFIX: &str = "/apis/coordination.k8s.io/v1/namespaces/";

/// One stored Lease and who owns its `spec` fields.
struct Stored {
    object: Value,
    owners: BTreeMap<String, String>,
}

/// The Leases of every namespace.
pub(super) struct Leases {
    store: Mutex<BTreeMap<(String, String), Stored>>,
    version: AtomicU64,
}

/// A Lease request: namespace and (for one Lease) name.
pub(super) struct LeasePath {
    pub(super) namespace: String,
    pub(super) name: Option<String>,
}

/// `…/namespaces/<ns>/leases[/<name>]`.
pub(super) fn lease_path(path: &str) -> Option<LeasePath> {
    let rest = path.strip_prefix(PREFIX)?;
    let mut parts = rest.trim_end_matches('/').split('/');
    let namespace = parts.next().filter(|n| !n.is_empty())?.to_owned();
    if parts.next()? != "leases" {
        return None;
    }
    let name = parts.next().map(str::to_owned);
    parts
        .next()
        .is_none()
        .then_some(LeasePath { namespace, name })
}

/// What a write request carries besides its path.
pub(super) struct Write<'a> {
    pub(super) method: &'a Method,
    pub(super) content_type: &'a str,
    pub(super) query: &'a BTreeMap<String, String>,
    pub(super) body: &'a [u8],
}

impl Leases {
    pub(super) fn new() -> Leases {
        Leases {
            store: Mutex::new(BTreeMap::new()),
            version: AtomicU64::new(1000),
        }
    }

    /// A copy of a stored Lease.
    pub(super) fn get(&self, namespace: &str, name: &str) -> Option<Value> {
        self.lock()
            .get(&(namespace.to_owned(), name.to_owned()))
            .map(|s| s.object.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), Stored>> {
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn next_version(&self) -> String {
        (self.version.fetch_add(1, Ordering::SeqCst) + 1).to_string()
    }

    /// Answer a Lease request; `None` lets a GET fall through to the
    /// recorded snapshot.
    pub(super) fn answer(&self, path: &LeasePath, w: &Write<'_>) -> Option<Response<Body>> {
        let manager = w.query.get("fieldManager").cloned();
        let response = match (w.method, &path.name) {
            (&Method::GET, Some(name)) => {
                let object = self.get(&path.namespace, name)?;
                ok(StatusCode::OK, &object)
            }
            (&Method::GET, None) => return None,
            (&Method::POST, None) => self.create(&path.namespace, w.body, manager),
            (&Method::PUT, Some(name)) => self.replace(&path.namespace, name, w.body, manager),
            (&Method::PATCH, Some(name)) => {
                let force = w.query.get("force").is_some_and(|f| f == "true");
                self.patch(&path.namespace, name, w, manager, force)
            }
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "the replay server's leases take GET, POST, PUT and PATCH",
            ),
        };
        Some(response)
    }

    fn create(&self, namespace: &str, body: &[u8], manager: Option<String>) -> Response<Body> {
        let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
            return bad_request("body is not a JSON object");
        };
        let Some(name) = object["metadata"]["name"].as_str().map(str::to_owned) else {
            return status(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Invalid",
                "metadata.name: Required value",
            );
        };
        let mut store = self.lock();
        let key = (namespace.to_owned(), name.clone());
        if store.contains_key(&key) {
            let message = format!("leases.coordination.k8s.io \"{name}\" already exists");
            return status(StatusCode::CONFLICT, "AlreadyExists", &message);
        }
        let version = self.next_version();
        stamp(&mut object, namespace, &name, &version);
        let mut owners = BTreeMap::new();
        take_ownership(&mut owners, &object["spec"], manager.as_deref());
        let response = ok(StatusCode::CREATED, &object);
        store.insert(key, Stored { object, owners });
        response
    }

    fn replace(
        &self,
        namespace: &str,
        name: &str,
        body: &[u8],
        manager: Option<String>,
    ) -> Response<Body> {
        let Ok(mut object) = serde_json::from_slice::<Value>(body) else {
            return bad_request("body is not a JSON object");
        };
        let mut store = self.lock();
        let Some(stored) = store.get_mut(&(namespace.to_owned(), name.to_owned())) else {
            return not_found(name);
        };
        if object["metadata"]["resourceVersion"] != stored.object["metadata"]["resourceVersion"] {
            return modified(name);
        }
        let version = self.next_version();
        let created = stored.object["metadata"]["creationTimestamp"].clone();
        let uid = stored.object["metadata"]["uid"].clone();
        stamp(&mut object, namespace, name, &version);
        object["metadata"]["creationTimestamp"] = created;
        object["metadata"]["uid"] = uid;
        stored
            .owners
            .retain(|field, _| object["spec"].get(field).is_some());
        take_ownership(&mut stored.owners, &object["spec"], manager.as_deref());
        stored.object = object;
        ok(StatusCode::OK, &stored.object)
    }

    fn patch(
        &self,
        namespace: &str,
        name: &str,
        w: &Write<'_>,
        manager: Option<String>,
        force: bool,
    ) -> Response<Body> {
        let Ok(patch) = serde_json::from_slice::<Value>(w.body) else {
            return bad_request("patch is not a JSON object");
        };
        let apply = w.content_type.starts_with("application/apply-patch");
        let merge = w.content_type.starts_with("application/merge-patch+json")
            || w.content_type
                .starts_with("application/strategic-merge-patch+json");
        if !apply && !merge {
            return status(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                "the replay server's leases take merge, strategic merge and apply patches",
            );
        }
        if apply && manager.is_none() {
            return bad_request(
                "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value",
            );
        }
        let mut store = self.lock();
        let key = (namespace.to_owned(), name.to_owned());
        if !store.contains_key(&key) {
            if !apply {
                return not_found(name);
            }
            // Apply creates what does not exist.
            let object = json!({"metadata": {"name": name}});
            store.insert(
                key.clone(),
                Stored {
                    object,
                    owners: BTreeMap::new(),
                },
            );
        }
        let stored = store.get_mut(&key).expect("inserted above");
        if apply {
            let fields = patch["spec"].as_object().cloned().unwrap_or_default();
            let conflicts: Vec<String> = fields
                .iter()
                .filter(|(field, value)| {
                    let current = &stored.object["spec"][field.as_str()];
                    let owner = stored.owners.get(field.as_str());
                    !force
                        && !current.is_null()
                        && current != *value
                        && owner.is_some_and(|o| Some(o) != manager.as_ref())
                })
                .map(|(field, _)| {
                    format!(
                        "conflict with \"{}\": .spec.{field}",
                        stored.owners[field.as_str()]
                    )
                })
                .collect();
            if !conflicts.is_empty() {
                let message = format!(
                    "Apply failed with {} conflict{}: {}",
                    conflicts.len(),
                    if conflicts.len() == 1 { "" } else { "s" },
                    conflicts.join(", ")
                );
                return status(StatusCode::CONFLICT, "Conflict", &message);
            }
        } else if let Some(expected) = patch["metadata"].get("resourceVersion")
            && *expected != stored.object["metadata"]["resourceVersion"]
        {
            return modified(name);
        }
        let mut object = stored.object.clone();
        merge_patch(&mut object, &patch);
        let version = self.next_version();
        let created = stored.object["metadata"]["creationTimestamp"].clone();
        stamp(&mut object, namespace, name, &version);
        if !created.is_null() {
            object["metadata"]["creationTimestamp"] = created;
        }
        if let Some(spec) = patch["spec"].as_object() {
            for (field, value) in spec {
                if value.is_null() {
                    stored.owners.remove(field);
                }
            }
        }
        take_ownership(&mut stored.owners, &patch["spec"], manager.as_deref());
        stored.object = object;
        ok(StatusCode::OK, &stored.object)
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Some(patch) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let object = target.as_object_mut().expect("made an object above");
    for (key, value) in patch {
        if value.is_null() {
            object.remove(key);
        } else {
            merge_patch(object.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

/// The fields `spec` sets (not to null) become `manager`'s.
fn take_ownership(owners: &mut BTreeMap<String, String>, spec: &Value, manager: Option<&str>) {
    let manager = manager.unwrap_or("unknown");
    for (field, value) in spec.as_object().into_iter().flatten() {
        if !value.is_null() {
            owners.insert(field.clone(), manager.to_owned());
        }
    }
}

/// What the server sets on every stored Lease.
fn stamp(object: &mut Value, namespace: &str, name: &str, version: &str) {
    if !object.is_object() {
        *object = json!({});
    }
    object["apiVersion"] = json!("coordination.k8s.io/v1");
    object["kind"] = json!("Lease");
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    let meta = &mut object["metadata"];
    meta["name"] = json!(name);
    meta["namespace"] = json!(namespace);
    meta["resourceVersion"] = json!(version);
    if meta["uid"].is_null() {
        meta["uid"] = json!(format!("lease-{namespace}-{name}"));
    }
    if meta["creationTimestamp"].is_null() {
        meta["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    if object["spec"].is_null() {
        object["spec"] = json!({});
    }
}

fn ok(code: StatusCode, object: &Value) -> Response<Body> {
    json_response(code, Bytes::from(object.to_string()))
}

fn bad_request(message: &str) -> Response<Body> {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn not_found(name: &str) -> Response<Body> {
    let message = format!("leases.coordination.k8s.io \"{name}\" not found");
    status(StatusCode::NOT_FOUND, "NotFound", &message)
}

/// The registry's optimistic-lock refusal.
fn modified(name: &str) -> Response<Body> {
    let message = format!(
        "Operation cannot be fulfilled on leases.coordination.k8s.io \"{name}\": \
         the object has been modified; please apply your changes to the latest version and try again"
    );
    status(StatusCode::CONFLICT, "Conflict", &message)
}
