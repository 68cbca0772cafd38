//! Connecting to production, and the URL it is reached by with its
//! passwords redacted: every message and log that names the database goes
//! through [`redact_url`].

use super::Production;
use crate::error::{Error, Result};

impl Production {
    /// Connects to `url` (`postgres://`, `mysql://`/`mariadb://`, `sqlite:`).
    ///
    /// # Errors
    /// [`Error::Config`] for an unknown scheme, [`Error::Database`] when the
    /// connection fails (the URL's password is never part of the error).
    pub async fn connect(url: &str) -> Result<Production> {
        let scheme = url.split(':').next().unwrap_or("");
        let context = format!("connecting to {}", redact_url(url));
        match scheme {
            "postgres" | "postgresql" => sqlx::postgres::PgPoolOptions::new()
                .max_connections(4)
                .connect(url)
                .await
                .map(Production::Postgres)
                .map_err(|e| Error::database(context, e)),
            "mysql" | "mariadb" => {
                let url = url.replacen("mariadb:", "mysql:", 1);
                sqlx::mysql::MySqlPoolOptions::new()
                    .max_connections(4)
                    .connect(&url)
                    .await
                    .map(Production::MySql)
                    .map_err(|e| Error::database(context, e))
            }
            "sqlite" => sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(4)
                .connect(url)
                .await
                .map(Production::Sqlite)
                .map_err(|e| Error::database(context, e)),
            _ => Err(Error::Config(format!(
                "unsupported database URL scheme `{scheme}:` (use postgres://, mysql://, mariadb:// or sqlite:)"
            ))),
        }
    }
}

/// `url` with its passwords replaced by `***`, for messages and logs: the
/// password of `user:password@`, and the values of query parameters that
/// hold secrets (`password=`, `sslpassword=`, any key naming a pass, pwd,
/// secret, token or auth), percent-encoded or not; a fragment is dropped.
///
/// A password may hold `/`, `?`, `#` or `@` where a URL parser would end the
/// user part early. Every way of reading the URL is considered; when the
/// text shown would still hold one reading's password, only the scheme,
/// host, port and database are shown, and when even those would, only the
/// scheme.
#[must_use]
pub fn redact_url(url: &str) -> String {
    // Each secret and its pieces between URL delimiters: a reading that ends
    // a password early must not show its remainder either.
    let mut secrets = url_passwords(url);
    let pieces: Vec<String> = secrets
        .iter()
        .flat_map(|s| s.split(['@', '/', '?', '#', '&', ';', '=', ':']))
        .filter(|p| p.len() >= 2)
        .map(str::to_owned)
        .collect();
    secrets.extend(pieces);
    let clean = |text: &str| !secrets.iter().any(|s| text.contains(s.as_str()));
    let Some((scheme, rest)) = url.split_once("://") else {
        // `sqlite:data.db`, `sqlite::memory:`: no user part.
        // Without `//` nothing is a user part, so an `@` may end one: a
        // `user:password@host/db` with its scheme left out reads as the
        // scheme `user` and the path `password@host/db`.
        let shown = match url.split_once(':') {
            Some((scheme, _)) if is_scheme(scheme) && url.contains('@') => {
                "(a database URL)".to_owned()
            }
            Some((scheme, path)) if is_scheme(scheme) => {
                let (path, query) = split_query(path);
                format!("{scheme}:{path}{}", redact_query(query))
            }
            _ => "(not a database URL)".to_owned(),
        };
        return if clean(&shown) {
            shown
        } else {
            "(a database URL)".to_owned()
        };
    };
    // As a URL parser reads it: the authority ends at the first `/`, `?`, `#`.
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let (user, host) = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => (format!("{user}:***@"), host),
            None => (format!("{userinfo}@"), host),
        },
        None => (String::new(), authority),
    };
    let tail = tail.split('#').next().unwrap_or("");
    let (path, query) = split_query(tail);
    let shown = format!("{scheme}://{user}{host}{path}{}", redact_query(query));
    // An `@` after the authority: a password holding `/`, `?` or `#` that
    // ended the authority early (or an `@` in a parameter: shown short too).
    let at_after = rest.rfind('@').is_some_and(|at| at >= authority_end);
    if clean(&shown) && !at_after {
        return shown;
    }
    // Unsure: the host, port and database after the last `@`, nothing else.
    let after = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let (host, tail) = after.split_at(after.find(['/', '?', '#']).unwrap_or(after.len()));
    let database = tail
        .strip_prefix('/')
        .map(|t| t.split(['?', '#']).next().unwrap_or(""))
        .map(|db| format!("/{db}"))
        .unwrap_or_default();
    let shown = format!("{scheme}://***@{host}{database}");
    if clean(&shown) {
        shown
    } else {
        format!("{scheme}://***")
    }
}

/// Every text of `url` that may be a secret, under every reading of it: the
/// password of the user part as a URL parser reads it and as a person may
/// have meant it (up to the last `@`), and the values of secret query
/// parameters; each as written and percent-decoded, longest first.
#[must_use]
pub fn url_passwords(url: &str) -> Vec<String> {
    let mut raw: Vec<&str> = Vec::new();
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    if url.contains("://") {
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        for userinfo in [
            authority.rsplit_once('@').map(|(u, _)| u),
            rest.rsplit_once('@').map(|(u, _)| u),
        ]
        .into_iter()
        .flatten()
        {
            if let Some((_, password)) = userinfo.split_once(':') {
                raw.push(password);
            }
        }
    }
    // Query parameters wherever a `?` may start them.
    for (i, _) in url.match_indices('?') {
        let query = url.get(i + 1..).unwrap_or("");
        let query = query.split('#').next().unwrap_or("");
        for pair in query.split(['&', ';']) {
            if let Some((key, value)) = pair.split_once('=')
                && is_secret_key(key)
            {
                raw.push(value);
            }
        }
    }
    let mut out: Vec<String> = Vec::new();
    for r in raw.into_iter().filter(|r| !r.is_empty()) {
        let decoded = percent_decode(r);
        if decoded != r && !decoded.is_empty() {
            out.push(decoded);
        }
        out.push(r.to_owned());
    }
    out.sort_by_key(|s| std::cmp::Reverse(s.len()));
    out.dedup();
    out
}

fn is_scheme(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

fn split_query(text: &str) -> (&str, &str) {
    match text.find('?') {
        Some(i) => text.split_at(i),
        None => (text, ""),
    }
}

/// Whether a query parameter holds a secret (`password`, `sslpassword`,
/// `passfile` too: better hidden than not). Key files (`sslkey`) are paths.
fn is_secret_key(key: &str) -> bool {
    let key = percent_decode(key).to_ascii_lowercase();
    ["pass", "pwd", "secret", "token", "auth"]
        .iter()
        .any(|s| key.contains(s))
}

/// `query` (empty, or from its `?`) with secret values replaced by `***`.
fn redact_query(query: &str) -> String {
    let Some(pairs) = query.strip_prefix('?') else {
        return String::new();
    };
    let pairs: Vec<String> = pairs
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("?{}", pairs.join("&"))
}

/// `%XX` decoded (other bytes as they are); invalid UTF-8 replaced.
pub(crate) fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b, hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
