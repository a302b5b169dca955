//! TLS and Unix sockets on both sides (DESIGN.md §3.10), with certificates generated for each
//! run (rcgen) and real sockets: every front (HTTP/1.1 and h2c in cleartext, HTTP/2 and
//! HTTP/1.1 over TLS) with every upstream (h2c, TLS, mutual TLS, Unix socket); client
//! certificates verified on both sides, accepted and rejected; the TLS server name override;
//! bad certificate files, from the runtime and from the binary's flags; the Unix socket
//! listener (permissions, stale socket). The proxy is the runtime's own `listener::serve` over a
//! `pool::Pool`, as the binary runs them; the last tests run the binary itself
//! (`example-proxy`, the committed example crate's `main.rs`).
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use protogate_tests::gateway::runtime::{listener, pool, tls};
use protogate_tests::{
    Address, EchoTrailersLayer, Reply, Server, echo_service, echo_upstream_tcp, echo_upstream_unix,
    example_upstream_tcp, gateway, h2c, http1, send, unix_request,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

// ---------------------------------------------------------------------------------------------
// Certificates
// ---------------------------------------------------------------------------------------------

/// A certificate and its key, as PEM text and as files.
struct Issued {
    cert: PathBuf,
    key: PathBuf,
    cert_pem: String,
    key_pem: String,
}

impl Issued {
    /// A reqwest client identity (certificate and key).
    fn identity(&self) -> reqwest::Identity {
        reqwest::Identity::from_pem(format!("{}{}", self.cert_pem, self.key_pem).as_bytes())
            .unwrap()
    }
}

/// A certificate authority that signs certificates for the tests.
struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A certificate for `names` (DNS names or IP addresses) for `usage`, written to `dir`.
    fn issue(
        &self,
        dir: &Path,
        file: &str,
        names: &[&str],
        usage: ExtendedKeyUsagePurpose,
    ) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names.first().copied().unwrap_or(file));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let issued = Issued {
            cert: dir.join(format!("{file}.crt")),
            key: dir.join(format!("{file}.key")),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(&issued.cert, &issued.cert_pem).unwrap();
        std::fs::write(&issued.key, &issued.key_pem).unwrap();
        issued
    }
}

/// Every certificate the tests use, in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
    /// The CA every party trusts (PEM file and text).
    ca: PathBuf,
    ca_pem: String,
    /// Another CA, trusted by nobody.
    other_ca: PathBuf,
    /// For `127.0.0.1` and `localhost`, server use.
    server: Issued,
    /// For `upstream.test` only, server use.
    named_server: Issued,
    /// Client use, from the trusted CA.
    client: Issued,
    /// Client use, from the other CA.
    stranger: Issued,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new("protogate test CA");
        let other = Ca::new("nobody's CA");
        let server = ca.issue(
            dir.path(),
            "server",
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let named_server = ca.issue(
            dir.path(),
            "named",
            &["upstream.test"],
            ExtendedKeyUsagePurpose::ServerAuth,
        );
        let client = ca.issue(
            dir.path(),
            "client",
            &["client.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let stranger = other.issue(
            dir.path(),
            "stranger",
            &["stranger.test"],
            ExtendedKeyUsagePurpose::ClientAuth,
        );
        let ca_pem = ca.cert.pem();
        let ca_path = dir.path().join("ca.crt");
        std::fs::write(&ca_path, &ca_pem).unwrap();
        let other_ca = dir.path().join("other-ca.crt");
        std::fs::write(&other_ca, other.cert.pem()).unwrap();
        Pki {
            dir,
            ca: ca_path,
            ca_pem,
            other_ca,
            server,
            named_server,
            client,
            stranger,
        }
    }

    /// Writes `text` to a file of the PKI directory.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// An HTTPS client trusting only the test CA; HTTP/2 by ALPN unless `http1_only`.
    fn client(&self, identity: Option<&Issued>, http1_only: bool) -> reqwest::Client {
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).unwrap())
            .timeout(Duration::from_secs(20));
        if let Some(identity) = identity {
            builder = builder.identity(identity.identity());
        }
        if http1_only {
            builder = builder.http1_only();
        }
        builder.build().unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// Upstreams and proxies
// ---------------------------------------------------------------------------------------------

