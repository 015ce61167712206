//! Will Flux undo it? For every drift, whether the next reconciliation of the
//! owning Kustomization reverts it by itself, why, and when.
//!
//! `kubectl diff` and `flux diff` show a difference; a person on call needs
//! to know whether it will persist. The answer follows what
//! kustomize-controller does at each reconcile (every `spec.interval`):
//! a server-side **dry-run** of every object, then a server-side apply with
//! field manager `kustomize-controller` and **forced ownership** of each
//! object that drifted, after a **cleanup of managedFields** that hands
//! Flux the fields of `kubectl…` managers, then **garbage collection** of
//! objects its inventory held that Git no longer has. It skips what is
//! marked `reconcile: disabled` or `ssa: Ignore` (no finding exists for
//! those), leaves alone objects marked `ssa: IfNotPresent` once they exist,
//! fields excluded by the Kustomization's `spec.ignore`, fields and items of
//! managers it does not own or clean up, and everything under a suspended
//! or failing Kustomization. Sources, read at fluxcd/kustomize-controller
//! `a9e8f94` (`internal/controller/kustomization_controller.go`) and
//! fluxcd/pkg `ssa` (`manager_apply.go` `f3cc2d7`, `patch.go` `5805f40`,
//! `manager_delete.go` `6637feb`), are cited at each rule below.
//!
//! Where the audit cannot see enough to decide (the owning Kustomization
//! was not read, is reconciling, selects ignore targets by labels, nobody
//! owns the field), the answer is `reverts: false` with a reason starting
//! `uncertain:`, never a guess that Flux fixes it.
//!
//! The rule is pure: findings, desired and live state in, a [`Reverts`] per
//! `modified` path and per `missing`/`unmanaged` finding out.

use super::live_at;
use super::ownership::find_item;
use crate::desired::{Desired, DesiredObject, KustomizationRef};
use crate::findings::{Finding, FindingClass, RevertCode, Reverts};
use crate::object::{ObjectKey, meta_str};
use serde_json::{Map, Value};
use std::collections::HashMap;

/// API group of Flux Kustomizations and of their object annotations.
const KUSTOMIZE_GROUP: &str = "kustomize.toolkit.fluxcd.io";

/// kustomize-controller's field manager (its default `--controller-name`;
/// `ssa.Owner{Field: r.ControllerName}` in kustomization_controller.go).
const FLUX_MANAGER: &str = "kustomize-controller";

/// How deep suspended Kustomizations are followed up to a parent that
/// resumes them.
const MAX_DEPTH: usize = 8;

/// What the rule reads besides the findings.
pub struct Context<'a> {
    /// Git's objects.
    pub desired: &'a Desired,
    /// Desired object index by key (first occurrence).
    pub desired_by_key: &'a HashMap<ObjectKey, usize>,
    /// Live objects by key.
    pub live: &'a HashMap<ObjectKey, &'a Value>,
    /// Whether Flux Kustomizations were read, so that one absent live does
    /// not exist.
    pub kustomizations_read: bool,
}

/// Set [`Finding::reverts`] (`missing`, `unmanaged`) and each path's
/// [`crate::findings::FieldChange::reverts`] (`modified`). Flux health
/// findings get none: they say why drift may stay, they are not drift.
pub fn annotate(findings: &mut [Finding], ctx: &Context<'_>) {
    for f in findings.iter_mut() {
        let key = ObjectKey {
            group: crate::object::group_of(&f.api_version).to_owned(),
            kind: f.kind.clone(),
            namespace: f.namespace.clone(),
            name: f.name.clone(),
        };
        match f.class {
            FindingClass::Modified => {
                for p in &mut f.paths {
                    let git_sets = p.desired.is_some();
                    p.reverts = Some(field(ctx, &key, &p.path, git_sets, 0));
                }
            }
            FindingClass::Missing => f.reverts = Some(missing(ctx, &key)),
            FindingClass::Unmanaged => f.reverts = Some(unmanaged(ctx, &key)),
            FindingClass::FluxUnhealthy | FindingClass::FluxSuspended | FindingClass::FluxStale => {
            }
        }
    }
}

/// A Kustomization that will apply: when, and through which parent when it
/// is suspended now.
struct Applying {
    /// `spec.interval` (or `spec.retryInterval` while health checks fail).
    within: Option<String>,
    /// Why it applies although suspended: its parent resumes it.
    resumed: Option<String>,
    /// Whether its last garbage collection failed (`PruneFailed`).
    prune_failed: bool,
}

impl Applying {
    /// `within 10m`, or `once <parent> resumes it` (the delay is then the
    /// parent's interval, in [`Reverts::within`]), for reasons.
    fn when(&self) -> String {
        match (&self.resumed, &self.within) {
            (Some(how), _) => format!("once {how}"),
            (None, Some(w)) => format!("within {w}"),
            (None, None) => "at its next reconcile".to_owned(),
        }
    }

