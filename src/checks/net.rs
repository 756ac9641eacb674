//! TCP and TLS stages: connect with a deadline, then a rustls handshake on that same stream.
//!
//! Failures are read from typed errors: `io::ErrorKind` for TCP, rustls's `CertificateError`
//! for the certificate, so "expired" or "unknown issuer" is data, not a guessed substring.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use url::Host;

use super::entries;
use super::{format_time, human, Clock, Facts, Failure};
use crate::config::TlsCa;

/// A connection HTTP can run on, plain or TLS.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
pub(crate) type BoxStream = Box<dyn Stream>;

/// How an I/O error reads to a person, by kind.
pub(crate) fn io_kind(e: &io::Error) -> &'static str {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        TimedOut => "timed out",
        HostUnreachable => "host unreachable",
        NetworkUnreachable => "network unreachable",
        NetworkDown => "network down",
        AddrNotAvailable => "address not available",
        UnexpectedEof => "connection closed by peer",
        BrokenPipe => "connection closed by peer (broken pipe)",
        PermissionDenied => "permission denied (blocked locally?)",
        _ => "I/O error",
    }
}

/// The knowledge entry for a network-level I/O error (the general one for kinds without their
/// own, so a failure always has steps).
pub(crate) fn io_entry(e: &io::Error) -> Option<&'static str> {
    use io::ErrorKind::*;
    Some(match e.kind() {
        ConnectionRefused => entries::CONNECTION_REFUSED,
        ConnectionReset | ConnectionAborted | UnexpectedEof | BrokenPipe => {
            entries::CONNECTION_RESET
        }
        TimedOut => entries::NETWORK_TIMEOUT,
        HostUnreachable | NetworkUnreachable | NetworkDown | PermissionDenied => {
            entries::FIREWALL_BLOCKED
        }
        _ => entries::GENERAL_TROUBLESHOOTING,
    })
}

/// Why one address could not be connected to.
enum Refusal {
    Io(io::Error),
    /// No answer within this share of the budget.
    Silent(Duration),
}

/// Connects to the first address that accepts, in order, before `deadline`. Each address gets
/// an equal share of the time left, so a silent first address (a dead A record) does not use
/// up the budget the others need.
pub(super) async fn connect(
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<(TcpStream, SocketAddr), Failure> {
    let mut errors: Vec<(SocketAddr, Refusal)> = Vec::new();
    for (i, &addr) in addrs.iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let share = left / (addrs.len() - i) as u32;
        let until = Instant::now() + share;
        match tokio::time::timeout_at(until, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok((s, addr));
            }
            Ok(Err(e)) => errors.push((addr, Refusal::Io(e))),
            Err(_) => errors.push((addr, Refusal::Silent(share))),
        }
    }
    let Some((_, first)) = errors.first() else {
        return Err(Failure::new(
            "no address to connect to",
            Some(entries::DNS_RESOLUTION_FAILURE),
        ));
    };
    let entry = match first {
        Refusal::Io(e) => io_entry(e),
        Refusal::Silent(_) => Some(entries::NETWORK_TIMEOUT),
    };
    let detail = errors
        .iter()
        .map(|(a, r)| match r {
            Refusal::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused => format!(
                "{a}: connection refused (nothing listens on port {})",
                a.port()
            ),
            Refusal::Io(e) => format!("{a}: {}", io_kind(e)),
            Refusal::Silent(d) => format!(
                "no answer from {a} within {} (packets dropped: firewall, security group, or host down)",
                human(*d)
            ),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Err(Failure::new(detail, entry))
}

/// Trust settings for one endpoint: the public web roots plus its optional `tls_ca`.
pub(super) struct TlsSetup {
    roots: Arc<RootCertStore>,
    clock: Arc<dyn Clock>,
}

impl TlsSetup {
    pub(super) fn new(extra: Option<&TlsCa>, clock: Arc<dyn Clock>) -> TlsSetup {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(ca) = extra {
            for c in &ca.certs {
                let _ = roots.add(c.clone());
            }
        }
        TlsSetup {
            roots: Arc::new(roots),
            clock,
        }
    }
}

pub(super) struct TlsInfo {
    pub version: String,
    pub cipher: String,
}

/// What medic read from the server's leaf certificate.
pub(super) struct CertInfo {
    pub subject: String,
    pub issuer: String,
    pub self_signed: bool,
    pub names: Vec<String>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub fingerprint: String,
}

impl CertInfo {
    fn parse(der: &[u8]) -> Option<CertInfo> {
        let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
        let to_time = |t: i64| {
            if t >= 0 {
                UNIX_EPOCH + Duration::from_secs(t as u64)
            } else {
                UNIX_EPOCH - Duration::from_secs(t.unsigned_abs())
            }
        };
        let names = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                        x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
                            4 => Some(std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()),
                            16 => <[u8; 16]>::try_from(*b)
                                .ok()
                                .map(|a| std::net::Ipv6Addr::from(a).to_string()),
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let fingerprint = Sha256::digest(der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        Some(CertInfo {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            self_signed: cert.subject().as_raw() == cert.issuer().as_raw(),
            names,
            not_before: to_time(cert.validity().not_before.timestamp()),
            not_after: to_time(cert.validity().not_after.timestamp()),
            fingerprint,
        })
    }

    pub(super) fn names_or_subject(&self) -> String {
        if self.names.is_empty() {
            self.subject.clone()
        } else {
            self.names.join(", ")
        }
    }

    pub(super) fn fill(&self, facts: &mut Facts, now: SystemTime) {
        facts.cert_subject = Some(self.subject.clone());
        facts.cert_issuer = Some(self.issuer.clone());
        facts.cert_not_after = Some(self.not_after);
        facts.cert_fingerprint_sha256 = Some(self.fingerprint.clone());
        let secs = match self.not_after.duration_since(now) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        facts.cert_days_left = Some(secs.div_euclid(86400));
    }
}

/// Delegates to webpki verification, but first keeps the leaf (so an expired or untrusted
/// certificate can still be described) and checks validity against the injected clock.
struct Recording {
    inner: Arc<WebPkiServerVerifier>,
    clock: Arc<dyn Clock>,
    leaf: Mutex<Option<Vec<u8>>>,
}

impl std::fmt::Debug for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recording")
    }
}

