//! Wall-time durations (placeholder, being written).