    fn code(&self, plain: RevertCode) -> RevertCode {
        if self.resumed.is_some() {
            RevertCode::FluxResumes
        } else {
            plain
        }
    }
}

/// A changed field of a `modified` object. `git_sets`: Git states a value
/// there (the change has a desired side); otherwise it is a field or list
/// item that exists only live.
fn field(
    ctx: &Context<'_>,
    key: &ObjectKey,
    pointer: &str,
    git_sets: bool,
    depth: usize,
) -> Reverts {
    let Some(d) = desired_object(ctx, key) else {
        return uncertain(format!("{key} is not declared in Git"));
    };
    let Some(owner) = &d.kustomization else {
        return uncertain("no Flux Kustomization in the repository applies it".to_owned());
    };
    let applying = match applies(ctx, owner, depth) {
        Ok(a) => a,
        Err(stays) => return stays,
    };
    // `ssa: IfNotPresent` (read from the object Flux applies): an existing
    // object is skipped, never patched (`shouldSkipApply`, manager_apply.go).
    if has_opt(&d.object, "ssa", "IfNotPresent") {
        return Reverts::stays(
            RevertCode::IfNotPresent,
            "Git marks it kustomize.toolkit.fluxcd.io/ssa: IfNotPresent: Flux created it once and never updates it",
        );
    }
    if let Some(stays) = ignored(ctx, owner, &d.object, pointer) {
        return stays;
    }
    if git_sets {
        // Every field Git sets is in the apply payload, applied with
        // `client.ForceOwnership` whenever the dry-run differs from the live
        // object (`Apply`/`ApplyAll`, `hasDrifted`, manager_apply.go): the
        // value comes back whoever changed it.
        return Reverts::undone(
            applying.code(RevertCode::FluxApplies),
            format!(
                "Kustomization {owner} applies Git's value with forced ownership {}",
                applying.when()
            ),
            applying.within,
        );
    }
    let live = live_at(ctx.live, key);
    match live {
        Some(live) => extra_field(live, &d.object, pointer, owner, &applying),
        None => uncertain(format!("{key} was not found live")),
    }
}

/// A field or list item only the live object has. Server-side apply removes
/// a field from the object when the applier owned it and no longer sends
/// it, and no other manager owns it; it never touches fields it does not
/// own. Before each apply kustomize-controller hands itself the fields of
/// managers whose name starts with `kubectl` (operation Apply or Update),
/// `before-first-apply` and its own pre-SSA `kustomize-controller` Update
/// entries, unless the object is marked `ssa: Merge` (`fieldManagers` and
/// `Cleanup.Exclusions` in `apply`, kustomization_controller.go;
/// `PatchReplaceFieldsManagers`, patch.go, matches by prefix and skips
/// subresource entries). So `kubectl edit`, `kubectl patch`, `kubectl set`,
/// `kubectl label` and client-side `kubectl apply` additions are dropped;
/// an operator's or another tool's stay.
fn extra_field(
    live: &Value,
    desired: &Value,
    pointer: &str,
    owner: &KustomizationRef,
    applying: &Applying,
) -> Reverts {
    let owners = owners(live, pointer);
    if owners.is_empty() {
        return uncertain(format!(
            "no field manager owns {pointer} in managedFields, so what Flux's apply does with it cannot be told"
        ));
    }
    if let Some(other) = owners.iter().find(|o| o.side() == Side::Other) {
        return Reverts::stays(
            RevertCode::OtherManager,
            format!(
                "Git does not set it and {} owns it, a manager Flux neither owns nor takes over: server-side apply leaves its fields alone",
                other.describe()
            ),
        );
    }
    let merge = has_opt(desired, "ssa", "Merge") || has_opt(live, "ssa", "Merge");
    if let Some(kubectl) = owners.iter().find(|o| o.side() == Side::Cleaned)
        && merge
    {
        return Reverts::stays(
            RevertCode::SsaMerge,
            format!(
                "Git does not set it and {} owns it; the object is marked kustomize.toolkit.fluxcd.io/ssa: Merge, so Flux keeps other managers' fields",
                kubectl.describe()
            ),
        );
    }
    let others: Vec<String> = owners
        .iter()
        .filter(|o| o.side() == Side::Cleaned)
        .map(Owner::describe)
        .collect();
    let why = if others.is_empty() {
        format!(
            "Flux applied it and Git no longer sets it: the next apply of Kustomization {owner} removes it"
        )
    } else {
        format!(
            "Git does not set it and {} owns it: Kustomization {owner} takes that manager's fields over and its apply drops them",
            others.join(" and ")
        )
    };
    Reverts::undone(
        applying.code(RevertCode::FluxRemoves),
        format!("{why} {}", applying.when()),
        applying.within.clone(),
    )
}

