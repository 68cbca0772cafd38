//! Exact decimals: the shape of a decimal text (how many integer and
//! fractional digits it really has), and exact arithmetic on decimal text.
//!
//! SQLite computes `+ - *` in 64-bit floats, which keep about 15 significant
//! digits. The sandbox offers these functions instead (see
//! `sandbox_decimal`), so an agent has an exact way to compute on
//! `numeric`/`DECIMAL` columns. Operands are bounded ([`MAX_DIGITS`]), so a
//! function call is bounded in time and memory like every statement.

use std::cmp::Ordering;

/// Most digits an operand or a result may have (integer and fractional
/// digits together). PostgreSQL's own `numeric` text is bounded too; this
/// keeps a multiplication at most a million digit products.
pub(crate) const MAX_DIGITS: usize = 1000;

/// Why a decimal function refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// Not decimal text (`'abc'`, `NaN`, `Infinity`).
    NotDecimal,
    /// More than [`MAX_DIGITS`] digits.
    TooLong,
}

impl std::fmt::Display for DecimalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecimalError::NotDecimal => f.write_str("not decimal text"),
            DecimalError::TooLong => write!(f, "more than {MAX_DIGITS} digits"),
        }
    }
}

/// How many digits a decimal text really has, exponent applied and
/// insignificant zeros dropped: `001.2300e1` has 2 integer digits and 1
/// fractional digit (`12.3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// The value is below zero.
    pub negative: bool,
    /// Digits before the point (0 for `0.5`).
    pub int_digits: u64,
    /// Digits after the point up to the last non-zero one.
    pub frac_digits: u64,
    /// Significant digits, from the first to the last non-zero one.
    pub significant: u64,
    /// The power of ten of the last significant digit (`1200` -> 2,
    /// `0.05` -> -2; 0 for zero).
    pub power: i128,
}

/// The [`Shape`] of decimal text (sign, digits, optional fraction and
/// exponent); `None` for anything else (`NaN`, `Infinity`).
pub(crate) fn shape(text: &str) -> Option<Shape> {
    let (negative, body) = split_sign(text);
    let (mantissa, exp) = split_exponent(body)?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = || int_part.bytes().chain(frac_part.bytes());
    let total = i128::try_from(int_part.len() + frac_part.len()).ok()?;
    let leading = i128::try_from(digits().take_while(|b| *b == b'0').count()).ok()?;
    if leading == total {
        return Some(Shape {
            negative: false,
            int_digits: 0,
            frac_digits: 0,
            significant: 0,
            power: 0,
        });
    }
    let trailing = i128::try_from(digits().rev().take_while(|b| *b == b'0').count()).ok()?;
    let significant = total - leading - trailing;
    // value = core * 10^power, core = the significant digits.
    let power = exp - i128::try_from(frac_part.len()).ok()? + trailing;
    let clamp = |v: i128| u64::try_from(v.max(0)).unwrap_or(u64::MAX);
    Some(Shape {
        negative,
        int_digits: clamp(significant + power),
        frac_digits: clamp(-power),
        significant: clamp(significant),
        power,
    })
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or_default()),
        Some(b'+') => (false, text.get(1..).unwrap_or_default()),
        _ => (false, text),
    }
}

/// `1.5e3` -> (`1.5`, 3). An exponent too large for any real decimal is
/// clamped far beyond every limit rather than refused.
fn split_exponent(body: &str) -> Option<(&str, i128)> {
    let Some(at) = body.find(['e', 'E']) else {
        return Some((body, 0));
    };
    let mantissa = body.get(..at)?;
    let exp_text = body.get(at + 1..)?;
    let (negative, digits) = split_sign(exp_text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let significant = digits.trim_start_matches('0');
    let magnitude: i128 = if significant.len() > 18 {
        1_000_000_000_000_000_000
    } else {
        significant.parse().unwrap_or(0)
    };
    Some((mantissa, if negative { -magnitude } else { magnitude }))
}

/// An exact decimal: `mag` (base-10 digits, least significant first, no
/// high zeros) times 10^-`scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exact {
    negative: bool,
    mag: Vec<u8>,
    scale: usize,
}

