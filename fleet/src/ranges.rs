//! The ranges numbers in a fleet spec must fall in: what Kubernetes, Flux,
//! Kured and flotilla itself accept, so a spec that validates never renders
//! a manifest the API server rejects or a flag a controller refuses.
//!
//! Each rule names the upstream code it mirrors. Numbers are compared
//! exactly (no floating point): a quantity or duration is turned into
//! integers of its smallest unit, with overflow meaning out of range.
//! Durations are read by `flotilla_core::duration` (the parser `flotilla
//! serve` uses); the quantity bounds are classified here, written out
//! rather than taken from a crate: none checks Kubernetes quantities
//! against their exact limits, and it is a few dozen lines.

/// An inclusive range of whole numbers, and the reason for it.
pub(crate) struct WholeRange {
    pub min: i64,
    pub max: i64,
    /// Completes "must be from {min} to {max} ({why})".
    pub why: &'static str,
}

impl WholeRange {
    /// The message for a value outside the range.
    pub fn expected(&self) -> String {
        format!("must be from {} to {} ({})", self.min, self.max, self.why)
    }

    /// The value written as `text` (decimal, optional sign), if in range.
    pub fn check(&self, text: &str) -> Option<i64> {
        text.parse::<i64>()
            .ok()
            .filter(|n| (self.min..=self.max).contains(n))
    }
}

/// `ingress.replicas`: a Deployment's `spec.replicas` is an int32
/// (k8s.io/api apps/v1 types.go, `Replicas *int32`); 0 would run no Traefik
/// at all, which is `ingress.enabled: false`.
pub(crate) const REPLICAS: WholeRange = WholeRange {
    min: 1,
    max: i32::MAX as i64,
    why: "a Kubernetes int32; to run no Traefik, set ingress.enabled: false",
};

/// `kured.concurrency`: Kured's `--concurrency` is a Go `int` flag
/// (kubereboot/kured cmd/kured/main.go), 32 bits on 32-bit nodes; 0 would
/// never let a node take the reboot lock.
pub(crate) const KURED_CONCURRENCY: WholeRange = WholeRange {
    min: 1,
    max: i32::MAX as i64,
    why: "Kured's --concurrency, a Go int; 0 would never reboot a node",
};

pub(crate) use flotilla_core::duration::{DurationError, MAX_GO_DURATION};

/// [`go_duration`]'s nanoseconds: a Go duration, as kured reads `--period`.
pub(crate) fn go_duration(text: &str) -> Result<u64, DurationError> {
    flotilla_core::duration::go_nanos(text)
}

/// [`go_duration`]'s nanoseconds, `None` for any error.
pub(crate) fn go_duration_nanos(text: &str) -> Option<u64> {
    go_duration(text).ok()
}

/// Whether `text` has the form of a Go duration (whatever its length).
pub(crate) fn is_go_duration(text: &str) -> bool {
    go_duration(text) != Err(DurationError::Malformed)
}

/// A Flux `spec.interval`: the CRD's pattern `^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
/// (fluxcd source-controller and kustomize-controller CRDs, see
/// `../shared/crds/flux-source.yaml`), which the API server enforces.
pub(crate) fn is_flux_duration(text: &str) -> bool {
    let mut rest = text;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if int_len == 0 {
            return false;
        }
        rest = &rest[int_len..];
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            if frac_len == 0 {
                return false;
            }
            rest = &after_dot[frac_len..];
        }
        let Some(unit) = ["ms", "s", "m", "h"]
            .into_iter()
            .find(|u| rest.starts_with(u))
        else {
            return false;
        };
        rest = &rest[unit.len()..];
    }
    true
}

/// A duration `flotilla serve` reads (`schedule.interval`): the same
/// parser the service uses ([`flotilla_core::duration::nanos`], Go's grammar
/// and `d`), so a spec that validates is a config the service accepts.
pub(crate) fn serve_duration_nanos(text: &str) -> Option<u64> {
    flotilla_core::duration::nanos(text).ok()
}

/// The largest magnitude a Kubernetes quantity holds: `2^63 - 1` of its
/// unit (k8s.io/apimachinery pkg/api/resource/quantity.go: "no quantity may
/// represent a number greater than 2^63-1 in magnitude").
pub(crate) const MAX_QUANTITY: &str = "9223372036854775807";

/// What a well-formed quantity amounts to, exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QuantityRange {
    /// Negative and not zero.
    Negative,
    /// Above `2^63 - 1`, or an exponent beyond int32 (which
    /// `ParseQuantity` truncates to a different number).
    TooLarge,
    /// In range; `whole` tells whether it has no fractional part.
    InRange { whole: bool, zero: bool },
}