/// A desired object absent live: the next apply creates it (the dry-run of
/// an absent object is a create, `ApplyAll` in manager_apply.go; an
/// `ssa: IfNotPresent` object is skipped only when it exists,
/// `shouldSkipApply`).
fn missing(ctx: &Context<'_>, key: &ObjectKey) -> Reverts {
    let Some(d) = desired_object(ctx, key) else {
        return uncertain(format!("{key} is not declared in Git"));
    };
    let Some(owner) = &d.kustomization else {
        return uncertain("no Flux Kustomization in the repository applies it".to_owned());
    };
    match applies(ctx, owner, 0) {
        Ok(a) => Reverts::undone(
            a.code(RevertCode::FluxCreates),
            format!("Kustomization {owner} creates it again {}", a.when()),
            a.within,
        ),
        Err(stays) => stays,
    }
}

/// A live object Git does not declare. Flux deletes only what it applied:
/// objects of the Kustomization's last inventory (`status.inventory`) that
/// the new build lacks (`inventory.Diff` then `prune`,
/// kustomization_controller.go), and only with `spec.prune: true`, only
/// when the object still carries the Kustomization's owner labels and is
/// not marked `prune: disabled` or `reconcile: disabled` (`DeleteOptions`
/// `Inclusions`/`Exclusions`, manager_delete.go).
fn unmanaged(ctx: &Context<'_>, key: &ObjectKey) -> Reverts {
    let Some(obj) = live_at(ctx.live, key) else {
        return uncertain(format!("{key} was not found live"));
    };
    let name = meta_str(obj, "labels", "kustomize.toolkit.fluxcd.io/name");
    let namespace = meta_str(obj, "labels", "kustomize.toolkit.fluxcd.io/namespace");
    let (Some(name), Some(namespace)) = (name, namespace) else {
        return Reverts::stays(
            RevertCode::NotInInventory,
            "no Flux Kustomization applied it (it has no kustomize.toolkit.fluxcd.io/name and /namespace labels), and Flux never deletes what it did not apply",
        );
    };
    let owner = KustomizationRef {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let Some(ks) = live_at(ctx.live, &kustomization_key(&owner)) else {
        return uncertain(format!(
            "its labels name Kustomization {owner}, whose inventory was not read"
        ));
    };
    if !in_inventory(ks, key) {
        return Reverts::stays(
            RevertCode::NotInInventory,
            format!(
                "it is not in the inventory of Kustomization {owner} (its labels were copied or set by hand), and Flux never deletes what it did not apply"
            ),
        );
    }
    if ks.pointer("/spec/prune").and_then(Value::as_bool) != Some(true) {
        return Reverts::stays(
            RevertCode::PruneDisabled,
            format!(
                "Kustomization {owner} applied it but has spec.prune off: Flux drops it from the inventory and never deletes it"
            ),
        );
    }
    if has_opt(obj, "prune", "disabled") || has_opt(obj, "reconcile", "disabled") {
        return Reverts::stays(
            RevertCode::PruneDisabled,
            "it is marked kustomize.toolkit.fluxcd.io/prune: disabled (or reconcile: disabled): garbage collection skips it",
        );
    }
    match applies(ctx, &owner, 0) {
        Ok(a) if a.prune_failed => uncertain(format!(
            "Kustomization {owner} failed its last garbage collection (PruneFailed)"
        )),
        Ok(a) => Reverts::undone(
            a.code(RevertCode::FluxPrunes),
            format!(
                "Kustomization {owner} applied it and Git no longer declares it: garbage collection (spec.prune) deletes it {}",
                a.when()
            ),
            a.within,
        ),
        Err(stays) => stays,
    }
}

/// Whether Kustomization `owner` applies at its next reconcile, read from
/// its live object; `Err` is the answer for drift under it when it does not.
fn applies(ctx: &Context<'_>, owner: &KustomizationRef, depth: usize) -> Result<Applying, Reverts> {
    let Some(ks) = live_at(ctx.live, &kustomization_key(owner)) else {
        return Err(if ctx.kustomizations_read {
            uncertain(format!("Kustomization {owner} does not exist live"))
        } else {
            uncertain("Flux Kustomizations were not read".to_owned())
        });
    };
    // A suspended Kustomization returns before anything is applied
    // (`if obj.Spec.Suspend`, Reconcile in kustomization_controller.go).
    let suspended = ks.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    if !suspended {
        return readiness(ks, owner);
    }
    let staying = Reverts::stays(
        RevertCode::Suspended,
        format!(
            "Kustomization {owner} is suspended: Flux applies nothing under it until someone resumes it"
        ),
    );
    if depth >= MAX_DEPTH {
        return Err(staying);
    }
    // Its suspension may itself be drift its parent undoes: when Git says
    // `suspend: false` the parent's forced apply resumes it, and the spec
    // change (a new generation) makes it reconcile at once.
    let key = kustomization_key(owner);
    let git_sets = desired_object(ctx, &key)
        .and_then(|d| d.object.pointer("/spec/suspend"))
        .map(|v| v == &Value::Bool(false));
    let resume = match git_sets {
        Some(false) => return Err(staying), // Git itself suspends it.
        Some(true) => field(ctx, &key, "/spec/suspend", true, depth + 1),
        None => field(ctx, &key, "/spec/suspend", false, depth + 1),
    };
    if !resume.reverts {
        return Err(staying);
    }
    let parent = desired_object(ctx, &key)
        .and_then(|d| d.kustomization.as_ref())
        .map_or_else(|| "its parent".to_owned(), |p| format!("Kustomization {p}"));
    let mut applying = readiness(ks, owner)?;
    applying.within = resume.within;
    applying.resumed = Some(format!(
        "{parent} resumes the suspended Kustomization {owner} (Git does not suspend it)"
    ));
    Ok(applying)
}

/// What the `Ready` condition says about the next reconcile. Reasons are
/// kustomize-controller's (`meta.*Reason` in Reconcile and reconcile,
/// kustomization_controller.go): a failed health check or garbage
/// collection comes after the apply, so the apply still happens, and is
/// retried every `spec.retryInterval` (`GetRetryInterval`, default
/// `spec.interval`); every other failure (`BuildFailed`, `ArtifactFailed`,
/// `ReconciliationFailed`, `DependencyNotReady`, …) returns before or
/// during the apply, so nothing is applied until it is fixed.
fn readiness(ks: &Value, owner: &KustomizationRef) -> Result<Applying, Reverts> {
    let interval = spec_str(ks, "interval");
    let retry = spec_str(ks, "retryInterval").or_else(|| interval.clone());
    let ready = ks
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| {
            c.iter()
                .find(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
        });
    let Some(ready) = ready else {
        return Err(uncertain(format!(
            "Kustomization {owner} has not reported a Ready condition yet"
        )));
    };
    let status = ready
        .get("status")
        .and_then(Value::as_str)
        .unwrap_or("Unknown");
    let reason = ready.get("reason").and_then(Value::as_str).unwrap_or("");
    match (status, reason) {
        ("True", _) => Ok(Applying {
            within: interval,
            resumed: None,
            prune_failed: false,
        }),
        ("False", "HealthCheckFailed" | "PruneFailed") => Ok(Applying {
            within: retry,
            resumed: None,
            prune_failed: reason == "PruneFailed",
        }),
        ("False", _) => Err(Reverts::stays(
            RevertCode::KustomizationFailing,
            format!(
                "Kustomization {owner} is failing ({}): Flux applies nothing under it until it reconciles successfully",
                if reason.is_empty() {
                    "Ready=False"
                } else {
                    reason
                }
            ),
        )),
        _ => Err(uncertain(format!(
            "Kustomization {owner} is reconciling (Ready={status}{})",
            if reason.is_empty() {
                String::new()
            } else {
                format!(" {reason}")
            }
        ))),
    }
}

/// The Kustomization's drift ignore rules (`spec.ignore`: JSON pointers,
/// optionally for a `target` selected by regular expressions anchored at
/// both ends, or by label/annotation selectors): an ignored path is left
/// out of drift detection and of the apply payload, so Flux never corrects
/// it (CRD `kustomize.toolkit.fluxcd.io_kustomizations.yaml` at
/// kustomize-controller `186fb3b`; fluxcd/pkg `ssa/jsondiff/selector.go`
/// for the target, `ssa/manager_apply_ignore_test.go` for a rule on a map
/// covering the keys below it). Label and annotation selectors are not
/// evaluated here: such a rule gives an uncertain answer.
fn ignored(
    ctx: &Context<'_>,
    owner: &KustomizationRef,
    desired: &Value,
    pointer: &str,
) -> Option<Reverts> {
    let ks = live_at(ctx.live, &kustomization_key(owner))?;
    let rules = ks.pointer("/spec/ignore")?.as_array()?;
    for rule in rules {
        let Some(path) = rule
            .get("paths")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|p| covers(p, pointer))
        else {
            continue;
        };
        let matched = match rule.get("target") {
            None | Some(Value::Null) => Ok(true),
            Some(target) => target_matches(target, desired),
        };
        match matched {
            Ok(true) => {
                return Some(Reverts::stays(
                    RevertCode::DriftIgnored,
                    format!(
                        "Kustomization {owner} ignores {path} (spec.ignore): Flux neither detects nor corrects it"
                    ),
                ));
            }
            Ok(false) => {}
            Err(why) => {
                return Some(uncertain(format!(
                    "Kustomization {owner} has an ignore rule for {path} whose target {why}"
                )));
            }
        }
    }
    None
}