impl Exact {
    /// Parses decimal text (an exponent is applied: `1.5e1` is `15`, scale 0).
    pub(crate) fn parse(text: &str) -> Result<Exact, DecimalError> {
        let (negative, body) = split_sign(text);
        let (mantissa, exp) = split_exponent(body).ok_or(DecimalError::NotDecimal)?;
        let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        if (int_part.is_empty() && frac_part.is_empty())
            || !int_part
                .bytes()
                .chain(frac_part.bytes())
                .all(|b| b.is_ascii_digit())
        {
            return Err(DecimalError::NotDecimal);
        }
        let max = i128::try_from(MAX_DIGITS).unwrap_or(i128::MAX);
        if exp.abs() > max || int_part.len() + frac_part.len() > MAX_DIGITS {
            return Err(DecimalError::TooLong);
        }
        let frac_len = i128::try_from(frac_part.len()).unwrap_or(i128::MAX);
        let scale = frac_len - exp;
        let mut mag: Vec<u8> = int_part
            .bytes()
            .chain(frac_part.bytes())
            .rev()
            .map(|b| b - b'0')
            .collect();
        let scale = if scale < 0 {
            let zeros = usize::try_from(-scale).map_err(|_| DecimalError::TooLong)?;
            mag.splice(0..0, std::iter::repeat_n(0, zeros));
            0
        } else {
            usize::try_from(scale).map_err(|_| DecimalError::TooLong)?
        };
        Exact {
            negative,
            mag,
            scale,
        }
        .checked()
    }

    /// The integer `i`.
    pub(crate) fn from_int(i: i64) -> Exact {
        Exact {
            negative: i < 0,
            mag: i
                .unsigned_abs()
                .to_string()
                .bytes()
                .rev()
                .map(|b| b - b'0')
                .collect(),
            scale: 0,
        }
        .trimmed()
    }

    fn trimmed(mut self) -> Exact {
        while self.mag.last() == Some(&0) {
            self.mag.pop();
        }
        if self.mag.is_empty() {
            self.negative = false;
        }
        self
    }

    fn checked(self) -> Result<Exact, DecimalError> {
        let e = self.trimmed();
        if e.mag.len().max(e.scale) > MAX_DIGITS {
            return Err(DecimalError::TooLong);
        }
        Ok(e)
    }

    /// The magnitude at `scale` (not below its own).
    fn mag_at(&self, scale: usize) -> Vec<u8> {
        let mut out = vec![0; scale.saturating_sub(self.scale)];
        out.extend_from_slice(&self.mag);
        out
    }

