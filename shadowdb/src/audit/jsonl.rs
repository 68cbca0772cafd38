//! The JSON Lines file sink, and queries over such a file.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;

use super::{AuditEvent, AuditQuery, AuditSink};
use crate::error::{Error, Result};

/// Appends one JSON object per line to a file; each event is written with a
/// single `write` and flushed, and commit, commit-failure and rollback events
/// are synced to disk (`fsync`) before `record` returns.
#[derive(Debug, Clone)]
pub struct JsonlSink {
    path: PathBuf,
    file: Arc<Mutex<File>>,
}

fn io_error(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::Audit {
        context,
        source: Some(e),
    }
}

impl JsonlSink {
    /// Opens `path` for appending, creating it (and syncing its directory,
    /// so the new file survives a crash) when it does not exist.
    ///
    /// # Errors
    /// [`Error::Audit`] when the file cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let existed = path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(format!("opening {}", path.display())))?;
        if !existed {
            sync_dir(&path);
        }
        Ok(JsonlSink {
            path,
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// The file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The events of the file that match `query`.
    ///
    /// # Errors
    /// See [`query_jsonl`].
    pub fn query(&self, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
        query_jsonl(&self.path, query)
    }
}

/// Best effort: a directory that cannot be opened (not Unix) is not synced.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

impl AuditSink for JsonlSink {
    fn record<'a>(&'a self, event: &'a AuditEvent) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let mut line = event.to_json()?;
            line.push('\n');
            let sync = event.kind.is_commit_point();
            let file = Arc::clone(&self.file);
            let context = format!("writing {}", self.path.display());
            let ctx = context.clone();
            tokio::task::spawn_blocking(move || {
                let mut file = file.lock().unwrap_or_else(PoisonError::into_inner);
                file.write_all(line.as_bytes())
                    .and_then(|()| file.flush())
                    .and_then(|()| if sync { file.sync_all() } else { Ok(()) })
                    .map_err(io_error(ctx))
            })
            .await
            .map_err(|_| Error::Audit {
                context,
                source: None,
            })?
        })
    }
}

/// The events of the JSON Lines file at `path` that match `query`, in file
/// order. A last line without its newline (a write cut short by a crash) is
/// skipped; a missing file holds no events.
///
/// # Errors
/// [`Error::Audit`] when the file cannot be read or a complete line is not
/// an event (the message gives its number).
pub fn query_jsonl(path: impl AsRef<Path>, query: &AuditQuery) -> Result<Vec<AuditEvent>> {
    let path = path.as_ref();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_error(format!("opening {}", path.display()))(e)),
    };
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut line = String::new();
    let mut number = 0_usize;
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .map_err(io_error(format!("reading {}", path.display())))?;
        if n == 0 || !line.ends_with('\n') {
            break;
        }
        number += 1;
        let text = line.trim_end();
        if text.is_empty() {
            continue;
        }
        let event: AuditEvent = serde_json::from_str(text).map_err(|e| Error::Audit {
            // serde's message can quote the value; the position cannot.
            context: format!(
                "line {number} of {} is not an audit event (at column {})",
                path.display(),
                e.column()
            ),
            source: None,
        })?;
        if query.matches(&event) {
            out.push(event);
        }
    }
    Ok(out)
}
