//! Leaf codecs of values: exact decimals, the text forms of dates, times
//! and floats, the limits a production column declares for what it stores,
//! and what "the tenant's value" means. Nothing here reaches a database.

use safemodel::Value;

pub(crate) mod datetime;
pub(crate) mod decimal;
pub(crate) mod declared;
pub(crate) mod float;
mod key;

pub use key::Key;

/// Tenant equality: exact, but an integer tenant also matches a decimal or
/// text tenant column holding the same number/text form.
pub(crate) fn tenant_eq(value: &Value, tenant: &Value) -> bool {
    match (value, tenant) {
        (Value::Decimal(d), Value::Int(i)) | (Value::Int(i), Value::Decimal(d)) => {
            safemodel::Decimal::new(i.to_string()).is_ok_and(|x| &x == d)
        }
        _ => value == tenant,
    }
}
