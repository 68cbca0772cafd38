//! Cloning: each scoped table's tenant rows streamed from production into
//! the sandbox, production read on a task of its own while the sandbox loads.

use std::collections::HashMap;
use std::sync::Mutex;

use safemodel::Value;

use super::lock;
use crate::error::{Error, Result};
use crate::model;
use crate::prod::{self, Production};
use crate::sandbox::Sandbox;
use crate::scope::Scoped;

/// Rows streamed from production per sandbox insert batch.
const CLONE_BATCH: usize = 2_000;

/// Streams one table's tenant rows into the sandbox; PII columns are not read.
/// Production is read and decoded on a task of its own while this one loads
/// the sandbox, so the two overlap.
pub(super) async fn clone_table(
    prod: &Production,
    s: &Scoped,
    i: usize,
    tenant: &Value,
    sandbox: &Mutex<Sandbox>,
) -> Result<(u64, prod::Digests)> {
    let read: Vec<model::ColumnSchema> = s
        .columns_with_pii()
        .filter(|(_, pii)| !*pii)
        .map(|(c, _)| c.clone())
        .collect();
    let filter = s.tenant_column().map(|tc| (tc.clone(), tenant.clone()));
    let (tx, mut rx) = tokio::sync::mpsc::channel(CLONE_QUEUE);
    // Loaded batches go back to the reader to be filled again.
    let (back, mut spare) = tokio::sync::mpsc::unbounded_channel();
    // PII columns are never read; production's digest of each is, to guard
    // them against lost updates at commit.
    let digests = prod::Digests {
        cols: s.pii_columns().cloned().collect(),
        key_at: s
            .key_columns()
            .filter_map(|k| read.iter().position(|c| c.name == k.name))
            .collect(),
        by_key: HashMap::new(),
    };
    let (prod, schema) = (prod.clone(), s.schema.clone());
    let mut reader = AbortOnDrop(tokio::spawn(async move {
        let cols: Vec<&model::ColumnSchema> = read.iter().collect();
        let filter = filter.as_ref().map(|(c, v)| (c, v));
        prod::clone_rows(
            &prod,
            &schema,
            &cols,
            filter,
            CLONE_BATCH,
            &tx,
            &mut spare,
            digests,
        )
        .await
    }));
    // An error here drops the reader, which stops it.
    while let Some(mut rows) = rx.recv().await {
        lock(sandbox)?.load(i, &rows)?;
        rows.clear();
        // The reader may be done and gone: then the batch is simply dropped.
        let _ = back.send(rows);
    }
    (&mut reader.0)
        .await
        .map_err(|e| Error::Sandbox(format!("the clone of {} stopped: {e}", s.schema.name)))?
}

/// Batches of cloned rows in flight between the reader and the sandbox.
const CLONE_QUEUE: usize = 4;

/// A task that is stopped when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}