    /// `self + other`, at the larger of both scales (`1.10 + 1` is `2.10`).
    pub(crate) fn add(&self, other: &Exact) -> Result<Exact, DecimalError> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.mag_at(scale), other.mag_at(scale));
        let (negative, mag) = if self.negative == other.negative {
            (self.negative, add_mag(&a, &b))
        } else {
            match cmp_mag(&a, &b) {
                Ordering::Less => (other.negative, sub_mag(&b, &a)),
                _ => (self.negative, sub_mag(&a, &b)),
            }
        };
        Exact {
            negative,
            mag,
            scale,
        }
        .checked()
    }

    /// `self - other`.
    pub(crate) fn sub(&self, other: &Exact) -> Result<Exact, DecimalError> {
        let negated = Exact {
            negative: !other.negative,
            ..other.clone()
        }
        .trimmed();
        self.add(&negated)
    }

    /// `self * other`, at the sum of both scales (`1.5 * 1.5` is `2.25`).
    pub(crate) fn mul(&self, other: &Exact) -> Result<Exact, DecimalError> {
        let mut acc = vec![0_u32; self.mag.len() + other.mag.len() + 1];
        for (i, x) in self.mag.iter().enumerate() {
            let mut carry = 0_u32;
            for (j, y) in other.mag.iter().enumerate() {
                if let Some(slot) = acc.get_mut(i + j) {
                    let v = *slot + u32::from(*x) * u32::from(*y) + carry;
                    *slot = v % 10;
                    carry = v / 10;
                }
            }
            let mut k = i + other.mag.len();
            while carry > 0 {
                if let Some(slot) = acc.get_mut(k) {
                    let v = *slot + carry;
                    *slot = v % 10;
                    carry = v / 10;
                } else {
                    break;
                }
                k += 1;
            }
        }
        Exact {
            negative: self.negative != other.negative,
            mag: acc
                .into_iter()
                .map(|d| u8::try_from(d).unwrap_or(0))
                .collect(),
            scale: self.scale + other.scale,
        }
        .checked()
    }

    /// Rounded (half away from zero) or padded to `places` fractional digits.
    pub(crate) fn round(&self, places: usize) -> Result<Exact, DecimalError> {
        if places > MAX_DIGITS {
            return Err(DecimalError::TooLong);
        }
        if places >= self.scale {
            return Exact {
                negative: self.negative,
                mag: self.mag_at(places),
                scale: places,
            }
            .checked();
        }
        let drop = self.scale - places;
        let up = drop
            .checked_sub(1)
            .and_then(|i| self.mag.get(i))
            .is_some_and(|d| *d >= 5);
        let kept = self.mag.get(drop..).unwrap_or_default();
        let mag = if up {
            add_mag(kept, &[1])
        } else {
            kept.to_vec()
        };
        Exact {
            negative: self.negative,
            mag,
            scale: places,
        }
        .checked()
    }

    /// The numeric order of two decimals (`1.10` equals `1.1`).
    pub(crate) fn compare(&self, other: &Exact) -> Ordering {
        let scale = self.scale.max(other.scale);
        let by_mag = cmp_mag(&self.mag_at(scale), &other.mag_at(scale));
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => by_mag,
            (true, true) => by_mag.reverse(),
        }
    }
}

impl std::fmt::Display for Exact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        let width = self.mag.len().max(self.scale + 1);
        let mut text = String::with_capacity(width + 1);
        for pos in (0..width).rev() {
            text.push(char::from(b'0' + self.mag.get(pos).copied().unwrap_or(0)));
            if pos == self.scale && pos > 0 {
                text.push('.');
            }
        }
        f.write_str(&text)
    }
}

/// Compares magnitudes (least significant digit first; high zeros ignored).
fn cmp_mag(a: &[u8], b: &[u8]) -> Ordering {
    let top = |m: &[u8]| m.iter().rposition(|d| *d != 0).map_or(0, |p| p + 1);
    let (la, lb) = (top(a), top(b));
    if la != lb {
        return la.cmp(&lb);
    }
    for i in (0..la).rev() {
        let (x, y) = (a.get(i).unwrap_or(&0), b.get(i).unwrap_or(&0));
        if x != y {
            return x.cmp(y);
        }
    }
    Ordering::Equal
}

