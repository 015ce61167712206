//! The `flotilla` package as a library: the wiring that is more than flag
//! parsing, so end-to-end tests can drive it without spawning the binary.
//! The binary (`src/main.rs`, `src/commands/`) stays a thin dispatcher.

pub mod bot;
