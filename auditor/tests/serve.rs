//! The `flotilla serve` loop, HTTP endpoints, config, schedule and backoff.
