//! The textual forms spec values must have, each with the words a message
//! uses to describe it.
//!
//! Checks are hand-written rather than regexes: they run for every value of
//! every cluster, and a 1,000-cluster fleet must load in well under a second.

use std::net::IpAddr;

/// A form a string must have.
pub(crate) struct Format {
    /// Whether the value has this form.
    pub test: fn(&str) -> bool,
    /// Completes "… is not {what}".
    pub what: &'static str,
    /// Never echo the value (it names a Secret and may be one, pasted by mistake).
    pub secret: bool,
}

const fn plain(test: fn(&str) -> bool, what: &'static str) -> Format {
    Format {
        test,
        what,
        secret: false,
    }
}

pub(crate) const DNS_LABEL: Format = plain(
    is_dns_label,
    "a DNS-1123 label (lower-case letters, digits and '-', starting and ending with a letter or digit, at most 63 characters)",
);
pub(crate) const OBJECT_NAME: Format = plain(
    is_dns_subdomain,
    "a Kubernetes object name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.')",
);
pub(crate) const SECRET_NAME: Format = Format {
    test: is_dns_subdomain,
    what: "a Kubernetes Secret name (a DNS-1123 subdomain: lower-case letters, digits, '-' and '.')",
    secret: true,
};
pub(crate) const DOMAIN: Format = plain(is_domain, "a domain name such as aks-ingress.contoso.com");
pub(crate) const UUID: Format = plain(
    is_uuid,
    "a UUID such as 6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f",
);
pub(crate) const CIDR: Format = plain(
    is_cidr,
    "an IPv4 or IPv6 CIDR with no host bits set, such as 10.240.5.0/24",
);
pub(crate) const IP: Format = plain(is_ip, "an IPv4 or IPv6 address");
/// Kured's `--period`: any Go duration (its length is checked separately).
pub(crate) const GO_DURATION: Format = plain(
    crate::ranges::is_go_duration,
    "a duration such as 30s, 10m or 1h30m",
);
/// A Flux `spec.interval` (its length is checked separately).
pub(crate) const FLUX_DURATION: Format = plain(
    crate::ranges::is_flux_duration,
    "a Flux interval such as 30s, 10m or 1h30m (units ms, s, m, h)",
);
pub(crate) const QUANTITY: Format =
    plain(is_quantity, "a Kubernetes quantity such as 500m, 2 or 1Gi");
pub(crate) const RESOURCE_NAME: Format = plain(
    is_resource_name,
    "a resource name such as requests.cpu or count/pods",
);
pub(crate) const CLOCK: Format = plain(is_clock, "a time of day such as 21:00 or 05:30:00");
pub(crate) const TIME_ZONE: Format = plain(
    is_time_zone,
    "an IANA time zone such as UTC or Europe/Amsterdam",
);
pub(crate) const KEYVAULT_NAME: Format = plain(
    is_keyvault_name,
    "a Key Vault name (3-24 letters, digits and single '-', starting with a letter)",
);
pub(crate) const KEYVAULT_OBJECT: Format = plain(
    is_keyvault_object,
    "a Key Vault object name (1-127 letters, digits and '-')",
);
pub(crate) const FILE_NAME: Format = plain(is_file_name, "a file name (no '/', not . or ..)");
pub(crate) const REGISTRY: Format = plain(
    is_registry,
    "a registry host such as acraksbaseline01.azurecr.io (with an optional :port from 1 to 65535)",
);
pub(crate) const REGISTRY_PREFIX: Format = plain(
    is_registry_prefix,
    "a registry host, optionally with a path, such as mcr.microsoft.com/oss",
);
pub(crate) const REPOSITORY: Format = plain(
    is_repository,
    "an image repository such as traefik or kubereboot/kured",
);
pub(crate) const TAG: Format = plain(
    is_tag,
    "a pinned image tag such as v3.4.1 (letters, digits, '.', '_', '-'; not latest)",
);
pub(crate) const DIGEST: Format = plain(is_digest, "a digest sha256:<64 lower-case hex digits>");
pub(crate) const LABEL_KEY: Format = plain(
    is_label_key,
    "a label or annotation key such as agentpool or kubernetes.io/os",
);
pub(crate) const LABEL_VALUE: Format = plain(
    is_label_value,
    "a label value (at most 63 letters, digits, '-', '_' and '.')",
);
pub(crate) const GIT_URL: Format = plain(
    is_git_url,
    "an ssh://, https:// or http:// Git URL (Flux does not accept scp-style git@host:repo)",
);
pub(crate) const GIT_BRANCH: Format = plain(is_git_branch, "a Git branch name");
pub(crate) const REPO_PATH: Format = plain(
    is_repo_path,
    "a path in the repository starting with ./ and without ..",
);
pub(crate) const ABSOLUTE_PATH: Format = plain(is_absolute_path, "an absolute file path");
pub(crate) const SUBNET: Format = plain(
    is_subnet,
    "an Azure subnet name (1-80 letters, digits, '-', '_' and '.')",
);
pub(crate) const REGION: Format = plain(
    is_region,
    "an Azure region name such as eastus2 (lower-case letters and digits)",
);

