//! The `shadowdb` command line.
fn main() {}