impl ServerCertVerifier for Recording {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.leaf.lock().unwrap_or_else(|p| p.into_inner()) = Some(end_entity.to_vec());
        let now = UnixTime::since_unix_epoch(
            self.clock
                .now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        );
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

type TlsResult = Result<(BoxStream, TlsInfo), Failure>;

/// Handshakes on `tcp`; returns the leaf certificate whenever the server sent one.
pub(super) async fn tls(
    tcp: TcpStream,
    host: &str,
    setup: &TlsSetup,
    deadline: Instant,
    budget: Duration,
) -> (TlsResult, Option<CertInfo>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner =
        match WebPkiServerVerifier::builder_with_provider(setup.roots.clone(), provider.clone())
            .build()
        {
            Ok(v) => v,
            Err(e) => {
                return (
                    Err(Failure::new(
                        format!("cannot set up certificate verification: {e}"),
                        Some(entries::GENERAL_TROUBLESHOOTING),
                    )),
                    None,
                )
            }
        };
    let recorder = Arc::new(Recording {
        inner,
        clock: setup.clock.clone(),
        leaf: Mutex::new(None),
    });
    let config =
        match ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
            Ok(b) => b,
            Err(e) => {
                return (
                    Err(Failure::new(
                        format!("cannot set up TLS: {e}"),
                        Some(entries::GENERAL_TROUBLESHOOTING),
                    )),
                    None,
                )
            }
        };
    let mut config = config
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = match ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(_) => {
            return (
                Err(Failure::new(
                    format!("`{host}` is not a valid TLS server name"),
                    Some(entries::TLS_HOSTNAME_MISMATCH),
                )),
                None,
            )
        }
    };
    let connector = TlsConnector::from(Arc::new(config));
    let result = tokio::time::timeout_at(deadline, connector.connect(name, tcp)).await;
    let cert = recorder
        .leaf
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .and_then(|der| CertInfo::parse(&der));
    let result = match result {
        Err(_) => Err(Failure::new(
            format!(
                "TLS handshake with {host} did not finish within {} (is this port speaking TLS?)",
                human(budget)
            ),
            Some(entries::NETWORK_TIMEOUT),
        )),
        Ok(Err(e)) => Err(explain(&e, host, cert.as_ref())),
        Ok(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            let version = match conn.protocol_version() {
                Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".to_string(),
                Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".to_string(),
                Some(v) => format!("{v:?}"),
                None => "unknown".to_string(),
            };
            let cipher = conn
                .negotiated_cipher_suite()
                .map(|c| format!("{:?}", c.suite()))
                .unwrap_or_else(|| "unknown".into());
            Ok((Box::new(stream) as BoxStream, TlsInfo { version, cipher }))
        }
    };
    (result, cert)
}

