//! Git (git2) and GitHub (octocrab) access: check out, fetch, commit and
//! push a fleet repository; pull requests, comments and statuses; which
//! remote URLs are accepted and how credentials are kept out of messages.
pub mod branch;
pub mod commit;
pub mod git;
pub mod github;
pub mod local;
pub mod pr;
pub mod remote;
pub mod retry;