/// Classify the quantity `text` (already checked to be well-formed) the
/// way Kubernetes would read it: sign, digits, optional fraction, then a
/// binary (`Ki`…`Ei`), decimal (`n`…`E`) suffix or a decimal exponent.
pub(crate) fn quantity_range(text: &str) -> Option<QuantityRange> {
    let (negative, unsigned) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let number_len = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_len);
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let (exp10, exp2): (i64, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        exponent => {
            let digits = exponent.strip_prefix(['e', 'E'])?;
            match digits.parse::<i32>() {
                Ok(e) => (i64::from(e), 0),
                Err(_) => return Some(QuantityRange::TooLarge),
            }
        }
    };
    // value = digits × 10^(exp10 - len(frac)) × 2^exp2, digits without
    // leading zeros.
    let digits: String = format!("{int_part}{frac_part}")
        .trim_start_matches('0')
        .to_owned();
    if digits.is_empty() {
        return Some(QuantityRange::InRange {
            whole: true,
            zero: true,
        });
    }
    if negative {
        return Some(QuantityRange::Negative);
    }
    // Trailing zeros only shift the decimal scale; dropping them keeps the
    // digit string short whatever was written.
    let significant = digits.trim_end_matches('0');
    let zeros = i64::try_from(digits.len() - significant.len()).ok()?;
    let digits = significant.to_owned();
    let scale = exp10 - i64::try_from(frac_part.len()).ok()? + zeros;
    let max_int_digits = i64::try_from(MAX_QUANTITY.len()).ok()?;
    // At least 10^(digits + scale - 1), before the binary suffix grows it.
    if i64::try_from(digits.len()).ok()? + scale > max_int_digits {
        return Some(QuantityRange::TooLarge);
    }
    // The digits times 2^exp2, as decimal digits (at most 60 doublings of
    // a 16 KiB-bounded string: cheap).
    let mut scaled = digits.into_bytes();
    for _ in 0..exp2 {
        scaled = double_decimal(&scaled);
    }
    // Split into integer and fractional digits by the decimal scale.
    let len = i64::try_from(scaled.len()).ok()?;
    let int_len = len + scale;
    if int_len > max_int_digits {
        return Some(QuantityRange::TooLarge);
    }
    let (int_digits, frac_digits): (&[u8], &[u8]) = if int_len <= 0 {
        (&[], &scaled)
    } else if scale >= 0 {
        (&scaled, &[])
    } else {
        let split = usize::try_from(int_len).ok()?;
        scaled.split_at(split)
    };
    let mut integer = String::from_utf8(int_digits.to_vec()).ok()?;
    if scale > 0 {
        integer.extend(std::iter::repeat_n('0', usize::try_from(scale).ok()?));
    }
    let whole = frac_digits.iter().all(|&d| d == b'0');
    let integer = integer.trim_start_matches('0');
    let too_large = integer.len() > MAX_QUANTITY.len()
        || (integer.len() == MAX_QUANTITY.len()
            && (integer > MAX_QUANTITY || (integer == MAX_QUANTITY && !whole)));
    if too_large {
        return Some(QuantityRange::TooLarge);
    }
    Some(QuantityRange::InRange { whole, zero: false })
}

/// `digits` (decimal, most significant first) times two.
fn double_decimal(digits: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(digits.len() + 1);
    let mut carry = 0;
    for &d in digits.iter().rev() {
        let v = (d - b'0') * 2 + carry;
        out.push(b'0' + v % 10);
        carry = v / 10;
    }
    if carry > 0 {
        out.push(b'0' + carry);
    }
    out.reverse();
    out
}

/// Resource names a ResourceQuota counts in whole units: the fixed list of
/// k8s.io/kubernetes pkg/apis/core/helper/helpers.go `integerResources`,
/// plus extended resources (a `/` in the name, not `kubernetes.io/`, not
/// `requests.`), which is where object counts (`count/pods`) fall.
/// `ValidateResourceQuantityValue` rejects a fraction for them.
pub(crate) fn is_integer_resource(name: &str) -> bool {
    const INTEGER_RESOURCES: [&str; 9] = [
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    ];
    INTEGER_RESOURCES.contains(&name)
        || (name.contains('/')
            && !name.contains("kubernetes.io/")
            && !name.starts_with("requests."))
}