/// Whether ignore path `rule` is `pointer` or one of its parents.
fn covers(rule: &str, pointer: &str) -> bool {
    let rule = rule.trim_end_matches('/');
    rule.is_empty()
        || pointer == rule
        || pointer
            .strip_prefix(rule)
            .is_some_and(|r| r.starts_with('/'))
}

/// An ignore rule's `target` against the object Flux applies; `Err` says
/// why it cannot be decided.
fn target_matches(target: &Value, obj: &Value) -> Result<bool, String> {
    for selector in ["labelSelector", "annotationSelector"] {
        if target
            .get(selector)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
        {
            return Err(format!(
                "selects by {selector}, which flotilla does not evaluate"
            ));
        }
    }
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let meta = |k: &str| {
        obj.pointer(&format!("/metadata/{k}"))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    let fields = [
        ("group", group),
        ("version", version),
        (
            "kind",
            obj.get("kind").and_then(Value::as_str).unwrap_or(""),
        ),
        ("name", meta("name")),
        ("namespace", meta("namespace")),
    ];
    for (field, value) in fields {
        let Some(pattern) = target
            .get(field)
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
        else {
            continue;
        };
        let re = regex::Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|_| format!("has a {field} pattern that is not a valid regular expression"))?;
        if !re.is_match(value) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Which side of Flux's cleanup a managedFields entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// kustomize-controller's own apply.
    Flux,
    /// A manager whose fields kustomize-controller takes over before it
    /// applies (see [`extra_field`]).
    Cleaned,
    /// Anyone else: an operator, a controller, a subresource write.
    Other,
}

/// A managedFields entry that owns a field.
struct Owner<'a> {
    manager: &'a str,
    operation: &'a str,
    subresource: &'a str,
}

