//! placeholder
pub mod github;
pub mod pr;