/// A gRPC server over TLS on a free loopback port (HTTP/2 by ALPN), built with rustls directly
/// rather than with the runtime under test. Dropping it stops the server and its connections.
struct TlsUpstream {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `service` over TLS with `cert`, requiring client certificates from `client_ca` when
/// given.
async fn tls_upstream<S>(service: S, cert: &Issued, client_ca: Option<&Path>) -> TlsUpstream
where
    S: tower::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).unwrap() {
                roots.add(cert.unwrap()).unwrap();
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let chain = CertificateDer::pem_file_iter(&cert.cert)
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&cert.key).unwrap();
    let mut config = builder.with_single_cert(chain, key).unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            let service = service.clone();
            connections.spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let http = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .http2_only();
                let _ = http
                    .serve_connection(
                        hyper_util::rt::TokioIo::new(stream),
                        hyper_util::service::TowerToHyperService::new(service),
                    )
                    .await;
            });
            while connections.try_join_next().is_some() {}
        }
    });
    TlsUpstream { addr, task }
}

/// The echo upstream's service as the TLS upstream serves it.
fn echo() -> protogate_tests::EchoTrailers<
    protogate_tests::pb::echo_service_server::EchoServiceServer<protogate_tests::EchoUpstream>,
> {
    tower::Layer::layer(&EchoTrailersLayer, echo_service())
}

/// The proxy: the echo router over a `pool::Pool`, served by `listener::serve` on a free
/// loopback port, with TLS when `tls` is given. Dropping it shuts it down.
struct Proxy {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Proxy {
    async fn start(upstream: &pool::UpstreamConfig, tls: Option<tls::ServerTls>) -> Proxy {
        let pool = pool::Pool::new(upstream).unwrap();
        let listener = listener::Listener::bind("127.0.0.1:0", None).await.unwrap();
        let addr = listener.local_address().parse().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let front = listener::Front {
            tls,
            ..listener::Front::default()
        };
        tokio::spawn(listener::serve(
            listener,
            gateway::router(pool),
            front,
            async {
                let _ = stopped.await;
            },
        ));
        Proxy {
            addr,
            stop: Some(stop),
        }
    }

    fn url(&self, tls: bool) -> String {
        format!("{}://{}", if tls { "https" } else { "http" }, self.addr)
    }
}

/// The front's protocol, as a client sees it.
#[derive(Debug, Clone, Copy)]
enum Front {
    Http1,
    H2c,
    H2Tls,
    Http1Tls,
}

const FRONTS: [Front; 4] = [Front::Http1, Front::H2c, Front::H2Tls, Front::Http1Tls];

impl Front {
    fn tls(self) -> bool {
        matches!(self, Front::H2Tls | Front::Http1Tls)
    }

    fn client(self, pki: &Pki) -> reqwest::Client {
        match self {
            Front::Http1 => http1(),
            Front::H2c => h2c(),
            Front::H2Tls => pki.client(None, false),
            Front::Http1Tls => pki.client(None, true),
        }
    }

