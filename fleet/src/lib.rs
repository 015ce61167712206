//! The flotilla fleet model: read a fleet spec, apply defaults and overrides,
//! validate it, and hand the generator a [`Fleet`] it can render without
//! deciding anything.
//!
//! Data flows one way: YAML files → [`spec`] (serde mirror, spans kept) →
//! [`model`] (resolved, validated). Reading the spec files is this crate's
//! only I/O.

pub mod model;

pub use model::*;
