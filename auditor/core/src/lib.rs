//! flotilla-core: the pure core of the audit.
//!
//! Everything here is a function of its arguments: no I/O, no async, no
//! clock, no process. The crate depends on serde and a few pure crates only
//! (no kube, tokio, hyper, git2 or octocrab), and `core/clippy.toml` forbids
//! `std::fs`, `std::net` and `std::process`, so "the diff does no I/O" is a
//! dependency edge and a lint, not a sentence.
//!
//! - [`desired`], [`live`]: the model the renderer (`flotilla-render`) and
//!   the live reader (`flotilla-live`) produce and the diff reads.
//! - [`object`]: object identity ([`object::ObjectKey`]).
//! - [`diff`] → [`findings`] → [`report`] (text, JSON, markdown, HTML).
//! - [`adopt`]: the edits that make Git say what the cluster runs (file
//!   writes are the caller's).
//! - [`secret`]: Secret values sealed before anything compares or prints them.
//! - [`quantity`], [`duration`]: Kubernetes quantities and Go durations,
//!   exactly; the fleet spec and the serve config read them with these.
//! - [`stats`]: what an audit cost, and its printer.

pub mod adopt;
pub mod desired;
pub mod diff;
pub mod duration;
pub mod findings;
pub mod live;
pub mod object;
pub mod quantity;
pub mod report;
pub mod secret;
pub mod stats;
