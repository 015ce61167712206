//! `--output json`: the machine-readable audit report, a documented contract.
//!
//! One pretty-printed JSON document per run (keys in the order below):
//!
//! ```json
//! {
//!   "version": 1,
//!   "clusters": [
//!     {
//!       "cluster": "aks-eastus2-01",
//!       "revision": "main@sha1:255b0055ca13d40194cd337ea7d45cd55e568f93",
//!       "findings": [
//!         {
//!           "class": "modified",
//!           "apiVersion": "apps/v1",
//!           "kind": "DaemonSet",
//!           "namespace": "cluster-baseline-settings",
//!           "name": "kured",
//!           "kustomization": "flux-system/kured",
//!           "paths": [
//!             {
//!               "path": "/spec/template/spec/containers/0/image",
//!               "field": "spec.template.spec.containers[name=kured].image",
//!               "desired": "acraksbaseline01.azurecr.io/kubereboot/kured:1.15.0",
//!               "live": "acraksbaseline01.azurecr.io/kubereboot/kured:1.16.0",
//!               "manager": "kubectl-set",
//!               "time": "2026-11-21T04:52:03Z",
//!               "reverts": {
//!                 "reverts": true,
//!                 "code": "flux-resumes",
//!                 "reason": "Kustomization flux-system/kured applies Git's value with forced ownership once Kustomization flux-system/flux-system resumes the suspended Kustomization flux-system/kured (Git does not suspend it)",
//!                 "within": "10m"
//!               }
//!             }
//!           ]
//!         }
//!       ],
//!       "errors": [],
//!       "notes": ["…"]
//!     }
//!   ]
//! }
//! ```
//!
//! - `version` (number): format version, currently `1`
//!   ([`crate::findings::REPORT_VERSION`]). Renaming or removing a field, or
//!   changing its meaning, bumps it; adding a field does not.
//! - `clusters[]`: one entry per audited cluster, in the order given.
//!   - `cluster` (string): cluster name.
//!   - `revision` (string or null): Git revision audited, Flux style
//!     (`main@sha1:<hex>`, or `sha1:<hex>` when detached).
//!   - `findings[]`: sorted by `class` (in the order below), `kind`,
//!     `namespace`, `name`. Empty means no drift.
//!     - `class`: `modified` (a field Git sets differs live), `missing`
//!       (desired object absent live), `unmanaged` (live object in a
//!       governed namespace that Git does not account for),
//!       `flux-unhealthy` (Flux object whose `Ready` condition is not
//!       `True`), `flux-suspended` (Flux object with `spec.suspend: true`),
//!       `flux-stale` (Flux object that applied another revision than the
//!       audited one).
//!     - `apiVersion`, `kind`, `name` (strings); `namespace` (string, or
//!       null for cluster-scoped objects).
//!     - `kustomization` (string or null): the Flux Kustomization that
//!       applies the object, `namespace/name`; null for unmanaged objects.
//!     - `paths[]` (`modified` only; omitted otherwise): one per changed field.
//!       - `path`: RFC 6901 JSON pointer into the *live* object (list indices
//!         are live indices; `-` when a list item Git defines is absent live).
//!       - `field`: the same field for people, list items named by merge key
//!         (`containers[name=kured]`), map keys that are not identifiers
//!         quoted (`data["traefik.toml"]`).
//!       - `desired`: the value Git sets (as written in Git, e.g. `"0.5"`
//!         where the server says `500m`); `"***"` for secret data.
//!       - `live`: the live value, null when absent; `"***"` for secret data.
//!       - `manager` (string or null): the field manager that owns the live
//!         field (or its nearest owned parent) in `managedFields`: who changed it.
//!       - `time` (string or null): when that manager last wrote (RFC 3339).
//!       - `sensitive` (bool, omitted when false): values are masked.
//!       - `reverts`: whether the next Flux reconciliation undoes this
//!         change (below).
//!     - `manager` (`unmanaged` only; omitted otherwise): the field manager
//!       that created the object, e.g. `kubectl-create`.
//!     - `reverts` (`missing` and `unmanaged` only; omitted otherwise, and
//!       on `modified` findings, whose paths carry it): whether the next
//!       reconciliation of the owning Flux Kustomization undoes the drift
//!       (re-creates the object, prunes it). An object:
//!       - `reverts` (bool): `true` when Flux undoes it by itself, `false`
//!         when it stays until someone acts — also when flotilla cannot
//!         tell, and then `reason` starts with `uncertain:`.
//!       - `code`: `flux-applies`, `flux-removes`, `flux-creates`,
//!         `flux-prunes`, `flux-resumes` (undone), or `suspended`,
//!         `kustomization-failing`, `if-not-present`, `drift-ignored`,
//!         `other-manager`, `ssa-merge`, `not-in-inventory`,
//!         `prune-disabled`, `uncertain` (stays); see the README's drift
//!         rules.
//!       - `reason` (string): the same for people, naming the Kustomization.
//!       - `within` (string, only when `reverts` is true): the latest delay,
//!         the Kustomization's `spec.interval` (or `spec.retryInterval`
//!         while its health checks fail) as Flux writes it, e.g. `10m`.
//!     - `condition` (`flux-unhealthy` and `flux-stale` only; omitted
//!       otherwise): `type`, `status`, `reason`, `message`. For
//!       `flux-unhealthy` the object's `Ready` condition; for `flux-stale`
//!       `type: Revision`, `status: Stale`, and the two revisions in `message`.
//!   - `errors[]` (strings): what stopped (part of) this cluster's audit;
//!     a cluster with errors may have incomplete findings.
//!   - `notes[]` (strings, omitted when empty): limits of the audit that are
//!     not errors (e.g. HelmRelease charts not rendered).
//! - `stats` (only with `--stats`): what the audit cost. `wallMs`,
//!   `kustomizeBuilds`, `kustomizeCacheHits` (this run's), `peakMemoryBytes`
//!   (the process's `VmHWM`; omitted where unknown), and `clusters[]` in the
//!   report's order: `cluster`, `renderMs`, `liveReadMs`, `diffMs` (each
//!   omitted when the audit stopped before that step), `requests` (0 for a
//!   snapshot), `requestsBy[]` of `{verb, resource, count}` (`get
//!   discovery`, `get openapi`, `list pods`, `list deployments.apps`, …;
//!   omitted when empty), `objects` `{desired, live, compared}`. Times are
//!   milliseconds; they differ from run to run, which is why `stats` is not
//!   part of the report by default.
//!
//! No secret value, plain, base64 or hashed, ever appears in the report.