fn is_alnum_lower(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

pub(crate) fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars().all(|c| is_alnum_lower(c) || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn is_domain(s: &str) -> bool {
    s.contains('.') && is_dns_subdomain(s)
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// A network address: the prefix must fit the address family and the bits
/// after it must be zero (`10.240.5.1/24` is a typo for `10.240.5.0/24`, and
/// Traefik would silently treat it as the network anyway).
fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    let (Ok(addr), Ok(prefix)) = (addr.parse::<IpAddr>(), prefix.parse::<u32>()) else {
        return false;
    };
    let (bits, width) = match addr {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    };
    if prefix > width || prefix.to_string() != s.split_once('/').map_or("", |p| p.1) {
        return false;
    }
    let host_bits = width - prefix;
    host_bits == 0 || bits & ((1u128 << host_bits) - 1) == 0
}

/// A Kubernetes resource quantity: a decimal number, then an optional
/// binary (`Ki`…`Ei`) or decimal (`m`, `k`, `M`…`E`) suffix or exponent.
fn is_quantity(s: &str) -> bool {
    let number_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_len);
    let number = number.strip_prefix(['+', '-']).unwrap_or(number);
    let digits_ok = !number.is_empty()
        && number != "."
        && number.matches('.').count() <= 1
        && number.chars().all(|c| c.is_ascii_digit() || c == '.');
    let suffix_ok = matches!(
        suffix,
        "" | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
            | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
    ) || (suffix.starts_with(['e', 'E'])
        && suffix[1..]
            .strip_prefix(['+', '-'])
            .unwrap_or(&suffix[1..])
            .parse::<u32>()
            .is_ok());
    digits_ok && suffix_ok
}

fn is_resource_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| is_alnum_lower(c) || matches!(c, '.' | '/' | '-' | '_'))
}

/// `HH:MM` or `HH:MM:SS`, 24-hour, as Kured's `--start-time` takes it.
fn is_clock(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let limits = [24, 60, 60];
    (2..=3).contains(&parts.len())
        && parts.iter().zip(limits).all(|(p, max)| {
            p.len() == 2
                && p.chars().all(|c| c.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| n < max)
        })
}

/// `UTC`, `Local` or an `Area/Location` name; the zone database itself is
/// not consulted, so a well-formed but unknown zone passes.
fn is_time_zone(s: &str) -> bool {
    let part_ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+'))
    };
    matches!(s, "UTC" | "Local") || (s.contains('/') && s.split('/').all(part_ok))
}

fn is_keyvault_name(s: &str) -> bool {
    (3..=24).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && !s.ends_with('-')
        && !s.contains("--")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_keyvault_object(s: &str) -> bool {
    (1..=127).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn is_file_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && s != "." && s != ".."
}

/// `host[:port]`, host a lower-case DNS name with at least one dot (or
/// `localhost`), as image references require to tell a registry from a
/// path; the port a TCP port from 1 to 65535, written without a sign or
/// leading zeros (distribution/reference's grammar takes digits, and port 0
/// reaches nothing).
fn is_registry(s: &str) -> bool {
    let Some((host, port)) = s.split_once(':') else {
        return s == "localhost" || is_domain(s);
    };
    (host == "localhost" || is_domain(host))
        && port.bytes().all(|b| b.is_ascii_digit())
        && !port.starts_with('0')
        && port.parse::<u16>().is_ok_and(|p| p > 0)
}

fn is_registry_prefix(s: &str) -> bool {
    match s.split_once('/') {
        Some((host, path)) => is_registry(host) && is_repository(path),
        None => is_registry(s),
    }
}

fn is_repository(s: &str) -> bool {
    s.split('/').all(|part| {
        !part.is_empty()
            && part.starts_with(is_alnum_lower)
            && part.ends_with(is_alnum_lower)
            && part
                .chars()
                .all(|c| is_alnum_lower(c) || matches!(c, '.' | '_' | '-'))
    })
}

/// An OCI tag, and not `latest`: a fleet must say which release it runs.
fn is_tag(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !s.eq_ignore_ascii_case("latest")
}

fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn is_label_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(s),
    }
}

