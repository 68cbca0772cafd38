//! The text of a float: the shortest that reads back as the same double,
//! shared by the driver layer (a float read into a decimal column) and the
//! declared-limits check.

/// Shortest decimal text of a double that reads back as the same double.
pub(crate) fn format_float(x: f64) -> String {
    let s = format!("{x:?}");
    s.strip_suffix(".0")
        .map_or_else(|| s.clone(), str::to_owned)
}
