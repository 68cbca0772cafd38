//! Leaf codecs of values: exact decimals, and the limits a production column
//! declares for what it stores.

pub(crate) mod decimal;
pub(crate) mod declared;
