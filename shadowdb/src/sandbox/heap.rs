//! The ceiling on SQLite's heap, shared by every sandbox of the process.
//!
//! SQLite has no per-connection heap limit: `sqlite3_hard_heap_limit64` is
//! process-wide, and it counts every connection of the one SQLite linked in,
//! sqlx's connections to a SQLite production database too. So while
//! sandboxes are open the ceiling is the sum of their SQLite shares
//! ([`crate::Limits::memory_budget`] less their result budget) plus
//! [`RESERVE`] for everything else of SQLite (production connections' page
//! caches, prepared statements); when the last sandbox closes, the limit
//! the process had before is restored. An allocation past the ceiling fails
//! inside SQLite with `SQLITE_NOMEM`, which the statement reports as
//! [`crate::Error::MemoryLimit`]: nothing aborts.
//!
//! One sandbox's temporary work (a sort, a `UNION`'s distinct rows) can use
//! the share another open sandbox does not use at that moment; its data is
//! held to its own budget by the page count.

use std::sync::Mutex;

/// SQLite memory beyond the sandboxes' budgets: production connections
/// (sqlx keeps a page cache of about 2 MiB each) and statements.
pub const RESERVE: u64 = 64 << 20;

struct Ceiling {
    /// The sum of the shares of the open sandboxes.
    shares: u64,
    /// Open sandboxes.
    open: usize,
    /// The limit the process had before the first sandbox opened.
    before: i64,
}

static CEILING: Mutex<Ceiling> = Mutex::new(Ceiling {
    shares: 0,
    open: 0,
    before: 0,
});

/// Sets SQLite's hard heap limit (`n > 0`), or removes it (`0`), and gives
/// the one it replaced; `-1` only reads it.
#[allow(unsafe_code)]
fn hard_heap_limit(n: i64) -> i64 {
    // SAFETY: `sqlite3_hard_heap_limit64` takes and returns a plain integer
    // and serializes itself on SQLite's memory mutex; it touches no memory
    // of ours. No safe wrapper exists: rusqlite has none, and `PRAGMA
    // hard_heap_limit` can only lower the limit, never raise it again when
    // a second sandbox opens or restore it when the last one closes.
    unsafe { rusqlite::ffi::sqlite3_hard_heap_limit64(n) }
}

/// One sandbox's share of the ceiling, given back when dropped.
#[derive(Debug)]
pub(crate) struct HeapShare(u64);

impl HeapShare {
    /// Raises the ceiling by `bytes` for as long as the share lives.
    pub(crate) fn take(bytes: u64) -> HeapShare {
        if let Ok(mut c) = CEILING.lock() {
            if c.open == 0 {
                c.before = hard_heap_limit(-1);
            }
            c.open += 1;
            c.shares = c.shares.saturating_add(bytes);
            apply(&c);
        }
        HeapShare(bytes)
    }
}

impl Drop for HeapShare {
    fn drop(&mut self) {
        if let Ok(mut c) = CEILING.lock() {
            c.open = c.open.saturating_sub(1);
            c.shares = c.shares.saturating_sub(self.0);
            if c.open == 0 {
                hard_heap_limit(c.before);
            } else {
                apply(&c);
            }
        }
    }
}

fn apply(c: &Ceiling) {
    let ceiling = i64::try_from(c.shares.saturating_add(RESERVE)).unwrap_or(i64::MAX);
    // A limit the process set lower than the sandboxes need stays: it was
    // somebody's decision, and a lower ceiling only makes failures earlier.
    let limit = if c.before > 0 {
        ceiling.min(c.before)
    } else {
        ceiling
    };
    hard_heap_limit(limit);
}

/// The current ceiling in bytes (0: none).
#[cfg(test)]
pub(crate) fn current() -> i64 {
    hard_heap_limit(-1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_raises_the_ceiling_while_it_lives() {
        // Other tests' sandboxes hold shares too: the ceiling is at least ours.
        let big = 1 << 40;
        let share = HeapShare::take(big);
        assert!(current() >= i64::try_from(big + RESERVE).unwrap_or(i64::MAX));
        drop(share);
        assert!(current() < i64::try_from(big).unwrap_or(i64::MAX));
    }
}
