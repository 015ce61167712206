//! flotilla-auditor: the audit and the preview, wired from the parts.
//!
//! Data flows one way: repository → `flotilla-render` (desired state);
//! cluster or snapshot → `flotilla-live` (live state); (desired, live) →
//! `flotilla-core` (diff → findings → reports). This crate runs that flow
//! for many clusters at once ([`audit`], with [`targets`], [`progress`] and
//! the run's statistics) and for a pull request's two revisions
//! ([`preview`], with the CRD validator in [`schema`]). It also holds
//! [`cluster_objects`], where the renderer's `substituteFrom` lookups are
//! answered from the live cluster or a snapshot: the one place that needs
//! both the renderer and the live reader, so those two stay independent.
//!
//! Audit and preview share one crate because the preview is an audit of two
//! revisions (it reuses the audit's rendering, its not-rendered accounting
//! and its progress reporting); `flotilla-serve` and the binary build on it.

pub mod audit;
pub mod cluster_objects;
pub mod preview;
pub mod progress;
pub mod schema;
pub mod targets;
