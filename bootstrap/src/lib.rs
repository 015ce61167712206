//! Fleet model → Flux v2 GitOps repository.
//!
//! [`render`] is a pure function from a [`flotilla_fleet::Fleet`] to a
//! [`Tree`]; [`plan`] compares a tree with what is on disk, and [`write`]
//! applies the plan atomically. Only files that carry the generated-file
//! [`header`] are ever rewritten or deleted.

pub mod header;
pub mod tree;

pub use tree::Tree;