use crate::findings::Report;
use crate::stats::RunStats;
use schemars::JsonSchema;
use serde::Serialize;
use std::io::{self, Write};

/// The document `--output json` prints: the report, and `stats` after
/// `clusters` when asked. Its JSON Schema ([`schema`]) is published as
/// `docs/report.schema.json`.
#[derive(Serialize, JsonSchema)]
#[schemars(
    title = "flotilla audit report",
    description = "What `flotilla audit --output json` prints (report version 1)."
)]
struct Document<'a> {
    #[serde(flatten)]
    report: &'a Report,
    /// What the audit cost; only with `--stats`.
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a RunStats>,
}

/// Print the report as pretty JSON, with a final newline.
pub fn print(report: &Report, w: &mut dyn Write) -> io::Result<()> {
    print_with_stats(report, None, w)
}

/// The report with, when given, a top-level `stats` object after
/// `clusters` (`--stats`; see [`crate::stats`]). Readers that decode a
/// [`Report`] ignore it.
pub fn print_with_stats(
    report: &Report,
    stats: Option<&RunStats>,
    w: &mut dyn Write,
) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, &Document { report, stats })?;
    writeln!(w)
}

/// The JSON Schema (draft 2020-12) of what [`print_with_stats`] writes,
/// derived from the report's types as serialised (fields omitted when
/// empty are optional, `null`able ones say so), so that it cannot drift
/// from them. `docs/report.schema.json` is this schema; a test in
/// `tests/tests/golden.rs` keeps the two equal and validates the golden
/// JSON reports against it.
pub fn schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<Document<'static>>()
}