fn explain(e: &io::Error, host: &str, cert: Option<&CertInfo>) -> Failure {
    let tls_err = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    let Some(tls_err) = tls_err else {
        return match e.kind() {
            io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => Failure::new(
                format!("{host} closed the connection during the TLS handshake ({}); is this port speaking TLS, and does the server accept this name (SNI)?", io_kind(e)),
                Some(entries::TLS_HANDSHAKE_FAILURE),
            ),
            _ => Failure::new(format!("TLS handshake with {host} failed: {}", io_kind(e)), Some(entries::TLS_HANDSHAKE_FAILURE)),
        };
    };
    let subject = cert
        .map(|c| c.names_or_subject())
        .unwrap_or_else(|| "?".into());
    match tls_err {
        rustls::Error::InvalidCertificate(ce) => match ce {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Failure::new(
                format!(
                    "certificate for {subject} expired on {}",
                    cert.map(|c| format_time(c.not_after)).unwrap_or_else(|| "?".into())
                ),
                Some(entries::TLS_CERTIFICATE_EXPIRED),
            ),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Failure::new(
                format!(
                    "certificate for {subject} is not valid yet (valid from {}); check the clock of this machine and the server's",
                    cert.map(|c| format_time(c.not_before)).unwrap_or_else(|| "?".into())
                ),
                Some(entries::TLS_CERTIFICATE_EXPIRED),
            ),
            CertificateError::UnknownIssuer => {
                let what = match cert {
                    Some(c) if c.self_signed => format!("self-signed certificate ({})", c.subject),
                    Some(c) => format!("certificate issued by an unknown CA ({})", c.issuer),
                    None => "certificate issued by an unknown CA".to_string(),
                };
                Failure::new(
                    format!("{what} is not trusted; add its CA with `tls_ca` or fix the server's chain"),
                    Some(entries::TLS_UNTRUSTED_CERTIFICATE),
                )
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => Failure::new(
                format!("certificate is for {subject}, not {host}"),
                Some(entries::TLS_HOSTNAME_MISMATCH),
            ),
            CertificateError::BadSignature => Failure::new(
                format!(
                    "certificate for {subject} has a signature that does not verify against the trusted CA named {} (a different CA with the same name, or a corrupted chain)",
                    cert.map(|c| c.issuer.as_str()).unwrap_or("?")
                ),
                Some(entries::TLS_UNTRUSTED_CERTIFICATE),
            ),
            other => Failure::new(
                format!("certificate for {subject} rejected: {other:?}"),
                Some(entries::TLS_UNTRUSTED_CERTIFICATE),
            ),
        },
        rustls::Error::AlertReceived(alert) => Failure::new(
            format!("{host} refused the TLS handshake (alert {alert:?}); protocol versions, ciphers or SNI do not match"),
            Some(entries::TLS_HANDSHAKE_FAILURE),
        ),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => Failure::new(
            format!("{host} did not answer with TLS (plain HTTP on an https:// URL?)"),
            Some(entries::TLS_HANDSHAKE_FAILURE),
        ),
        other => Failure::new(format!("TLS handshake with {host} failed: {other}"), Some(entries::TLS_HANDSHAKE_FAILURE)),
    }
}

/// Every address at one port.
pub(super) fn sockets(addrs: &[IpAddr], port: u16) -> Vec<SocketAddr> {
    addrs.iter().map(|ip| SocketAddr::new(*ip, port)).collect()
}

/// The name a TLS certificate must carry: the host without IPv6 brackets.
pub(super) fn tls_name(host: &Host<String>) -> String {
    match host {
        Host::Domain(d) => d.clone(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => ip.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A loopback address that never answers: a listener whose accept queue is full drops
    /// further SYNs. The returned streams keep the queue full.
    async fn silent_address() -> (SocketAddr, tokio::net::TcpListener, Vec<TcpStream>) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut fillers = Vec::new();
        for _ in 0..16 {
            match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                Ok(Ok(s)) => fillers.push(s),
                _ => break,
            }
        }
        (addr, listener, fillers)
    }

    #[tokio::test]
    async fn a_silent_first_address_leaves_time_for_the_next() {
        let (silent, _listener, _fillers) = silent_address().await;
        let good = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let good_addr = good.local_addr().unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        let (_, to) = connect(&[silent, good_addr], deadline)
            .await
            .unwrap_or_else(|f| panic!("{}", f.detail));
        assert_eq!(to, good_addr);
    }
}
