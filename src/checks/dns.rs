//! DNS stage: every address of a name, with NXDOMAIN, SERVFAIL, timeout and "no records" told
//! apart from hickory's typed errors.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::error::ProtoErrorKind;
use hickory_proto::op::ResponseCode;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig, ResolverOpts};
use hickory_resolver::error::{ResolveError, ResolveErrorKind};
use hickory_resolver::TokioAsyncResolver;
use tokio::time::Instant;

use super::entries;
use super::{human, Failure};

const ENTRY: Option<&str> = Some(entries::DNS_RESOLUTION_FAILURE);

/// A resolver for `server`, or for the system configuration when `None`.
pub(super) fn build_resolver(server: Option<SocketAddr>) -> TokioAsyncResolver {
    match server {
        Some(addr) => {
            let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
            let mut opts = ResolverOpts::default();
            // A named server is asked directly: no hosts file, one try, short negative cache so
            // a fixed record shows up on the next check.
            opts.use_hosts_file = false;
            opts.attempts = 1;
            opts.negative_max_ttl = Some(Duration::from_secs(1));
            TokioAsyncResolver::tokio(ResolverConfig::from_parts(None, vec![], group), opts)
        }
        None => match hickory_resolver::system_conf::read_system_conf() {
            Ok((config, opts)) => TokioAsyncResolver::tokio(config, opts),
            // No readable /etc/resolv.conf: a resolver with no servers, so the check fails with
            // "no DNS server configured". hickory's default would ask public resolvers, which
            // leaks the names checked and is not what this machine's programs see.
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the system DNS configuration");
                no_servers()
            }
        },
    }
}

/// A resolver that has no server to ask (hosts file only): every other lookup fails with
/// `NoConnections`, which [`explain`] words as "no DNS server configured".
fn no_servers() -> TokioAsyncResolver {
    TokioAsyncResolver::tokio(
        ResolverConfig::from_parts(None, vec![], NameServerConfigGroup::new()),
        ResolverOpts::default(),
    )
}

/// Resolves `name` to all its addresses before `deadline`.
pub(super) async fn resolve(
    resolver: &TokioAsyncResolver,
    name: &str,
    server: Option<SocketAddr>,
    deadline: Instant,
    budget: Duration,
) -> Result<Vec<IpAddr>, Failure> {
    let asked = match server {
        Some(s) => format!("DNS server {s}"),
        None => "the system resolver".to_string(),
    };
    let lookup = tokio::time::timeout_at(deadline, resolver.lookup_ip(name)).await;
    match lookup {
        Err(_) => Err(Failure::new(
            format!("no answer from {asked} for {name} within {}", human(budget)),
            ENTRY,
        )),
        Ok(Ok(ips)) => {
            let mut list: Vec<IpAddr> = ips.iter().collect();
            list.dedup();
            if list.is_empty() {
                Err(Failure::new(
                    format!("{name}: {asked} returned no A/AAAA records"),
                    ENTRY,
                ))
            } else {
                Ok(list)
            }
        }
        Ok(Err(e)) => Err(explain(&e, name, &asked, budget)),
    }
}

fn explain(e: &ResolveError, name: &str, asked: &str, budget: Duration) -> Failure {
    let detail = match e.kind() {
        ResolveErrorKind::NoRecordsFound { response_code, .. } => match *response_code {
            ResponseCode::NXDomain => {
                format!("NXDOMAIN: {name} does not exist (answer from {asked})")
            }
            ResponseCode::NoError => {
                format!("{name} exists but has no A/AAAA records (answer from {asked})")
            }
            ResponseCode::ServFail => format!(
                "SERVFAIL: {asked} could not resolve {name} (its upstream or the zone is broken)"
            ),
            ResponseCode::Refused => format!("REFUSED: {asked} refused to answer for {name}"),
            other => format!("{asked} answered {other} for {name}"),
        },
        ResolveErrorKind::Timeout => {
            format!("no answer from {asked} for {name} within {}", human(budget))
        }
        ResolveErrorKind::Proto(p) if matches!(p.kind(), ProtoErrorKind::Timeout) => {
            format!("no answer from {asked} for {name} within {}", human(budget))
        }
        ResolveErrorKind::NoConnections => {
            format!("no DNS server configured: {asked} has no server to ask for {name} (is /etc/resolv.conf readable?)")
        }
        ResolveErrorKind::Io(io) => format!("cannot reach {asked}: {}", super::net::io_kind(io)),
        ResolveErrorKind::Proto(p) => format!("DNS error from {asked} for {name}: {p}"),
        other => format!("DNS lookup of {name} via {asked} failed: {other}"),
    };
    Failure::new(detail, ENTRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn no_servers_fails_clearly_without_traffic() {
        let r = no_servers();
        let deadline = Instant::now() + Duration::from_secs(5);
        let f = resolve(
            &r,
            "api.example.com",
            None,
            deadline,
            Duration::from_secs(5),
        )
        .await
        .unwrap_err();
        assert!(
            f.detail.contains("no DNS server configured"),
            "{}",
            f.detail
        );
        assert_eq!(f.entry, ENTRY);
    }
}
