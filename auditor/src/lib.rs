//! The flotilla drift auditor.
//!
//! Data flows one way: repo → [`desired`]; cluster → [`live`];
//! (desired, live) → [`diff`] → [`findings`] → [`report`].

pub mod adopt;
pub mod audit;
pub mod desired;
pub mod diff;
pub mod findings;
pub mod live;
pub mod object;
pub mod preview;
pub mod progress;
pub mod report;
pub mod schema;
pub mod secret;
#[cfg(feature = "serve")]
pub mod serve;
pub mod stats;
pub mod targets;