fn add_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let mut carry = 0;
    for i in 0..a.len().max(b.len()) {
        let v = a.get(i).unwrap_or(&0) + b.get(i).unwrap_or(&0) + carry;
        out.push(v % 10);
        carry = v / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// `a - b`, where `a >= b`.
fn sub_mag(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut borrow = 0;
    for (i, x) in a.iter().enumerate() {
        let y = b.get(i).unwrap_or(&0) + borrow;
        if *x >= y {
            out.push(x - y);
            borrow = 0;
        } else {
            out.push(x + 10 - y);
            borrow = 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Exact {
        Exact::parse(s).unwrap()
    }

    #[test]
    fn shapes_count_real_digits() {
        let s = shape("123456789012345.123456789012345").unwrap();
        assert_eq!((s.int_digits, s.frac_digits, s.significant), (15, 15, 30));
        let s = shape("001.2300e1").unwrap();
        assert_eq!((s.int_digits, s.frac_digits, s.significant), (2, 1, 3));
        assert_eq!(s.power, -1);
        assert_eq!(shape("1200").unwrap().power, 2);
        let s = shape("-0.00120").unwrap();
        assert_eq!((s.negative, s.int_digits, s.frac_digits), (true, 0, 4));
        let s = shape("-0.000").unwrap();
        assert_eq!((s.negative, s.int_digits, s.frac_digits), (false, 0, 0));
        let s = shape("1.5E-3").unwrap();
        assert_eq!((s.int_digits, s.frac_digits), (0, 4));
        let s = shape("12e99999999999999999999999").unwrap();
        assert!(s.int_digits > 1_000_000);
        assert_eq!(shape("NaN"), None);
        assert_eq!(shape("Infinity"), None);
        assert_eq!(shape("."), None);
        assert_eq!(shape("1e"), None);
    }

    #[test]
    fn sums_are_exact_beyond_a_float() {
        let a = d("123456789012345.123456789012345");
        assert_eq!(
            a.add(&Exact::from_int(1)).unwrap().to_string(),
            "123456789012346.123456789012345"
        );
        assert_eq!(d("1.10").add(&d("1")).unwrap().to_string(), "2.10");
        assert_eq!(d("0.1").add(&d("0.2")).unwrap().to_string(), "0.3");
        assert_eq!(d("1").sub(&d("1.5")).unwrap().to_string(), "-0.5");
        assert_eq!(d("-1.5").sub(&d("-1.5")).unwrap().to_string(), "0.0");
        assert_eq!(d("99.99").add(&d("0.01")).unwrap().to_string(), "100.00");
        assert_eq!(d("-5").add(&d("3")).unwrap().to_string(), "-2");
        assert_eq!(d("1.5e2").add(&d("0")).unwrap().to_string(), "150");
    }

    #[test]
    fn products_and_rounding_are_exact() {
        assert_eq!(d("1.5").mul(&d("1.5")).unwrap().to_string(), "2.25");
        assert_eq!(d("-0.1").mul(&d("3")).unwrap().to_string(), "-0.3");
        assert_eq!(d("0").mul(&d("-3.00")).unwrap().to_string(), "0.00");
        assert_eq!(
            d("99999999999999999999")
                .mul(&d("99999999999999999999"))
                .unwrap()
                .to_string(),
            "9999999999999999999800000000000000000001"
        );
        assert_eq!(d("1.005").round(2).unwrap().to_string(), "1.01");
        assert_eq!(d("-1.005").round(2).unwrap().to_string(), "-1.01");
        assert_eq!(d("1.004").round(2).unwrap().to_string(), "1.00");
        assert_eq!(d("9.995").round(2).unwrap().to_string(), "10.00");
        assert_eq!(d("1.5").round(3).unwrap().to_string(), "1.500");
        assert_eq!(d("0.4").round(0).unwrap().to_string(), "0");
    }

    #[test]
    fn comparison_is_numeric() {
        assert_eq!(d("1.10").compare(&d("1.1")), Ordering::Equal);
        assert_eq!(d("-2").compare(&d("1")), Ordering::Less);
        assert_eq!(d("-2").compare(&d("-10")), Ordering::Greater);
        assert_eq!(d("0.0").compare(&d("-0")), Ordering::Equal);
        assert_eq!(
            d("123456789012345.123456789012346").compare(&d("123456789012345.123456789012345")),
            Ordering::Greater
        );
    }

    #[test]
    fn operands_are_bounded() {
        let long = "9".repeat(MAX_DIGITS + 1);
        assert_eq!(Exact::parse(&long), Err(DecimalError::TooLong));
        assert_eq!(Exact::parse("1e100000"), Err(DecimalError::TooLong));
        let big = d(&"9".repeat(MAX_DIGITS));
        assert_eq!(big.mul(&big), Err(DecimalError::TooLong));
        assert_eq!(Exact::parse("abc"), Err(DecimalError::NotDecimal));
        assert_eq!(Exact::parse("NaN"), Err(DecimalError::NotDecimal));
        assert_eq!(Exact::parse(""), Err(DecimalError::NotDecimal));
    }
}