impl Owner<'_> {
    fn side(&self) -> Side {
        if !self.subresource.is_empty() {
            return Side::Other;
        }
        let m = self.manager;
        match self.operation {
            "Apply" if m == FLUX_MANAGER => Side::Flux,
            "Apply" if m.starts_with("kubectl") => Side::Cleaned,
            "Update"
                if m.starts_with("kubectl")
                    || m.starts_with("before-first-apply")
                    || m.starts_with(FLUX_MANAGER) =>
            {
                Side::Cleaned
            }
            _ => Side::Other,
        }
    }

    fn describe(&self) -> String {
        match (self.operation, self.subresource) {
            (op, "") if !op.is_empty() => format!("{} ({op})", self.manager),
            (op, sub) if !sub.is_empty() => format!("{} ({op}, subresource {sub})", self.manager),
            _ => self.manager.to_owned(),
        }
    }
}

/// The managedFields entries that own the node at `pointer` in `live`, or
/// something below it; when none does, those owning its nearest owned
/// ancestor (a leaf such as an atomic list). `fieldsV1` spells map keys
/// `f:<key>`, list items `k:<merge key json>`, `v:<value json>` or
/// `i:<index>`, and `.` for the item itself (as in [`super::ownership`],
/// which blames one manager; here every owner counts).
fn owners<'a>(live: &'a Value, pointer: &str) -> Vec<Owner<'a>> {
    let tokens: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let entries = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut full = Vec::new();
    let mut ancestors: Vec<(usize, Owner<'a>)> = Vec::new();
    for entry in entries {
        let Some(fields) = entry.get("fieldsV1").and_then(Value::as_object) else {
            continue;
        };
        let text = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
        let owner = Owner {
            manager: text("manager"),
            operation: text("operation"),
            subresource: text("subresource"),
        };
        match walk(fields, live, &tokens) {
            Walk::Reached => full.push(owner),
            Walk::Leaf(depth) => ancestors.push((depth, owner)),
            Walk::Missed => {}
        }
    }
    if !full.is_empty() {
        return full;
    }
    let deepest = ancestors.iter().map(|(d, _)| *d).max().unwrap_or(0);
    ancestors
        .into_iter()
        .filter(|(d, _)| *d == deepest)
        .map(|(_, o)| o)
        .collect()
}

/// How far one manager's field set reaches along a path.
enum Walk {
    /// It has the node itself (owns it or something below it).
    Reached,
    /// It owns an ancestor as a whole, `depth` tokens down.
    Leaf(usize),
    /// It owns nothing on the path.
    Missed,
}

fn walk(fields: &Map<String, Value>, live: &Value, tokens: &[String]) -> Walk {
    let mut node = fields;
    let mut value = Some(live);
    let mut leaf = None;
    for (depth, token) in tokens.iter().enumerate() {
        let child = match value {
            Some(Value::Array(items)) => {
                let index: Option<usize> = token.parse().ok();
                let item = index.and_then(|i| items.get(i));
                value = item;
                index.and_then(|i| find_item(node, item, i))
            }
            v => {
                value = v.and_then(|v| v.get(token.as_str()));
                node.get(&format!("f:{token}"))
            }
        };
        let Some(child) = child.and_then(Value::as_object) else {
            return leaf.map_or(Walk::Missed, Walk::Leaf);
        };
        if child.is_empty() || child.contains_key(".") {
            leaf = Some(depth + 1);
        }
        node = child;
    }
    Walk::Reached
}

