//! End-to-end test helpers.
pub mod github_double;
pub mod replay;
