//! Printers: each takes a [`crate::findings::Report`] and a writer.
//!
//! [`text`] for terminals, [`json`] for machines (a documented contract),
//! [`markdown`] for pull request bodies and issues, [`html`] for a file to
//! keep or mail and for the service's fleet page.

pub mod html;
pub mod json;
pub mod line_diff;
pub mod markdown;
pub mod summary;
pub mod text;
