//! The knowledge entries a failed check names: one constant per id, so a renamed entry is a
//! compile error here rather than a silent miss, and one test proves each exists in the catalogue.

pub const API_QUOTA_EXCEEDED: &str = "api-quota-exceeded";
pub const CLOCK_SKEW: &str = "clock-skew";
pub const CONNECTION_REFUSED: &str = "connection-refused";
pub const CONNECTION_RESET: &str = "connection-reset";
pub const CONTENT_TYPE_MISMATCH: &str = "content-type-mismatch";
pub const DNS_RESOLUTION_FAILURE: &str = "dns-resolution-failure";
pub const EXPIRED_TOKEN: &str = "expired-token";
pub const FIREWALL_BLOCKED: &str = "firewall-blocked";
/// The entry for a warning or failure no more specific entry covers.
pub const GENERAL_TROUBLESHOOTING: &str = "general-troubleshooting";
pub const HTTP_400: &str = "http-400";
pub const HTTP_401: &str = "http-401";
pub const HTTP_403: &str = "http-403";
pub const HTTP_404: &str = "http-404";
pub const HTTP_405: &str = "http-405";
pub const HTTP_408: &str = "http-408";
pub const HTTP_409: &str = "http-409";
pub const HTTP_413: &str = "http-413";
pub const HTTP_415: &str = "http-415";
pub const HTTP_422: &str = "http-422";
pub const HTTP_429: &str = "http-429";
pub const HTTP_500: &str = "http-500";
pub const HTTP_502: &str = "http-502";
pub const HTTP_503: &str = "http-503";
pub const HTTP_504: &str = "http-504";
pub const INSUFFICIENT_PERMISSIONS: &str = "insufficient-permissions";
pub const INVALID_API_KEY: &str = "invalid-api-key";
pub const MALFORMED_JSON: &str = "malformed-json";
pub const NETWORK_TIMEOUT: &str = "network-timeout";
pub const OAUTH_INVALID_CLIENT: &str = "oauth-invalid-client";
pub const OAUTH_INVALID_GRANT: &str = "oauth-invalid-grant";
pub const SCHEMA_MISMATCH: &str = "schema-mismatch";
pub const TLS_CERTIFICATE_EXPIRED: &str = "tls-certificate-expired";
pub const TLS_HANDSHAKE_FAILURE: &str = "tls-handshake-failure";
pub const TLS_HOSTNAME_MISMATCH: &str = "tls-hostname-mismatch";
pub const TLS_UNTRUSTED_CERTIFICATE: &str = "tls-untrusted-certificate";

/// Every id above, for the catalogue test.
pub const ALL: &[&str] = &[
    API_QUOTA_EXCEEDED,
    CLOCK_SKEW,
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    CONTENT_TYPE_MISMATCH,
    DNS_RESOLUTION_FAILURE,
    EXPIRED_TOKEN,
    FIREWALL_BLOCKED,
    GENERAL_TROUBLESHOOTING,
    HTTP_400,
    HTTP_401,
    HTTP_403,
    HTTP_404,
    HTTP_405,
    HTTP_408,
    HTTP_409,
    HTTP_413,
    HTTP_415,
    HTTP_422,
    HTTP_429,
    HTTP_500,
    HTTP_502,
    HTTP_503,
    HTTP_504,
    INSUFFICIENT_PERMISSIONS,
    INVALID_API_KEY,
    MALFORMED_JSON,
    NETWORK_TIMEOUT,
    OAUTH_INVALID_CLIENT,
    OAUTH_INVALID_GRANT,
    SCHEMA_MISMATCH,
    TLS_CERTIFICATE_EXPIRED,
    TLS_HANDSHAKE_FAILURE,
    TLS_HOSTNAME_MISMATCH,
    TLS_UNTRUSTED_CERTIFICATE,
];

#[cfg(test)]
mod tests {
    use super::ALL;
    use crate::knowledge::Knowledge;

    #[test]
    fn every_entry_a_check_names_exists_in_the_builtin_catalogue() {
        let kb = Knowledge::builtin().expect("built-in catalogue loads");
        let missing: Vec<&str> = ALL
            .iter()
            .copied()
            .filter(|id| kb.get(id).is_none())
            .collect();
        assert!(
            missing.is_empty(),
            "checks name entries the catalogue lacks: {missing:?}"
        );
    }
}
