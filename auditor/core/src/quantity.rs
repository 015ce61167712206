//! Kubernetes resource quantities, exactly (no floating point): the diff
//! compares `500m` with `0.5`, and the fleet spec checks that a request is
//! not above its limit, with the same parser.
//!
//! The grammar and suffixes are those of k8s.io/apimachinery
//! `pkg/api/resource/quantity.go` (`ParseQuantity`).

use serde_json::Value;
use std::cmp::Ordering;

/// A Kubernetes resource quantity, exactly: `mantissa × 10^pow10 × 2^pow2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    pow10: i32,
    pow2: u32,
}

impl Quantity {
    /// A quantity from a JSON string or number.
    pub fn of(v: &Value) -> Option<Quantity> {
        match v {
            Value::String(s) => Quantity::parse(s),
            Value::Number(n) => Quantity::parse(&n.to_string()),
            _ => None,
        }
    }

    /// Parse `<signed decimal>[e<exp>]<suffix>` with the suffixes of
    /// `k8s.io/apimachinery/pkg/api/resource` (`n u m k M G T P E`,
    /// `Ki Mi Gi Ti Pi Ei`).
    pub fn parse(text: &str) -> Option<Quantity> {
        let s = text.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
            .unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let (mut mantissa, mut pow10) = parse_decimal(number)?;
        let mut pow2 = 0;
        match suffix {
            "" => {}
            "n" => pow10 -= 9,
            "u" => pow10 -= 6,
            "m" => pow10 -= 3,
            "k" => pow10 += 3,
            "M" => pow10 += 6,
            "G" => pow10 += 9,
            "T" => pow10 += 12,
            "P" => pow10 += 15,
            "E" => pow10 += 18,
            "Ki" => pow2 = 10,
            "Mi" => pow2 = 20,
            "Gi" => pow2 = 30,
            "Ti" => pow2 = 40,
            "Pi" => pow2 = 50,
            "Ei" => pow2 = 60,
            exp if exp.starts_with(['e', 'E']) => pow10 += exp[1..].parse::<i32>().ok()?,
            _ => return None,
        }
        while mantissa != 0 && mantissa % 10 == 0 {
            mantissa /= 10;
            pow10 += 1;
        }
        if mantissa == 0 {
            pow10 = 0;
            pow2 = 0;
        }
        Some(Quantity {
            mantissa,
            pow10,
            pow2,
        })
    }

    /// Exact comparison; amounts too far apart to scale are different.
    pub fn same_amount(&self, other: &Quantity) -> bool {
        self.cmp_amount(other) == Some(Ordering::Equal)
    }

    /// Exact order of two amounts (`1Gi` > `1G` > `999M`); `None` only when
    /// both are too large to bring to a common unit in 128 bits.
    pub fn cmp_amount(&self, other: &Quantity) -> Option<Ordering> {
        // Scale each side up to the common unit; a side that overflows 128
        // bits is larger in magnitude than any side that did not.
        let scale = |m: Option<i128>, base: i128, times: u32| -> Option<i128> {
            (0..times).try_fold(m?, |m, _| m.checked_mul(base))
        };
        let (mut a, mut b) = (Some(self.mantissa), Some(other.mantissa));
        let d10 = self.pow10 - other.pow10;
        if d10 >= 0 {
            a = scale(a, 10, d10.unsigned_abs());
        } else {
            b = scale(b, 10, d10.unsigned_abs());
        }
        let d2 = i64::from(self.pow2) - i64::from(other.pow2);
        let d2_times = u32::try_from(d2.unsigned_abs()).ok()?;
        if d2 >= 0 {
            a = scale(a, 2, d2_times);
        } else {
            b = scale(b, 2, d2_times);
        }
        match (a, b) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            (None, Some(_)) => Some(self.mantissa.signum().cmp(&0)),
            (Some(_), None) => Some(0.cmp(&other.mantissa.signum())),
            (None, None) => None,
        }
    }
}

/// `"-1.50"` → `(-150, -2)`: digits as an integer and a power of ten.
fn parse_decimal(s: &str) -> Option<(i128, i32)> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut mantissa: i128 = 0;
    for c in int.chars().chain(frac.chars()) {
        let d = c.to_digit(10)? as i128;
        mantissa = mantissa.checked_mul(10)?.checked_add(d)?;
    }
    let pow10 = -(i32::try_from(frac.len()).ok()?);
    Some((if negative { -mantissa } else { mantissa }, pow10))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        Quantity::parse(a)
            .unwrap()
            .same_amount(&Quantity::parse(b).unwrap())
    }

    #[test]
    fn equal_quantities_in_different_spellings() {
        assert!(same("0.5", "500m"));
        assert!(same("2000m", "2"));
        assert!(same("1024Mi", "1Gi"));
        assert!(same("1e3", "1k"));
        assert!(same("1E3", "1000"));
        assert!(same("0.1", "100m"));
        assert!(same("1Ki", "1024"));
        assert!(same("1.5Gi", "1536Mi"));
        assert!(same("0", "0Gi"));
        assert!(same("1Ei", "1152921504606846976"));
    }

    #[test]
    fn different_quantities() {
        assert!(!same("1", "1001m"));
        assert!(!same("1G", "1Gi"));
        assert!(!same("500m", "0.05"));
        assert!(!same("1Ei", "1n"));
        assert!(!same("-1", "1"));
    }

    #[test]
    fn not_quantities() {
        for s in ["", "abc", "1.15.0", "10s", "1Xi", "m", ".", "1e", "--1"] {
            assert_eq!(Quantity::parse(s), None, "{s:?}");
        }
    }

    #[test]
    fn quantities_order_exactly() {
        let cmp = |a: &str, b: &str| {
            Quantity::parse(a)
                .unwrap()
                .cmp_amount(&Quantity::parse(b).unwrap())
        };
        assert_eq!(cmp("1Gi", "1G"), Some(Ordering::Greater));
        assert_eq!(cmp("999M", "1G"), Some(Ordering::Less));
        assert_eq!(cmp("500m", "0.5"), Some(Ordering::Equal));
        assert_eq!(cmp("1Ei", "1n"), Some(Ordering::Greater));
        assert_eq!(cmp("-1", "1m"), Some(Ordering::Less));
        // f64 makes these two equal; they are not.
        assert_eq!(
            cmp("9007199254740993", "9007199254740992"),
            Some(Ordering::Greater)
        );
    }
}
