//! What "the same value" means once the API server has had its say.
//!
//! Git states values the way people write them; the server stores them its
//! own way. Each rule here removes one class of false positive, and names it.

use serde_json::Value;

/// Maps whose values are resource quantities.
///
/// Prevents: `cpu: "0.5"` in Git vs `500m` live, `memory: 1024Mi` vs `1Gi`
/// (container `resources.limits/requests`, ResourceQuota `hard`/`used`,
/// LimitRange `max/min/default/defaultRequest/maxLimitRequestRatio`, PVC
/// `resources.requests`, PV `capacity`, RuntimeClass `overhead.podFixed`).
const QUANTITY_MAPS: &[&str] = &[
    "limits",
    "requests",
    "hard",
    "used",
    "capacity",
    "allocatable",
    "podFixed",
    "max",
    "min",
    "default",
    "defaultRequest",
    "maxLimitRequestRatio",
];

/// Single fields that hold a quantity (emptyDir `sizeLimit`, HPA targets).
const QUANTITY_FIELDS: &[&str] = &["sizeLimit", "averageValue", "storage"];

/// Whether the value at `key` inside the map at `parent` is a quantity.
pub fn is_quantity_field(parent: Option<&str>, key: &str) -> bool {
    QUANTITY_FIELDS.contains(&key) || parent.is_some_and(|p| QUANTITY_MAPS.contains(&p))
}

/// Metadata the server or controllers write, never Git's business.
///
/// Prevents: `creationTimestamp: null` (common in generated YAML),
/// `status: {}` in manifests, and noise such as `resourceVersion` and
/// `managedFields` should a manifest carry them (exported objects).
const METADATA_NOISE: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "selfLink",
];

/// Labels and annotations written by tools, not compared.
///
/// Prevents: Flux's own `kustomize.toolkit.fluxcd.io/name|namespace` labels
/// and its opt-out annotations (read elsewhere) showing up as drift, and
/// kubectl's `last-applied-configuration` (a copy of the whole object).
fn is_tool_metadata(key: &str) -> bool {
    key.starts_with("kustomize.toolkit.fluxcd.io/")
        || key == "kubectl.kubernetes.io/last-applied-configuration"
}

/// Whether a desired path (keys from the root) is noise to skip.
///
/// `apiVersion` too: objects match across versions (Git's `autoscaling/v2`
/// HPA is the live `autoscaling/v1` one read at the preferred version).
pub fn is_noise(path: &[&str]) -> bool {
    match path {
        ["status" | "apiVersion" | "kind"] => true,
        // Identity: already matched (a namespace Git gives a cluster-scoped
        // object is dropped by the server).
        ["metadata", "name" | "namespace"] => true,
        ["metadata", key] => METADATA_NOISE.contains(key),
        ["metadata", "labels" | "annotations", key] => is_tool_metadata(key),
        _ => false,
    }
}

/// The zero value of its type, which the server omits (Go `omitempty`).
///
/// Prevents: `hostNetwork: false`, `resources: {}` or `args: []` in Git
/// reported as drift because the stored object leaves them out.
pub fn is_zero_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_zero_value),
    }
}

/// Whether a desired and a live scalar are the same value.
pub fn scalars_equal(desired: &Value, live: &Value, quantity: bool) -> bool {
    // A value derived from a Secret is held as its digest in Git's object, and
    // a value flotilla cannot know is not compared (see `crate::secret`).
    if let Some(matches) = crate::secret::sealed_scalar_matches(desired, live) {
        return matches;
    }
    if desired == live {
        return true;
    }
    if quantity && let (Some(a), Some(b)) = (Quantity::of(desired), Quantity::of(live)) {
        return a.same_amount(&b);
    }
    match (desired, live) {
        // `replicas: 1` vs `1.0`: JSON numbers, not Rust types.
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        // int-or-string: `targetPort: 8080` vs `"8080"`, and substituted
        // variables that arrive as strings where the server keeps a number.
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            s.trim().parse::<f64>().ok() == n.as_f64()
        }
        _ => false,
    }
}

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
        let (mut a, mut b) = (self.mantissa, other.mantissa);
        let scale = |m: &mut i128, base: i128, times: u32| -> Option<()> {
            for _ in 0..times {
                *m = m.checked_mul(base)?;
            }
            Some(())
        };
        let d10 = self.pow10 - other.pow10;
        let d2 = self.pow2 as i64 - other.pow2 as i64;
        let ok = (if d10 >= 0 {
            scale(&mut a, 10, d10 as u32)
        } else {
            scale(&mut b, 10, (-d10) as u32)
        })
        .and_then(|_| {
            if d2 >= 0 {
                scale(&mut a, 2, d2 as u32)
            } else {
                scale(&mut b, 2, (-d2) as u32)
            }
        });
        ok.is_some() && a == b
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
    use serde_json::json;

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
    fn number_and_string_compare_as_quantities_only_in_quantity_fields() {
        assert!(scalars_equal(&json!(0.5), &json!("500m"), true));
        assert!(!scalars_equal(&json!(0.5), &json!("500m"), false));
        assert!(scalars_equal(&json!(1), &json!("1"), true));
        assert!(scalars_equal(&json!(8080), &json!("8080"), false));
        assert!(!scalars_equal(&json!("1.0"), &json!("1"), false));
        assert!(!scalars_equal(&json!("a"), &json!("b"), false));
        assert!(!scalars_equal(&json!(true), &json!("true"), false));
    }

    #[test]
    fn quantity_fields_by_position() {
        assert!(is_quantity_field(Some("limits"), "cpu"));
        assert!(is_quantity_field(Some("hard"), "requests.cpu"));
        assert!(is_quantity_field(None, "sizeLimit"));
        assert!(!is_quantity_field(Some("labels"), "cpu"));
    }

    #[test]
    fn noise_paths() {
        assert!(is_noise(&["status"]));
        assert!(is_noise(&["apiVersion"]));
        assert!(is_noise(&["metadata", "creationTimestamp"]));
        assert!(is_noise(&[
            "metadata",
            "labels",
            "kustomize.toolkit.fluxcd.io/name"
        ]));
        assert!(!is_noise(&["metadata", "labels", "app"]));
        assert!(!is_noise(&["spec", "status"]));
    }
}
