//! TLS with rustls (and its `ring` provider), for both sides of the proxy.
//!
//! - [`server_config`]: the front, from a PEM certificate chain and private key, offering
//!   `h2` and `http/1.1` by ALPN; with a CA file, every client must present a certificate that
//!   CA issued (mutual TLS).
//! - [`ServerTls`]: the front's configuration, reloaded from its files on SIGHUP or when they
//!   change, for certificates that rotate (cert-manager, ACME) without a restart.
//! - [`client_config`]: an `https://` upstream, trusting a CA file or the system's roots, with a
//!   client certificate and key for mutual TLS; ALPN `h2`.
//!
//! Every failure to load a file is an error that names the file and what was expected of it, so
//! that a misconfigured proxy says why it does not start.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

/// A TLS configuration that could not be built: the message says which file and why.
#[derive(Debug)]
pub struct TlsError(String);

impl TlsError {
    fn new(message: impl Into<String>) -> Self {
        TlsError(message.into())
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

/// The cryptography both sides use: rustls' `ring` provider, chosen explicitly so that no
/// process-wide default has to be installed.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The front's TLS configuration: the certificate chain in `cert` (PEM, leaf first) and its
/// private key in `key` (PEM: PKCS#8, PKCS#1 or SEC1). With `client_ca`, clients must present a
/// certificate issued by one of the CA certificates in that PEM file.
pub fn server_config(
    cert: &Path,
    key: &Path,
    client_ca: Option<&Path>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = certificates(cert, "TLS certificate")?;
    let key = private_key(key, "TLS private key")?;
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(format!("TLS: {e}")))?;
    let builder = match client_ca {
        Some(path) => {
            let roots = root_store(path, "TLS client CA")?;
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                roots.into(),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::new(format!("TLS client CA {}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        TlsError::new(format!(
            "TLS certificate {} and key: {e} (is the key the certificate's own?)",
            cert.display()
        ))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The front's TLS configuration, reloadable from its files: [`ServerTls::reload`] rebuilds it
/// (on SIGHUP, or when [`ServerTls::watch`] sees a file change), and each new connection takes
/// the configuration current when it is accepted. Connections already open keep theirs, so a
/// rotated certificate needs no restart and drops no connection. A reload that fails (a file
/// half written, a key that does not match) keeps the previous configuration and says why.
#[derive(Clone)]
pub struct ServerTls {
    inner: Arc<Reloadable>,
}

struct Reloadable {
    /// The files it is built from; `None` for a configuration given as it is.
    files: Option<ServerFiles>,
    current: RwLock<Arc<ServerConfig>>,
}

#[derive(Clone)]
struct ServerFiles {
    cert: PathBuf,
    key: PathBuf,
    client_ca: Option<PathBuf>,
}

impl ServerFiles {
    fn load(&self) -> Result<Arc<ServerConfig>, TlsError> {
        server_config(&self.cert, &self.key, self.client_ca.as_deref())
    }

    /// The files' modification times and sizes: a change means the files were rewritten.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        let paths = [Some(&self.cert), Some(&self.key), self.client_ca.as_ref()];
        paths
            .into_iter()
            .flatten()
            .map(|path| {
                let meta = std::fs::metadata(path).ok()?;
                Some((meta.modified().ok()?, meta.len()))
            })
            .collect()
    }
}

impl ServerTls {
    /// Built from `cert`, `key` and `client_ca` as [`server_config`] builds it, and rebuilt from
    /// them on [`reload`](Self::reload).
    pub fn from_files(
        cert: &Path,
        key: &Path,
        client_ca: Option<&Path>,
    ) -> Result<ServerTls, TlsError> {
        let files = ServerFiles {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            client_ca: client_ca.map(Path::to_path_buf),
        };
        let config = files.load()?;
        Ok(ServerTls {
            inner: Arc::new(Reloadable {
                files: Some(files),
                current: RwLock::new(config),
            }),
        })
    }

    /// The configuration for a connection accepted now.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.inner.current.read() {
            Ok(config) => config.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Rebuilds the configuration from its files; on an error the current one stays. Without
    /// files (a configuration given as it is) there is nothing to reload.
    pub fn reload(&self) -> Result<(), TlsError> {
        let Some(files) = &self.inner.files else {
            return Ok(());
        };
        let config = files.load()?;
        match self.inner.current.write() {
            Ok(mut current) => *current = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
        Ok(())
    }

    /// Reloads on SIGHUP (on Unix) and, with `interval`, when the files' modification times or
    /// sizes change (checked that often: mounted Kubernetes secrets change this way). Logs each
    /// reload and each failure. Runs until the process ends; spawn it.
    pub async fn watch(self, interval: Option<Duration>) {
        let Some(files) = self.inner.files.clone() else {
            return;
        };
        let mut stamp = files.stamp();
        #[cfg(unix)]
        let mut hangup =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut ticks = interval.map(|every| {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            ticks
        });
        loop {
            #[cfg(unix)]
            let hangup_signal = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let hangup_signal = std::future::pending::<()>();
            let tick = async {
                match ticks.as_mut() {
                    Some(ticks) => {
                        ticks.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            let why = tokio::select! {
                () = hangup_signal => "SIGHUP",
                () = tick => {
                    let now = files.stamp();
                    if now == stamp {
                        continue;
                    }
                    stamp = now;
                    "the files changed"
                }
            };
            match self.reload() {
                Ok(()) => tracing::info!(
                    cert = %files.cert.display(),
                    "TLS certificate reloaded ({why}); new connections use it"
                ),
                Err(e) => tracing::error!(
                    "TLS certificate not reloaded ({why}), the previous one stays: {e}"
                ),
            }
        }
    }
}

impl From<Arc<ServerConfig>> for ServerTls {
    /// A configuration built elsewhere, used as it is: nothing to reload.
    fn from(config: Arc<ServerConfig>) -> Self {
        ServerTls {
            inner: Arc::new(Reloadable {
                files: None,
                current: RwLock::new(config),
            }),
        }
    }
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let files = self.inner.files.as_ref();
        f.debug_struct("ServerTls")
            .field("cert", &files.map(|f| f.cert.display().to_string()))
            .finish_non_exhaustive()
    }
}

/// The upstream's TLS configuration: trust the CA certificates in `ca` (PEM), or the system's
/// root certificates without it; present `identity` (certificate chain, private key; PEM) when
/// given, for mutual TLS. ALPN offers `h2` only: gRPC needs HTTP/2.
pub fn client_config(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let roots = match ca {
        Some(path) => root_store(path, "upstream CA")?,
        None => system_roots()?,
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::new(format!("TLS: {e}")))?
        .with_root_certificates(roots);
    let mut config = match identity {
        Some((cert, key)) => {
            let chain = certificates(cert, "upstream client certificate")?;
            let key = private_key(key, "upstream client key")?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                TlsError::new(format!(
                    "upstream client certificate {} and key: {e} (is the key the certificate's own?)",
                    cert.display()
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Reads a whole file, naming it and its role on failure.
fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError::new(format!("{what} {}: cannot read it: {e}", path.display())))
}

/// Every `CERTIFICATE` block of a PEM file; at least one.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(path, what)?;
    let chain = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(format!("{what} {}: not valid PEM: {e}", path.display())))?;
    if chain.is_empty() {
        return Err(TlsError::new(format!(
            "{what} {}: no certificate in it (expected PEM `BEGIN CERTIFICATE` blocks)",
            path.display()
        )));
    }
    Ok(chain)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 or SEC1).
fn private_key(path: &Path, what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read(path, what)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        let why = match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                "no private key in it (expected a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)".to_string()
            }
            e => format!("not valid PEM: {e}"),
        };
        TlsError::new(format!("{what} {}: {why}", path.display()))
    })
}

/// A root store holding every certificate of a PEM file; at least one must be usable.
fn root_store(path: &Path, what: &str) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(path, what)? {
        roots.add(cert).map_err(|e| {
            TlsError::new(format!(
                "{what} {}: unusable certificate: {e}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// The operating system's root certificates (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured).
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let errors: Vec<String> = found.errors.iter().map(ToString::to_string).collect();
        return Err(TlsError::new(format!(
            "no system root certificates found{}; name the upstream's CA with --upstream-ca",
            if errors.is_empty() {
                String::new()
            } else {
                format!(" ({})", errors.join("; "))
            }
        )));
    }
    Ok(roots)
}
