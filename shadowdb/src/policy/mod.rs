//! SQL policy engine (placeholder until written).

/// Policy errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// Placeholder.
    #[error("policy: {0}")]
    Invalid(String),
}
