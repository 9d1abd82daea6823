//! Unit tests of the budget modules, one file each under `tests/`.

mod cost;
mod ledger;
mod money;
mod wide;
mod windows;