fn is_label_value(s: &str) -> bool {
    s.is_empty() || is_label_name(s)
}

/// Whether a URL carries credentials: a password (`user:pw@`, any scheme
/// spelling), or any user name on HTTP(S), where it is a token
/// (`https://ghp_…@github.com`). `ssh://git@host/…` names a user, not a
/// credential. Flux reads credentials from `git.secretRef`, and a URL is
/// written into the generated repository in clear.
pub(crate) fn has_url_credentials(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once("://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let Some((userinfo, _host)) = authority.rsplit_once('@') else {
        return false;
    };
    let userinfo = userinfo.to_ascii_lowercase();
    let scheme = scheme.to_ascii_lowercase();
    userinfo.contains(':') || userinfo.contains("%3a") || scheme != "ssh"
}

fn is_git_url(s: &str) -> bool {
    ["ssh://", "https://", "http://"].iter().any(|scheme| {
        s.strip_prefix(scheme).is_some_and(|rest| {
            rest.contains('/') && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
        })
    })
}

/// The parts of `git check-ref-format` that matter for a hand-typed branch.
fn is_git_branch(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '/'])
        && !s.ends_with(['/', '.'])
        && !s.ends_with(".lock")
        && !s.contains("..")
        && !s.contains("//")
        && !s.contains("@{")
        && !s.chars().any(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\')
        })
}

fn is_repo_path(s: &str) -> bool {
    s.starts_with("./") && !s.split('/').any(|p| p == "..") && !s.contains(char::is_whitespace)
}

fn is_absolute_path(s: &str) -> bool {
    s.starts_with('/') && !s.split('/').any(|p| p == "..")
}

fn is_subnet(s: &str) -> bool {
    (1..=80).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn is_region(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_alnum_lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_need_a_network_address() {
        assert!(is_cidr("10.240.5.0/24"));
        assert!(is_cidr("fd00::/8"));
        assert!(is_cidr("10.0.0.1/32"));
        assert!(!is_cidr("10.240.5.1/24"));
        assert!(!is_cidr("10.240.5.0/33"));
        assert!(!is_cidr("10.240.5.0"));
        assert!(!is_cidr("10.240.5.0/024"));
    }

    #[test]
    fn quantities_follow_kubernetes() {
        for ok in ["500m", "2", "0.5", "1Gi", "1024Mi", "1e3", "2000m"] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "1GB", "one", "1..2", "Gi"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn tags_are_pinned() {
        assert!(is_tag("v3.4.1"));
        assert!(is_tag("1.20.0"));
        assert!(!is_tag("latest"));
        assert!(!is_tag("Latest"));
        assert!(!is_tag("v3 4"));
    }

    #[test]
    fn names_and_ids() {
        assert!(is_dns_label("aks-eus2-prod-01"));
        assert!(!is_dns_label("AKS-01"));
        assert!(!is_dns_label("-a"));
        assert!(!is_dns_label(&"a".repeat(64)));
        assert!(is_uuid("6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6f"));
        assert!(!is_uuid("6f1c2a7e-3b4d-4c5e-9f80-1a2b3c4d5e6"));
        assert!(is_keyvault_name("kv-aks-eastus2-01"));
        assert!(!is_keyvault_name("1kv"));
        assert!(!is_keyvault_name("kv--x"));
        assert!(is_registry("acraksbaseline01.azurecr.io"));
        assert!(is_registry("localhost:5000"));
        assert!(is_registry("registry.contoso.com:65535"));
        assert!(!is_registry("acr"));
        for bad_port in ["0", "65536", "+80", "080", "", "99999999999"] {
            assert!(!is_registry(&format!("localhost:{bad_port}")), "{bad_port}");
        }
        assert!(is_clock("21:00"));
        assert!(!is_clock("24:00"));
        assert!(!is_clock("9:00"));
        assert!(is_time_zone("Europe/Amsterdam"));
        assert!(!is_time_zone("CET DST"));
        assert!(is_git_url("ssh://git@github.com/contoso/fleet-gitops"));
        assert!(!is_git_url("git@github.com:contoso/fleet-gitops"));
        assert!(is_label_key("kubernetes.io/os"));
        assert!(!is_label_key("kubernetes.io/"));
        assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
        assert!(!is_digest("sha256:abc"));
    }
}
