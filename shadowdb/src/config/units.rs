//! Numbers of the file with a meaning: counts, sizes and durations, checked
//! where they are read, with the key in the message.

use std::time::Duration;

use toml::Spanned;

use super::{ConfigError, ConfigFile, Scalar};

impl ConfigFile {
    /// A whole number of at least 0.
    pub(crate) fn count(&self, value: &Spanned<Scalar>, what: &str) -> Result<u64, ConfigError> {
        let n = self.integer(value, what)?;
        u64::try_from(n).map_err(|_| {
            self.error(
                &value.span(),
                &format!("{what} must be a whole number >= 0"),
            )
        })
    }

    /// A whole number of at least 1.
    pub(crate) fn positive(&self, value: &Spanned<Scalar>, what: &str) -> Result<u64, ConfigError> {
        let n = self.integer(value, what)?;
        u64::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
            self.error(
                &value.span(),
                &format!("{what} must be a whole number >= 1"),
            )
        })
    }

    fn integer(&self, value: &Spanned<Scalar>, what: &str) -> Result<i64, ConfigError> {
        match value.get_ref() {
            Scalar::Integer(n) => Ok(*n),
            Scalar::Text(_) => Err(self.error(
                &value.span(),
                &format!("{what} must be an integer, not a string"),
            )),
            Scalar::Other(kind) => Err(self.error(
                &value.span(),
                &format!("{what} must be an integer, not {kind}"),
            )),
        }
    }

    /// [`Self::positive`] as a `usize`.
    pub(crate) fn positive_usize(
        &self,
        value: &Spanned<Scalar>,
        what: &str,
    ) -> Result<usize, ConfigError> {
        let n = self.positive(value, what)?;
        usize::try_from(n).map_err(|_| self.error(&value.span(), &format!("{what} is too large")))
    }

    /// A size in bytes: a whole number, or a string such as `"512 MiB"`,
    /// `"64KiB"`, `"1GiB"` (`KB`, `MB`, `GB` are powers of 1000).
    pub(crate) fn bytes(&self, value: &Spanned<Scalar>, what: &str) -> Result<u64, ConfigError> {
        let n = match value.get_ref() {
            Scalar::Integer(i) => u64::try_from(*i).ok(),
            Scalar::Text(s) => parse_bytes(s),
            Scalar::Other(kind) => {
                return Err(self.error(
                    &value.span(),
                    &format!(
                        "{what} must be a size (bytes, or a string like \"512 MiB\"), not {kind}"
                    ),
                ));
            }
        };
        n.filter(|n| *n > 0).ok_or_else(|| {
            self.error(
                &value.span(),
                &format!(
                    "{what} is not a size: write bytes (1048576) or a string like \"64 KiB\", \
                     \"512 MiB\", \"1 GiB\" (more than zero)"
                ),
            )
        })
    }

    /// [`Self::bytes`] as a `usize`.
    pub(crate) fn size(&self, value: &Spanned<Scalar>, what: &str) -> Result<usize, ConfigError> {
        let n = self.bytes(value, what)?;
        usize::try_from(n).map_err(|_| self.error(&value.span(), &format!("{what} is too large")))
    }

    /// A duration: whole seconds, or a string such as `"90s"`, `"5m"`, `"1h30m"`.
    pub(crate) fn duration(
        &self,
        value: &Spanned<Scalar>,
        what: &str,
    ) -> Result<Duration, ConfigError> {
        let d = match value.get_ref() {
            Scalar::Integer(i) => u64::try_from(*i).ok().map(Duration::from_secs),
            Scalar::Text(s) => parse_duration(s),
            Scalar::Other(kind) => {
                return Err(self.error(
                    &value.span(),
                    &format!(
                        "{what} must be a duration (seconds, or a string like \"5m\"), not {kind}"
                    ),
                ));
            }
        };
        d.filter(|d| !d.is_zero()).ok_or_else(|| {
            self.error(
                &value.span(),
                &format!(
                    "{what} is not a duration: write whole seconds (300) or a string like \
                     \"90s\", \"5m\", \"1h30m\" (more than zero)"
                ),
            )
        })
    }
}

/// `"512 MiB"`, `"64KiB"`, `"1 GiB"`, `"10 MB"`, `"4096"`: a number and an
/// optional unit (`B`, `KiB`, `MiB`, `GiB`, or `KB`, `MB`, `GB` for powers of 1000).
pub(crate) fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n.parse().ok()?;
    let unit: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// `"90s"`, `"5m"`, `"1h30m"`, `"500ms"`, `"2 days"`: numbers each followed
/// by a unit (`ms`, `s`, `m`, `h`, `d` and their words); a bare number is seconds.
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(digits);
        let n: u64 = number.parse().ok()?;
        let after = after.trim_start();
        let letters = after
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        let unit = match unit.to_ascii_lowercase().as_str() {
            "ms" | "msec" | "msecs" | "millisecond" | "milliseconds" => Duration::from_millis(1),
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "mins" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86_400),
            _ => return None,
        };
        total = total.checked_add(unit.checked_mul(u32::try_from(n).ok()?)?)?;
        rest = after.trim_start();
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("1 GiB"), Some(1 << 30));
        assert_eq!(parse_bytes("64KiB"), Some(64 << 10));
        assert_eq!(parse_bytes("10 MB"), Some(10_000_000));
        assert_eq!(parse_bytes("12"), Some(12));
        assert_eq!(parse_bytes("12 parsecs"), None);
    }

    #[test]
    fn durations() {
        let d = |s: &str| parse_duration(s).map(|d| d.as_millis());
        assert_eq!(d("300"), Some(300_000));
        assert_eq!(d("90s"), Some(90_000));
        assert_eq!(d("5m"), Some(300_000));
        assert_eq!(d("1h30m"), Some(5_400_000));
        assert_eq!(d("1h 30min"), Some(5_400_000));
        assert_eq!(d("500ms"), Some(500));
        assert_eq!(d("2 days"), Some(172_800_000));
        for bad in ["", "m", "5x", "5m3", "-5s", "1.5h"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }
}
