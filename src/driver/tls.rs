//! SIP over TLS (RFC 3261 §26): the listener, its certificate, and the certificate's reload.
//!
//! ```text
//!   accept ─► TLS handshake (rustls, TLS 1.2 or 1.3, within handshake_timeout_s)
//!          ─► tcp::serve: the same framing, CRLF keep-alives and writer as SIP over TCP,
//!             with the connection marked secure (Transport::Tls in the endpoint)
//!
//!   every reload_check_s: certificate or key file changed?
//!          ─► read both, check the key belongs to the certificate
//!          ─► swap: new handshakes get the new pair; open connections keep theirs
//!             (a pair that does not match, or does not parse, is logged and the old one kept)
//! ```
//!
//! A phone that registered over TLS is reached over the same connection: the registrar's
//! binding remembers `Transport::Tls(conn)`, so the INVITE to that operator goes back on the
//! connection the phone opened (RFC 5626's flow reuse; a phone behind NAT cannot be
//! connected to). When the connection closes, its bindings go with it.
//!
//! The files are what a CA's ACME client leaves: the chain in PEM with the server's own
//! certificate first (certbot's `fullchain.pem`) and its private key in PEM (`privkey.pem`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, error, info};

use super::ToSip;
use super::tcp::{Stream, next_conn, serve};
use crate::config::TlsConfig;
use crate::pii::Pii;

/// Reads the certificate chain and key and checks that they belong together.
pub fn load_pair(
    certificate: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(certificate)
        .map_err(|e| format!("{}: cannot read: {e}", certificate.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "{}: expected PEM certificates, found: {e}",
                certificate.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "{}: expected at least one PEM certificate (-----BEGIN CERTIFICATE-----), found none",
            certificate.display()
        ));
    }
    let private = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        format!(
            "{}: expected a PEM private key (PKCS#8, PKCS#1 or SEC1), found: {e}",
            key.display()
        )
    })?;
    let signing = provider
        .key_provider
        .load_private_key(private)
        .map_err(|e| format!("{}: unusable private key: {e}", key.display()))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        // The provider cannot tell for this key type: the handshake will.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(e) => Err(format!(
            "{} does not belong to the first certificate of {}: {e}",
            key.display(),
            certificate.display()
        )),
    }
}

/// The certificate served to new handshakes; swapped whole on a reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(match self.0.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        })
    }
}

/// A running TLS listener's certificate, for the reload task.
pub(super) struct Tls {
    acceptor: TlsAcceptor,
    current: Arc<Current>,
}

/// The ring provider, built once per listener (rustls' process default is left alone).
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl Tls {
    /// Loads the certificate and builds the server's TLS configuration: TLS 1.2 and 1.3
    /// only (rustls implements nothing older), no client certificates.
    pub(super) fn new(cfg: &TlsConfig) -> Result<Tls, String> {
        let provider = provider();
        let pair = load_pair(&cfg.certificate, &cfg.key, &provider)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(pair))));
        let server = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&current) as Arc<dyn ResolvesServerCert>);
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            current,
        })
    }
}

/// Accepts connections until the daemon stops; each gets its handshake and then the same
/// reader and writer as SIP over TCP.
pub(super) async fn accept_loop(
    listener: TcpListener,
    tls: Arc<Tls>,
    to_sip: mpsc::UnboundedSender<ToSip>,
    max: usize,
    handshake: Duration,
) {
    loop {
        match listener.accept().await {
            Ok((tcp, src)) => {
                let Ok(local) = tcp.local_addr() else {
                    continue;
                };
                let acceptor = tls.acceptor.clone();
                let to_sip = to_sip.clone();
                tokio::spawn(async move {
                    let stream = match tokio::time::timeout(handshake, acceptor.accept(tcp)).await {
                        Ok(Ok(s)) => s,
                        Ok(Err(e)) => {
                            debug!(src = %Pii(src), "SIP/TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(src = %Pii(src), "SIP/TLS handshake timed out");
                            return;
                        }
                    };
                    let who = Stream {
                        conn: next_conn(),
                        src,
                        local,
                        secure: true,
                    };
                    serve(who, stream, to_sip, max).await;
                });
            }
            Err(e) => {
                debug!("SIP/TLS accept: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// What a file looked like when last read: a renewal changes its time or size (certbot
/// points the `live/` symbolic links at new files; `metadata` follows them).
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// Looks at the certificate and key every `every` and serves a changed pair to new
/// connections. A pair that does not load is logged once per change and the old one kept.
pub(super) async fn reload_loop(
    tls: Arc<Tls>,
    certificate: PathBuf,
    key: PathBuf,
    every: Duration,
) {
    let provider = provider();
    let mut seen = (stamp(&certificate), stamp(&key));
    loop {
        tokio::time::sleep(every).await;
        let now = (stamp(&certificate), stamp(&key));
        if now == seen {
            continue;
        }
        seen = now;
        match load_pair(&certificate, &key, &provider) {
            Ok(pair) => {
                let chain = pair.cert.len();
                match tls.current.0.write() {
                    Ok(mut g) => *g = Arc::new(pair),
                    Err(p) => *p.into_inner() = Arc::new(pair),
                }
                info!(
                    certificate = %certificate.display(),
                    chain,
                    "TLS certificate reloaded: new connections get it"
                );
            }
            Err(e) => error!("TLS certificate not reloaded, the previous one is still served: {e}"),
        }
    }
}
