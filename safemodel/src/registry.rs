//! Every derived contract, by table name, without manual wiring.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use crate::error::{Error, Result, RowViolations};
use crate::model::{CheckOptions, SafeModel, TableInfo};
use crate::row::Row;

/// What `#[derive(SafeModel)]` registers for its type.
#[derive(Debug)]
pub struct Model {
    info: fn() -> &'static TableInfo,
    check_row: fn(&Row, CheckOptions) -> std::result::Result<(), RowViolations>,
}

impl Model {
    /// The registration of `M` (used by the derive).
    #[must_use]
    pub const fn of<M: SafeModel>() -> Self {
        Model {
            info: M::info,
            check_row: M::check_row,
        }
    }

    /// The contract.
    #[must_use]
    pub fn info(&self) -> &'static TableInfo {
        (self.info)()
    }

    /// Every violation of `row` under this contract.
    ///
    /// # Errors
    /// All violations of the row.
    pub fn check_row(
        &self,
        row: &Row,
        options: CheckOptions,
    ) -> std::result::Result<(), RowViolations> {
        (self.check_row)(row, options)
    }
}

inventory::collect!(Model);

/// The contracts of this program, by table.
#[derive(Debug)]
pub struct Registry {
    by_table: BTreeMap<&'static str, Vec<&'static Model>>,
}

/// The registry of every `#[derive(SafeModel)]` linked into this program.
pub fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut by_table: BTreeMap<&'static str, Vec<&'static Model>> = BTreeMap::new();
        for model in inventory::iter::<Model> {
            by_table.entry(model.info().table).or_default().push(model);
        }
        Registry { by_table }
    })
}

impl Registry {
    /// The contract of `table`, or `None` when there is none.
    ///
    /// # Errors
    /// [`Error::DuplicateModel`] when two types claim the table.
    pub fn get(&self, table: &str) -> Result<Option<&'static Model>> {
        match self.by_table.get(table).map(Vec::as_slice) {
            None | Some([]) => Ok(None),
            Some([one]) => Ok(Some(*one)),
            Some([first, second, ..]) => Err(duplicate(table, first, second)),
        }
    }

    /// Validates `row` against the contract of `table` (strict options).
    ///
    /// # Errors
    /// [`Error::UnknownTable`], [`Error::DuplicateModel`], or [`Error::Violations`].
    pub fn validate(&self, table: &str, row: &Row) -> Result<()> {
        let model = self.get(table)?.ok_or_else(|| Error::UnknownTable {
            table: table.to_owned(),
        })?;
        model
            .check_row(row, CheckOptions::strict())
            .map_err(Error::Violations)
    }

    /// The tables that have a contract.
    pub fn tables(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_table.keys().copied()
    }

    /// Checks that no table has two contracts.
    ///
    /// # Errors
    /// The first [`Error::DuplicateModel`] found.
    pub fn check(&self) -> Result<()> {
        for (table, models) in &self.by_table {
            if let [first, second, ..] = models.as_slice() {
                return Err(duplicate(table, first, second));
            }
        }
        Ok(())
    }
}

fn duplicate(table: &str, first: &Model, second: &Model) -> Error {
    let (mut a, mut b) = (first.info().type_name, second.info().type_name);
    // Link order decides inventory's order; sort so the message is stable.
    if b < a {
        std::mem::swap(&mut a, &mut b);
    }
    Error::DuplicateModel {
        table: table.to_owned(),
        first: a,
        second: b,
    }
}
