//! `Row`: named columns in order, each with a [`Value`].

use std::sync::Arc;

use crate::value::Value;

/// A row: column names in order, each with its value.
///
/// Column names are shared (`Arc`) between rows of one result, so a million
/// rows do not hold a million copies of the same names.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    columns: Arc<[Box<str>]>,
    values: Vec<Value>,
}

impl Row {
    /// An empty row.
    #[must_use]
    pub fn new() -> Self {
        Row {
            columns: Arc::from(Vec::<Box<str>>::new()),
            values: Vec::new(),
        }
    }

    /// A row over shared column names. Missing values are `NULL`; surplus ones
    /// are dropped, so a row never has a value without a name.
    #[must_use]
    pub fn with_columns(columns: Arc<[Box<str>]>, mut values: Vec<Value>) -> Self {
        values.resize(columns.len(), Value::Null);
        Row { columns, values }
    }

    /// Appends a column (or replaces the value of one of the same name).
    pub fn push(&mut self, name: impl Into<Box<str>>, value: impl Into<Value>) {
        let name = name.into();
        let value = value.into();
        if let Some(i) = self.position(&name) {
            if let Some(slot) = self.values.get_mut(i) {
                *slot = value;
            }
            return;
        }
        let mut columns: Vec<Box<str>> = self.columns.iter().cloned().collect();
        columns.push(name);
        self.columns = Arc::from(columns);
        self.values.push(value);
    }

    /// Builder form of [`Row::push`].
    #[must_use]
    pub fn with(mut self, name: impl Into<Box<str>>, value: impl Into<Value>) -> Self {
        self.push(name, value);
        self
    }

    /// The value of a column, if the row has it.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.position(name).and_then(|i| self.values.get(i))
    }

    /// The index of a column.
    #[must_use]
    pub fn position(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| &**c == name)
    }

    /// Column names in order.
    pub fn columns(&self) -> impl ExactSizeIterator<Item = &str> {
        self.columns.iter().map(|c| &**c)
    }

    /// The shared column names.
    #[must_use]
    pub fn column_names(&self) -> &Arc<[Box<str>]> {
        &self.columns
    }

    /// Values in column order.
    #[must_use]
    pub fn values(&self) -> &[Value] {
        &self.values
    }

    /// Mutable values in column order (names stay fixed).
    pub fn values_mut(&mut self) -> &mut [Value] {
        &mut self.values
    }

    /// `(name, value)` pairs in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.columns.iter().map(|c| &**c).zip(self.values.iter())
    }

    /// Number of columns.
    #[must_use]
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the row has no columns.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Takes the values out.
    #[must_use]
    pub fn into_values(self) -> Vec<Value> {
        self.values
    }
}

impl Default for Row {
    fn default() -> Self {
        Row::new()
    }
}

impl<N: Into<Box<str>>, V: Into<Value>> FromIterator<(N, V)> for Row {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        let mut columns = Vec::new();
        let mut values = Vec::new();
        for (n, v) in iter {
            columns.push(n.into());
            values.push(v.into());
        }
        Row {
            columns: Arc::from(columns),
            values,
        }
    }
}
