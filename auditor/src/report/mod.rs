//! Printers: each takes a [`crate::findings::Report`] and a writer.