/// Whether `id` (`<namespace>_<name>_<group>_<kind>`, the format of
/// `status.inventory.entries[].id`, fluxcd/cli-utils `ObjMetadata.String`)
/// of `key` is in a Kustomization's inventory.
fn in_inventory(ks: &Value, key: &ObjectKey) -> bool {
    let id = format!(
        "{}_{}_{}_{}",
        key.namespace.as_deref().unwrap_or(""),
        key.name,
        key.group,
        key.kind
    );
    ks.pointer("/status/inventory/entries")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| e.get("id").and_then(Value::as_str) == Some(id.as_str()))
}

/// A `kustomize.toolkit.fluxcd.io/<name>` label or annotation with `value`,
/// compared as Flux does (`AnyInMetadata`, ssa/utils/meta.go: either map,
/// case-insensitive).
fn has_opt(obj: &Value, name: &str, value: &str) -> bool {
    let key = format!("{KUSTOMIZE_GROUP}/{name}");
    ["labels", "annotations"]
        .iter()
        .any(|m| meta_str(obj, m, &key).is_some_and(|v| v.eq_ignore_ascii_case(value)))
}

fn desired_object<'a>(ctx: &Context<'a>, key: &ObjectKey) -> Option<&'a DesiredObject> {
    let i = ctx.desired_by_key.get(key)?;
    ctx.desired.objects.get(*i)
}

fn kustomization_key(k: &KustomizationRef) -> ObjectKey {
    ObjectKey {
        group: KUSTOMIZE_GROUP.to_owned(),
        kind: "Kustomization".to_owned(),
        namespace: Some(k.namespace.clone()),
        name: k.name.clone(),
    }
}

fn spec_str(obj: &Value, field: &str) -> Option<String> {
    obj.get("spec")?.get(field)?.as_str().map(str::to_owned)
}

