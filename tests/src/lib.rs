//! Test-only package; the tests are its `[[test]]` targets.
