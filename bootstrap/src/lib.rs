//! Fleet model → Flux v2 GitOps repository.
//!
//! [`render`] is a pure function from a [`flotilla_fleet::Fleet`] to a
//! [`Tree`]; [`plan`] compares a tree with what is on disk, and [`write`]
//! applies the plan atomically. Only files whose first line is the
//! generated-file [`header`] are ever rewritten or deleted, and only in an
//! output directory flotilla may own ([`out_dir`]).

pub mod crds;
pub mod error;
pub mod header;
pub mod out_dir;
pub mod plan;
pub mod render;
pub mod tree;
pub mod watch;
pub mod write;

pub use error::{Error, Result};
pub use plan::{Plan, plan};
pub use render::{render, render_cluster};
pub use tree::Tree;
pub use write::{Summary, apply};