fn uncertain(why: String) -> Reverts {
    Reverts::stays(RevertCode::Uncertain, format!("uncertain: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ks(name: &str, spec: Value, ready: Value) -> Value {
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
               "metadata": {"namespace": "flux-system", "name": name},
               "spec": spec, "status": {"conditions": [ready]}})
    }

    fn ready() -> Value {
        json!({"type": "Ready", "status": "True", "reason": "ReconciliationSucceeded"})
    }

    fn apps() -> KustomizationRef {
        KustomizationRef {
            namespace: "flux-system".into(),
            name: "apps".into(),
        }
    }

    fn check(live_ks: Value) -> Result<Applying, Reverts> {
        let key = kustomization_key(&apps());
        let live = HashMap::from([(key, &live_ks)]);
        let desired = Desired::default();
        let ctx = Context {
            desired: &desired,
            desired_by_key: &HashMap::new(),
            live: &live,
            kustomizations_read: true,
        };
        applies(&ctx, &apps(), 0)
    }

    #[test]
    fn ready_applies_within_interval_and_failing_health_within_retry() {
        let a = check(ks(
            "apps",
            json!({"interval": "10m", "retryInterval": "2m"}),
            ready(),
        ))
        .unwrap();
        assert_eq!(a.within.as_deref(), Some("10m"));
        let health = json!({"type": "Ready", "status": "False", "reason": "HealthCheckFailed"});
        let a = check(ks(
            "apps",
            json!({"interval": "10m", "retryInterval": "2m"}),
            health,
        ))
        .unwrap();
        assert_eq!(a.within.as_deref(), Some("2m"));
    }

    #[test]
    fn build_failures_suspension_and_progress_stay() {
        let failing = json!({"type": "Ready", "status": "False", "reason": "BuildFailed"});
        let r = check(ks("apps", json!({"interval": "10m"}), failing))
            .err()
            .unwrap();
        assert_eq!(r.code, RevertCode::KustomizationFailing);
        assert!(r.reason.contains("BuildFailed"), "{}", r.reason);
        let r = check(ks(
            "apps",
            json!({"interval": "10m", "suspend": true}),
            ready(),
        ))
        .err()
        .unwrap();
        assert_eq!(r.code, RevertCode::Suspended);
        let progressing = json!({"type": "Ready", "status": "Unknown", "reason": "Progressing"});
        let r = check(ks("apps", json!({"interval": "10m"}), progressing))
            .err()
            .unwrap();
        assert_eq!(r.code, RevertCode::Uncertain);
        assert!(r.reason.starts_with("uncertain: "));
    }

    #[test]
    fn managers_are_sorted_by_what_flux_does_with_them() {
        let side = |manager, operation, subresource| {
            Owner {
                manager,
                operation,
                subresource,
            }
            .side()
        };
        assert_eq!(side("kustomize-controller", "Apply", ""), Side::Flux);
        for m in [
            "kubectl-edit",
            "kubectl-patch",
            "kubectl-set",
            "kubectl-label",
            "kubectl-client-side-apply",
            "kubectl",
        ] {
            assert_eq!(side(m, "Update", ""), Side::Cleaned, "{m}");
        }
        assert_eq!(side("kubectl", "Apply", ""), Side::Cleaned);
        assert_eq!(side("before-first-apply", "Update", ""), Side::Cleaned);
        assert_eq!(side("kubectl", "Update", "scale"), Side::Other);
        assert_eq!(side("istio-operator", "Update", ""), Side::Other);
        assert_eq!(side("helm-controller", "Apply", ""), Side::Other);
    }

    #[test]
    fn owners_of_a_keyed_item_and_of_an_atomic_ancestor() {
        let live = json!({
            "metadata": {"managedFields": [
                {"manager": "kustomize-controller", "operation": "Apply",
                 "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {".": {}, "f:env": {
                     "k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}}, "f:args": {}}}}}},
                {"manager": "kubectl-edit", "operation": "Update",
                 "fieldsV1": {"f:spec": {"f:containers": {"k:{\"name\":\"app\"}": {"f:env": {
                     "k:{\"name\":\"DEBUG\"}": {".": {}, "f:name": {}, "f:value": {}}}}}}}}
            ]},
            "spec": {"containers": [{"name": "app", "args": ["a"], "env": [{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "1"}]}]}
        });
        let o = owners(&live, "/spec/containers/0/env/1");
        assert_eq!(
            o.iter().map(|o| o.manager).collect::<Vec<_>>(),
            ["kubectl-edit"]
        );
        let o = owners(&live, "/spec/containers/0/args/0");
        assert_eq!(
            o.iter().map(|o| o.manager).collect::<Vec<_>>(),
            ["kustomize-controller"]
        );
        assert!(owners(&live, "/spec/other").is_empty());
    }

    #[test]
    fn ignore_paths_cover_their_children_and_targets_are_anchored() {
        assert!(covers("/spec/replicas", "/spec/replicas"));
        assert!(covers(
            "/metadata/annotations",
            "/metadata/annotations/a~1b"
        ));
        assert!(!covers("/spec/rep", "/spec/replicas"));
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web-1", "namespace": "a"}});
        assert_eq!(
            target_matches(&json!({"kind": "Deployment", "name": "web-.*"}), &obj),
            Ok(true)
        );
        assert_eq!(target_matches(&json!({"kind": "Deploy"}), &obj), Ok(false));
        assert_eq!(
            target_matches(&json!({"group": "apps", "version": "v1"}), &obj),
            Ok(true)
        );
        assert!(target_matches(&json!({"labelSelector": "app=web"}), &obj).is_err());
        assert!(target_matches(&json!({"name": "("}), &obj).is_err());
    }

    /// Desired objects owned by Kustomizations, and live objects, as the
    /// diff hands them to [`annotate`].
    struct World {
        desired: Desired,
        desired_by_key: HashMap<ObjectKey, usize>,
        live: Vec<Value>,
    }

    impl World {
        fn new(desired: Vec<(Value, &str)>, live: Vec<Value>) -> World {
            let objects: Vec<DesiredObject> = desired
                .into_iter()
                .map(|(object, owner)| DesiredObject {
                    object,
                    kustomization: Some(KustomizationRef {
                        namespace: "flux-system".into(),
                        name: owner.into(),
                    }),
                })
                .collect();
            let desired_by_key = objects
                .iter()
                .enumerate()
                .map(|(i, d)| (ObjectKey::of(&d.object).unwrap(), i))
                .collect();
            World {
                desired: Desired {
                    objects,
                    ..Desired::default()
                },
                desired_by_key,
                live,
            }
        }

        fn field(&self, key: &ObjectKey, pointer: &str, git_sets: bool) -> Reverts {
            let live = self
                .live
                .iter()
                .map(|o| (ObjectKey::of(o).unwrap(), o))
                .collect();
            let ctx = Context {
                desired: &self.desired,
                desired_by_key: &self.desired_by_key,
                live: &live,
                kustomizations_read: true,
            };
            field(&ctx, key, pointer, git_sets, 0)
        }
    }

    fn deployment(annotations: Value, env_owner: &str) -> (Value, Value) {
        let git = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"namespace": "a", "name": "web", "annotations": annotations},
            "spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "A", "value": "1"}]}]}}}});
        let mut live = git.clone();
        live["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "1"}, {"name": "DEBUG", "value": "1"}]);
        let env = |item: &str| {
            json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {"f:env": {
                format!("k:{{\"name\":\"{item}\"}}"): {".": {}, "f:name": {}, "f:value": {}}}}}}}}})
        };
        live["metadata"]["managedFields"] = json!([
            {"manager": "kustomize-controller", "operation": "Apply", "fieldsV1": env("A")},
            {"manager": env_owner, "operation": "Update", "fieldsV1": env("DEBUG")}
        ]);
        (git, live)
    }

    fn web() -> ObjectKey {
        ObjectKey::of(&json!({"apiVersion": "apps/v1", "kind": "Deployment",
                              "metadata": {"namespace": "a", "name": "web"}}))
        .unwrap()
    }

    const DEBUG_ENV: &str = "/spec/template/spec/containers/0/env/1";

    #[test]
    fn an_item_git_does_not_set_reverts_only_when_flux_takes_its_owner_over() {
        let apps = ks("apps", json!({"interval": "5m"}), ready());
        for (owner, annotations, code) in [
            ("kubectl-edit", json!({}), RevertCode::FluxRemoves),
            (
                "kubectl-client-side-apply",
                json!({}),
                RevertCode::FluxRemoves,
            ),
            ("kustomize-controller", json!({}), RevertCode::FluxRemoves),
            ("app-operator", json!({}), RevertCode::OtherManager),
            (
                "kubectl-edit",
                json!({"kustomize.toolkit.fluxcd.io/ssa": "merge"}),
                RevertCode::SsaMerge,
            ),
        ] {
            let (git, live) = deployment(annotations, owner);
            let world = World::new(vec![(git, "apps")], vec![apps.clone(), live]);
            let r = world.field(&web(), DEBUG_ENV, false);
            assert_eq!(r.code, code, "{owner}: {}", r.reason);
            assert_eq!(r.reverts, code == RevertCode::FluxRemoves, "{owner}");
            assert_eq!(r.within.is_some(), r.reverts, "{owner}");
        }
    }

    #[test]
    fn if_not_present_objects_are_never_updated() {
        let (git, live) = deployment(
            json!({"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}),
            "kubectl-edit",
        );
        let world = World::new(
            vec![(git, "apps")],
            vec![ks("apps", json!({"interval": "5m"}), ready()), live],
        );
        let r = world.field(&web(), "/spec/template/spec/containers/0/env/0/value", true);
        assert_eq!((r.reverts, r.code), (false, RevertCode::IfNotPresent));
    }

    #[test]
    fn a_suspended_child_is_resumed_by_its_parent_only_when_git_says_so() {
        let child_git = |suspend: Value| {
            json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                   "metadata": {"namespace": "flux-system", "name": "child"},
                   "spec": {"interval": "10m", "suspend": suspend}})
        };
        let child_live = ks(
            "child",
            json!({"interval": "10m", "suspend": true}),
            ready(),
        );
        let (git, live) = deployment(json!({}), "kubectl-edit");
        let image = "/spec/template/spec/containers/0/env/0/value";
        let world = |suspend: Value, parent: Value| {
            World::new(
                vec![(git.clone(), "child"), (child_git(suspend), "parent")],
                vec![parent, child_live.clone(), live.clone()],
            )
        };
        let parent = ks("parent", json!({"interval": "1h"}), ready());
        let r = world(json!(false), parent.clone()).field(&web(), image, true);
        assert_eq!(
            (r.reverts, r.code),
            (true, RevertCode::FluxResumes),
            "{}",
            r.reason
        );
        assert_eq!(r.within.as_deref(), Some("1h"));
        let r = world(json!(true), parent).field(&web(), image, true);
        assert_eq!((r.reverts, r.code), (false, RevertCode::Suspended));
        let suspended_parent = ks(
            "parent",
            json!({"interval": "1h", "suspend": true}),
            ready(),
        );
        let r = world(json!(false), suspended_parent).field(&web(), image, true);
        assert_eq!((r.reverts, r.code), (false, RevertCode::Suspended));
    }

    #[test]
    fn inventory_ids_name_namespace_group_and_kind() {
        let live = json!({"status": {"inventory": {"entries": [
            {"id": "a_web_apps_Deployment", "v": "v1"},
            {"id": "_reader_rbac.authorization.k8s.io_ClusterRole", "v": "v1"}]}}});
        let key = |ns: Option<&str>, name: &str, group: &str, kind: &str| ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        };
        assert!(in_inventory(
            &live,
            &key(Some("a"), "web", "apps", "Deployment")
        ));
        assert!(in_inventory(
            &live,
            &key(None, "reader", "rbac.authorization.k8s.io", "ClusterRole")
        ));
        assert!(!in_inventory(&live, &key(Some("a"), "web", "", "Service")));
    }
}