/// Seconds since midnight of a well-formed `HH:MM[:SS]`.
pub(crate) fn clock_seconds(text: &str) -> Option<u32> {
    let mut parts = text.split(':').map(|p| p.parse::<u32>().ok());
    let (h, m) = (parts.next()??, parts.next()??);
    let s = parts.next().flatten().unwrap_or(0);
    Some(h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The grammar's own table is in `flotilla_core::duration`; here, what
    /// the fleet's checks make of it.
    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(go_duration_nanos("1h30m"), Some(5_400_000_000_000));
        assert_eq!(go_duration_nanos(MAX_GO_DURATION), Some(i64::MAX as u64));
        for bad in ["", "1", "s", ".s", "1d", "1 s", "-1s", "+1s", "1.5.5s"] {
            assert_eq!(go_duration(bad), Err(DurationError::Malformed), "{bad}");
            assert!(!is_go_duration(bad), "{bad}");
        }
        for long in [
            "5000000000h",
            "2562048h",
            "9223372036854775808ns",
            "2562047h47m16.854775808s",
            "99999999999999999999s",
        ] {
            assert_eq!(go_duration(long), Err(DurationError::Overflow), "{long}");
            assert!(is_go_duration(long), "{long}");
        }
    }

    #[test]
    fn flux_durations_follow_the_crd_pattern() {
        for ok in ["1m", "10m", "1h30m", "0.5s", "300ms", "1.5h", "0s"] {
            assert!(is_flux_duration(ok), "{ok}");
        }
        for bad in [
            "", "1", "m", "1d", "1 m", "-1m", ".5s", "1.s", "1us", "1ns", "1m1",
        ] {
            assert!(!is_flux_duration(bad), "{bad}");
        }
    }

    #[test]
    fn serve_durations_stop_where_the_service_does() {
        assert_eq!(serve_duration_nanos("15m"), Some(900_000_000_000));
        assert_eq!(serve_duration_nanos("1d"), Some(86_400_000_000_000));
        assert_eq!(
            serve_duration_nanos("5000000000ms"),
            Some(5_000_000_000_000_000),
            "the service takes it too"
        );
        assert_eq!(
            serve_duration_nanos("106751d"),
            Some(106_751 * 86_400_000_000_000)
        );
        assert_eq!(serve_duration_nanos("106752d"), None, "past 292 years");
        assert_eq!(serve_duration_nanos("4294967295h"), None);
    }

    #[test]
    fn quantities_are_classified_exactly() {
        let in_range = |whole| Some(QuantityRange::InRange { whole, zero: false });
        assert_eq!(quantity_range("1Gi"), in_range(true));
        assert_eq!(quantity_range("500m"), in_range(false));
        assert_eq!(quantity_range("2000m"), in_range(true));
        assert_eq!(quantity_range("1.5"), in_range(false));
        assert_eq!(quantity_range("1e3"), in_range(true));
        assert_eq!(quantity_range("1e-3"), in_range(false));
        assert_eq!(quantity_range("+10"), in_range(true));
        assert_eq!(quantity_range(MAX_QUANTITY), in_range(true));
        assert_eq!(quantity_range("7Ei"), in_range(true));
        assert_eq!(
            quantity_range("0"),
            Some(QuantityRange::InRange {
                whole: true,
                zero: true
            })
        );
        assert_eq!(
            quantity_range("-0.0"),
            Some(QuantityRange::InRange {
                whole: true,
                zero: true
            })
        );
        assert_eq!(quantity_range("-1"), Some(QuantityRange::Negative));
        assert_eq!(quantity_range("-500m"), Some(QuantityRange::Negative));
        for big in [
            "9223372036854775808",
            "9223372036854775807.5",
            "8Ei",
            "10E",
            "1e19",
            "1e99999999999",
            "9223372036854775808000m",
        ] {
            assert_eq!(quantity_range(big), Some(QuantityRange::TooLarge), "{big}");
        }
        assert_eq!(quantity_range("9223372036854775807000m"), in_range(true));
        assert_eq!(quantity_range("1e-99999999"), in_range(false));
    }

    #[test]
    fn integer_resources_follow_kubernetes() {
        for name in [
            "pods",
            "services.loadbalancers",
            "count/deployments.apps",
            "nvidia.com/gpu",
        ] {
            assert!(is_integer_resource(name), "{name}");
        }
        for name in [
            "cpu",
            "requests.memory",
            "limits.cpu",
            "requests.nvidia.com/gpu",
            "hugepages-2Mi",
        ] {
            assert!(!is_integer_resource(name), "{name}");
        }
    }

    #[test]
    fn whole_ranges_reject_what_does_not_fit() {
        assert_eq!(REPLICAS.check("2"), Some(2));
        assert_eq!(REPLICAS.check("2147483647"), Some(2_147_483_647));
        assert_eq!(REPLICAS.check("2147483648"), None);
        assert_eq!(REPLICAS.check("4294967295"), None);
        assert_eq!(REPLICAS.check("0"), None);
        assert_eq!(REPLICAS.check("-1"), None);
        assert_eq!(REPLICAS.check("99999999999999999999999"), None);
    }
}
