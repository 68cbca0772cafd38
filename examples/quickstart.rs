//! Quickstart (to be written).
fn main() {}