    fn version(self) -> reqwest::Version {
        match self {
            Front::Http1 | Front::Http1Tls => reqwest::Version::HTTP_11,
            Front::H2c | Front::H2Tls => reqwest::Version::HTTP_2,
        }
    }
}

/// The upstream's transport.
#[derive(Debug, Clone, Copy)]
enum UpstreamKind {
    H2c,
    Tls,
    MutualTls,
    Unix,
}

/// A running upstream of any kind; dropping it stops it.
#[allow(dead_code)]
enum Running {
    Plain(Server),
    Tls(TlsUpstream),
}

/// Starts the echo upstream of `kind` and the configuration that reaches it.
async fn start_upstream(kind: UpstreamKind, pki: &Pki) -> (Running, pool::UpstreamConfig) {
    match kind {
        UpstreamKind::H2c => {
            let server = echo_upstream_tcp().await;
            let config = pool::UpstreamConfig::new([server.url()]);
            (Running::Plain(server), config)
        }
        UpstreamKind::Unix => {
            let server = echo_upstream_unix().await;
            let Address::Unix(path) = &server.address else {
                unreachable!()
            };
            let config = pool::UpstreamConfig::new([format!("unix:{}", path.display())]);
            (Running::Plain(server), config)
        }
        UpstreamKind::Tls => {
            let upstream = tls_upstream(echo(), &pki.server, None).await;
            let mut config = pool::UpstreamConfig::new([format!("https://{}", upstream.addr)]);
            config.tls = Some(tls::client_config(Some(&pki.ca), None).unwrap());
            (Running::Tls(upstream), config)
        }
        UpstreamKind::MutualTls => {
            let upstream = tls_upstream(echo(), &pki.server, Some(&pki.ca)).await;
            let mut config = pool::UpstreamConfig::new([format!("https://{}", upstream.addr)]);
            config.tls = Some(
                tls::client_config(Some(&pki.ca), Some((&pki.client.cert, &pki.client.key)))
                    .unwrap(),
            );
            (Running::Tls(upstream), config)
        }
    }
}

/// The front's TLS configuration from the test PKI, verifying client certificates when
/// `client_ca`.
fn front_tls(pki: &Pki, client_ca: bool) -> tls::ServerTls {
    tls::server_config(
        &pki.server.cert,
        &pki.server.key,
        client_ca.then_some(pki.ca.as_path()),
    )
    .unwrap()
    .into()
}

/// A unary GET and POST, a server stream, the peer address in `X-Forwarded-For`, and a 404,
/// through `base` with `client`, each answered with `version`.
async fn exercise(label: &str, client: &reqwest::Client, base: &str, version: reqwest::Version) {
    let response = client
        .get(format!("{base}/v1/echo/hello?name=n"))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{label}: {e:?}"));
    assert_eq!(response.version(), version, "{label}");
    let reply = Reply::from(response).await;
    assert_eq!(reply.status, 200, "{label}: {reply:?}");
    assert_eq!(reply.json["id"], "hello", "{label}: {reply:?}");
    assert_eq!(reply.json["name"], "n", "{label}: {reply:?}");

    let reply = send(
        client
            .post(format!("{base}/v1/echo"))
            .header("content-type", "application/json")
            .body(r#"{"id":"posted","big":"7"}"#),
    )
    .await;
    assert_eq!(reply.status, 200, "{label}: {reply:?}");
    assert_eq!(reply.json["big"], "7", "{label}: {reply:?}");

    let reply = send(client.get(format!("{base}/v1/stream/s?count=3"))).await;
    assert_eq!(reply.status, 200, "{label}: {reply:?}");
    let lines: Vec<&str> = reply.text.lines().collect();
    assert_eq!(lines.len(), 3, "{label}: {reply:?}");
    assert!(
        lines.iter().all(|l| l.starts_with(r#"{"result":"#)),
        "{label}: {reply:?}"
    );

    let reply = send(client.get(format!("{base}/v1/headers"))).await;
    assert_eq!(reply.status, 200, "{label}: {reply:?}");
    let forwarded = reply.json["received"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["key"] == "x-forwarded-for" && m["value"] == "127.0.0.1");
    assert!(
        forwarded,
        "{label}: the peer address in X-Forwarded-For: {reply:?}"
    );

    send(client.get(format!("{base}/v1/nothing")))
        .await
        .assert_error(404, 5, "/v1/nothing");
}

/// Every front with the upstream of `kind`.
async fn every_front_with(kind: UpstreamKind) {
    let pki = Pki::new();
    let (_upstream, config) = start_upstream(kind, &pki).await;
    for front in FRONTS {
        let proxy = Proxy::start(&config, front.tls().then(|| front_tls(&pki, false))).await;
        let label = format!("{front:?} front, {kind:?} upstream");
        exercise(
            &label,
            &front.client(&pki),
            &proxy.url(front.tls()),
            front.version(),
        )
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// The matrix
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_front_with_an_h2c_upstream() {
    every_front_with(UpstreamKind::H2c).await;
}

#[tokio::test]
async fn every_front_with_a_tls_upstream() {
    every_front_with(UpstreamKind::Tls).await;
}

#[tokio::test]
async fn every_front_with_a_mutual_tls_upstream() {
    every_front_with(UpstreamKind::MutualTls).await;
}

#[tokio::test]
async fn every_front_with_a_unix_socket_upstream() {
    every_front_with(UpstreamKind::Unix).await;
}

// ---------------------------------------------------------------------------------------------
// Client certificates and names
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn front_verifies_client_certificates() {
    let pki = Pki::new();
    let (_upstream, config) = start_upstream(UpstreamKind::H2c, &pki).await;
    let proxy = Proxy::start(&config, Some(front_tls(&pki, true))).await;
    let url = format!("{}/v1/echo/mtls", proxy.url(true));

    for http1_only in [false, true] {
        let accepted = pki.client(Some(&pki.client), http1_only);
        let reply = send(accepted.get(&url)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["id"], "mtls", "{reply:?}");

        for (who, identity) in [
            ("no certificate", None),
            ("another CA's", Some(&pki.stranger)),
        ] {
            let refused = pki.client(identity, http1_only).get(&url).send().await;
            assert!(refused.is_err(), "{who}: {refused:?}");
        }
    }
    // Refused handshakes cost nothing to the others.
    let reply = send(pki.client(Some(&pki.client), false).get(&url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn front_without_client_ca_accepts_any_client() {
    let pki = Pki::new();
    let (_upstream, config) = start_upstream(UpstreamKind::H2c, &pki).await;
    let proxy = Proxy::start(&config, Some(front_tls(&pki, false))).await;
    let url = format!("{}/v1/echo/anyone", proxy.url(true));
    for identity in [None, Some(&pki.client), Some(&pki.stranger)] {
        let reply = send(pki.client(identity, false).get(&url)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    // Cleartext on the TLS port is refused, not served.
    let plain = http1()
        .get(format!("http://{}/v1/echo/x", proxy.addr))
        .send()
        .await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));
}

/// A proxy over `config` answers `/v1/echo/{id}` with `status`; for 503, a Status body whose
/// message contains `needle`.
async fn assert_upstream(config: &pool::UpstreamConfig, status: u16, needle: &str) {
    let proxy = Proxy::start(config, None).await;
    let reply = send(h2c().get(format!("{}/v1/echo/call", proxy.url(false)))).await;
    if status == 200 {
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["id"], "call", "{reply:?}");
    } else {
        reply.assert_error(status, 14, needle);
    }
}

#[tokio::test]
async fn upstream_requires_the_proxys_client_certificate() {
    let pki = Pki::new();
    let upstream = tls_upstream(echo(), &pki.server, Some(&pki.ca)).await;
    let mut config = pool::UpstreamConfig::new([format!("https://{}", upstream.addr)]);

    config.tls = Some(tls::client_config(Some(&pki.ca), None).unwrap());
    assert_upstream(&config, 503, &upstream.addr.to_string()).await;

    config.tls = Some(
        tls::client_config(Some(&pki.ca), Some((&pki.stranger.cert, &pki.stranger.key))).unwrap(),
    );
    assert_upstream(&config, 503, "unavailable").await;

    config.tls =
        Some(tls::client_config(Some(&pki.ca), Some((&pki.client.cert, &pki.client.key))).unwrap());
    assert_upstream(&config, 200, "").await;
}

#[tokio::test]
async fn upstream_certificate_is_verified_against_the_server_name() {
    let pki = Pki::new();
    // Valid for `upstream.test` only, dialed at 127.0.0.1.
    let upstream = tls_upstream(echo(), &pki.named_server, None).await;
    let mut config = pool::UpstreamConfig::new([format!("https://{}", upstream.addr)]);
    config.tls = Some(tls::client_config(Some(&pki.ca), None).unwrap());
    assert_upstream(&config, 503, "certificate").await;

    config.server_name = Some("upstream.test".to_string());
    assert_upstream(&config, 200, "").await;

    // A CA that did not issue it.
    config.tls = Some(tls::client_config(Some(&pki.other_ca), None).unwrap());
    assert_upstream(&config, 503, "certificate").await;

    // The system's roots did not either (where the machine has any).
    match tls::client_config(None, None) {
        Ok(system) => {
            config.tls = Some(system);
            assert_upstream(&config, 503, "certificate").await;
        }
        Err(e) => assert!(e.to_string().contains("--upstream-ca"), "{e}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Bad files
// ---------------------------------------------------------------------------------------------

/// The error of a TLS configuration that must fail, as text.
fn error_of<T>(result: Result<T, tls::TlsError>) -> String {
    match result {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_mentions(text: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{text:?} should mention {needle:?}");
    }
}

#[test]
fn bad_certificate_files_are_clear_errors() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("missing.crt");
    let garbage = pki.file("garbage.pem", "not a certificate\n");
    let broken = pki.file(
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    let missing_text = missing.display().to_string();
    let garbage_text = garbage.display().to_string();
    let server_cert = pki.server.cert.as_path();
    let server_key = pki.server.key.as_path();

    let e = error_of(tls::server_config(&missing, server_key, None));
    assert_mentions(&e, &["TLS certificate", &missing_text, "cannot read"]);
    let e = error_of(tls::server_config(&garbage, server_key, None));
    assert_mentions(&e, &["TLS certificate", &garbage_text, "no certificate"]);
    let e = error_of(tls::server_config(&broken, server_key, None));
    assert_mentions(&e, &["TLS certificate", "not valid PEM"]);
    // A certificate where the key should be.
    let e = error_of(tls::server_config(server_cert, server_cert, None));
    assert_mentions(&e, &["TLS private key", "no private key"]);
    // Someone else's key.
    let e = error_of(tls::server_config(server_cert, &pki.client.key, None));
    assert_mentions(&e, &["TLS certificate", "key"]);
    let e = error_of(tls::server_config(server_cert, server_key, Some(&garbage)));
    assert_mentions(&e, &["TLS client CA", &garbage_text, "no certificate"]);

    let e = error_of(tls::client_config(Some(&missing), None));
    assert_mentions(&e, &["upstream CA", &missing_text]);
    let e = error_of(tls::client_config(
        Some(&pki.ca),
        Some((&pki.client.cert, &garbage)),
    ));
    assert_mentions(&e, &["upstream client key", &garbage_text]);
    let e = error_of(tls::client_config(
        Some(&pki.ca),
        Some((&pki.client.cert, &pki.server.key)),
    ));
    assert_mentions(&e, &["upstream client certificate", "key"]);
}

#[tokio::test]
async fn bad_upstream_addresses_are_clear_errors() {
    for (address, needle) in [
        ("ftp://host:21", "unsupported upstream"),
        ("127.0.0.1:50051", "unsupported upstream"),
        ("http://host:1/prefix", "a path is not supported"),
        ("unix:", "socket path"),
    ] {
        let e = pool::Pool::new(&pool::UpstreamConfig::new([address])).unwrap_err();
        assert!(e.to_string().contains(needle), "{address}: {e}");
    }
    let mut config = pool::UpstreamConfig::new(["http://127.0.0.1:1"]);
    config.pool_size = 0;
    assert!(pool::Pool::new(&config).is_err());
}

// ---------------------------------------------------------------------------------------------
// Certificate reload
// ---------------------------------------------------------------------------------------------

/// An HTTPS client trusting only the CA in `ca_pem`, with a connection pool of its own.
fn client_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// Rewrites the PKI's server certificate and key files with a certificate from a new CA, as a
/// rotation does; returns the new CA's PEM.
fn rotate_server_files(pki: &Pki) -> String {
    let ca = Ca::new("rotated CA");
    ca.issue(
        pki.dir.path(),
        "server",
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    ca.cert.pem()
}

/// Polls `url` with a new client trusting `ca_pem` until it answers 200, for up to 5 s.
async fn eventually_served(url: &str, ca_pem: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match client_trusting(ca_pem).get(url).send().await {
            Ok(response) if response.status() == 200 => return,
            other if Instant::now() > deadline => {
                panic!("not served with the new certificate: {other:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn front_reloads_a_rotated_certificate_without_dropping_connections() {
    let pki = Pki::new();
    let upstream = echo_upstream_tcp().await;
    let config = pool::UpstreamConfig::new([upstream.url()]);
    let server_tls = tls::ServerTls::from_files(&pki.server.cert, &pki.server.key, None).unwrap();
    let proxy = Proxy::start(&config, Some(server_tls.clone())).await;
    let url = format!("{}/v1/echo/rotated?name=n", proxy.url(true));
    // An HTTP/2 client whose one connection outlives the rotation.
    let before = pki.client(None, false);
    assert_eq!(send(before.get(&url)).await.status, 200);

    let new_ca = rotate_server_files(&pki);
    let refused = client_trusting(&new_ca).get(&url).send().await;
    assert!(
        refused.is_err(),
        "served the new certificate before a reload: {refused:?}"
    );
    server_tls.reload().unwrap();
    let reply = send(client_trusting(&new_ca).get(&url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let refused = pki.client(None, false).get(&url).send().await;
    assert!(
        refused.is_err(),
        "a new connection got the old certificate: {refused:?}"
    );
    // The connection opened before the reload still serves: a new one would fail the old CA.
    let reply = send(before.get(&url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");

    // A reload that fails keeps the certificate it had, and says which file is wrong.
    std::fs::write(&pki.server.key, "not a key\n").unwrap();
    let e = server_tls.reload().unwrap_err().to_string();
    assert_mentions(
        &e,
        &["TLS private key", &pki.server.key.display().to_string()],
    );
    let reply = send(client_trusting(&new_ca).get(&url)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn front_watches_its_files_and_reloads_when_they_change() {
    let pki = Pki::new();
    let upstream = echo_upstream_tcp().await;
    let config = pool::UpstreamConfig::new([upstream.url()]);
    let server_tls = tls::ServerTls::from_files(&pki.server.cert, &pki.server.key, None).unwrap();
    tokio::spawn(server_tls.clone().watch(Some(Duration::from_millis(50))));
    let proxy = Proxy::start(&config, Some(server_tls)).await;
    let url = format!("{}/v1/echo/watched?name=n", proxy.url(true));
    assert_eq!(send(pki.client(None, false).get(&url)).await.status, 200);
    // Files written one after the other (the key after the certificate) reload once both are.
    let new_ca = rotate_server_files(&pki);
    eventually_served(&url, &new_ca).await;
}

// ---------------------------------------------------------------------------------------------
// The Unix socket listener
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unix_listener_sets_permissions_and_replaces_a_stale_socket() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("proxy.sock");
    let address = format!("unix:{}", path.display());
    // A socket file whose server is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let listener = listener::Listener::bind(&address, Some(0o600))
        .await
        .unwrap();
    assert_eq!(listener.local_address(), address);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // A live socket is not taken over.
    let e = listener::Listener::bind(&address, None).await.unwrap_err();
    assert!(e.to_string().contains("another server"), "{e}");

    // It serves, and removes its socket file when it stops.
    let upstream = echo_upstream_tcp().await;
    let pool = pool::Pool::new(&pool::UpstreamConfig::new([upstream.url()])).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(listener::serve(
        listener,
        gateway::router(pool),
        listener::Front::default(),
        async {
            let _ = stopped.await;
        },
    ));
    let (status, body) = unix_request(&path, "GET", "/v1/echo/unix", "").await;
    assert_eq!(status, 200, "{body}");
    let _ = stop.send(());
    served.await.unwrap().unwrap();
    assert!(!path.exists());

    // Permissions are for Unix sockets only.
    assert!(
        listener::Listener::bind("127.0.0.1:0", Some(0o600))
            .await
            .is_err()
    );
}

// ---------------------------------------------------------------------------------------------
// The binary
// ---------------------------------------------------------------------------------------------

/// The example proxy binary, running; killed when dropped.
struct Binary {
    child: Child,
    /// The `listen` address of its ready line.
    listen: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes terminal colour sequences.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs the example proxy binary with `args`: `Ok` once it logs that it is ready, or `Err`
/// with its exit code and log when it exits first.
fn run_binary(args: &[&str]) -> Result<Binary, (Option<i32>, String)> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-proxy"))
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            // Keep reading after the test stopped listening, so the proxy never writes to a
            // closed pipe.
            let _ = tx.send(plain(&line));
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut log = String::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                log.push_str(&line);
                log.push('\n');
                if line.contains("ready to serve") {
                    let listen = line
                        .split_whitespace()
                        .find_map(|f| f.strip_prefix("listen="))
                        .unwrap_or_else(|| panic!("no listen= in {line:?}"))
                        .to_string();
                    return Ok(Binary { child, listen });
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let status = child.wait().unwrap();
                return Err((status.code(), log));
            }
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                panic!("the proxy neither got ready nor exited in 30s:\n{log}");
            }
        }
    }
}

/// The example proxy binary serving HTTPS with the PKI's server certificate and calling
/// `upstream`, with `extra` flags.
fn run_https_binary(pki: &Pki, upstream: &str, extra: &[&str]) -> Binary {
    let (cert, key) = (
        pki.server.cert.display().to_string(),
        pki.server.key.display().to_string(),
    );
    let mut args = vec![
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        upstream,
        "--tls-cert",
        &cert,
        "--tls-key",
        &key,
    ];
    args.extend_from_slice(extra);
    run_binary(&args).unwrap_or_else(|(code, log)| panic!("exit {code:?}:\n{log}"))
}

#[test]
fn binary_refuses_to_start_with_bad_tls_files() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("missing.pem").display().to_string();
    let garbage = pki.file("garbage.pem", "garbage\n").display().to_string();
    let cert = pki.server.cert.display().to_string();
    let key = pki.server.key.display().to_string();
    let other_key = pki.client.key.display().to_string();
    let listen = ["--listen", "127.0.0.1:0"];
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--tls-cert", &missing, "--tls-key", &key],
            vec![&missing, "cannot read"],
        ),
        (
            vec!["--tls-cert", &garbage, "--tls-key", &key],
            vec![&garbage, "no certificate"],
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &cert],
            vec![&cert, "no private key"],
        ),
        (
            vec!["--tls-cert", &cert, "--tls-key", &other_key],
            vec![&cert, "key"],
        ),
        (
            vec![
                "--tls-cert",
                &cert,
                "--tls-key",
                &key,
                "--tls-client-ca",
                &garbage,
            ],
            vec![&garbage, "TLS client CA"],
        ),
        (
            vec![
                "--upstream",
                "https://127.0.0.1:1",
                "--upstream-ca",
                &missing,
            ],
            vec![&missing, "upstream CA"],
        ),
        (
            vec!["--upstream", "http://127.0.0.1:1", "--upstream-ca", &cert],
            vec!["https:// upstream"],
        ),
        // clap's own checks: a key without its certificate.
        (vec!["--tls-key", &key], vec!["--tls-cert"]),
    ];
    for (args, needles) in cases {
        let all: Vec<&str> = listen.iter().copied().chain(args.iter().copied()).collect();
        match run_binary(&all) {
            Ok(_) => panic!("{args:?}: started"),
            Err((code, log)) => {
                assert_ne!(code, Some(0), "{args:?}: {log}");
                assert_mentions(&log, &needles);
            }
        }
    }
}

#[tokio::test]
async fn binary_serves_https_and_verifies_client_certificates() {
    let pki = Pki::new();
    let upstream = example_upstream_tcp().await;
    let ca = pki.ca.display().to_string();
    let proxy = run_https_binary(&pki, &upstream.url(), &["--tls-client-ca", &ca]);
    let url = format!("https://{}/v1/greeter/world", proxy.listen);
    for http1_only in [false, true] {
        let reply = send(pki.client(Some(&pki.client), http1_only).get(&url)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        assert_eq!(reply.json["message"], "Hello world", "{reply:?}");
        let refused = pki.client(None, http1_only).get(&url).send().await;
        assert!(refused.is_err(), "{refused:?}");
    }
}

#[tokio::test]
async fn binary_calls_a_mutual_tls_upstream_by_its_server_name() {
    use protogate_example_upstream::pb::helloworld::v1::greeter_server::GreeterServer;
    let pki = Pki::new();
    let upstream = tls_upstream(
        GreeterServer::new(protogate_example_upstream::Greeter),
        &pki.named_server,
        Some(&pki.ca),
    )
    .await;
    let upstream_url = format!("https://{}", upstream.addr);
    let (ca, cert, key) = (
        pki.ca.display().to_string(),
        pki.client.cert.display().to_string(),
        pki.client.key.display().to_string(),
    );
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("proxy.sock");
    let listen = format!("unix:{}", socket.display());
    let proxy = run_binary(&[
        "--listen",
        &listen,
        "--socket-mode",
        "660",
        "--upstream",
        &upstream_url,
        "--upstream-ca",
        &ca,
        "--upstream-cert",
        &cert,
        "--upstream-key",
        &key,
        "--upstream-server-name",
        "upstream.test",
        "--upstream-pool-size",
        "2",
        "--upstream-keep-alive",
        "10s",
    ])
    .unwrap_or_else(|(code, log)| panic!("exit {code:?}:\n{log}"));
    assert_eq!(proxy.listen, listen);
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
    }
    for name in ["a", "b", "c"] {
        let (status, body) = unix_request(&socket, "GET", &format!("/v1/greeter/{name}"), "").await;
        assert_eq!(status, 200, "{body}");
        assert!(body.contains(&format!("Hello {name}")), "{body}");
    }
}

#[tokio::test]
async fn binary_reloads_its_certificate_on_sighup() {
    let pki = Pki::new();
    let upstream = example_upstream_tcp().await;
    let proxy = run_https_binary(&pki, &upstream.url(), &["--tls-reload-interval", "off"]);
    let url = format!("https://{}/v1/greeter/world", proxy.listen);
    assert_eq!(send(pki.client(None, false).get(&url)).await.status, 200);
    let new_ca = rotate_server_files(&pki);
    // Polling is off: only the signal reloads.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(client_trusting(&new_ca).get(&url).send().await.is_err());
    let status = Command::new("kill")
        .args(["-HUP", &proxy.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    eventually_served(&url, &new_ca).await;
}
