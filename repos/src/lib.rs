//! placeholder
pub mod branch;
pub mod commit;
pub mod git;
pub mod github;
pub mod local;
pub mod pr;
