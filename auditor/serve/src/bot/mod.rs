//! The drift PR bot behind `flotilla serve`: a [`runner::Runner`] that
//! the service loop drives (fetch, audit, publish), and the per-cluster
//! pull-request logic in [`drift_pr`].

pub mod drift_pr;
pub mod runner;

pub use runner::{BuildError, Runner, RunnerOptions};
