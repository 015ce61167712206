//! placeholder
pub mod commit;
pub mod github;
pub mod pr;
pub mod git;
