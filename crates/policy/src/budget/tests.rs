//! Unit tests of the budget modules, one file each under `tests/`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cost;
mod ledger;
mod money;
mod wide;
mod windows;
