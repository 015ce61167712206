//! The diff engine: `(Desired, Live) → Findings`, with no I/O, no async and no clock.
