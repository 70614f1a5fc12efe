//! TLS to a daemon on `tcp://`, with the docker CLI's options and rules:
//!
//! * `--tlsverify` (or `DOCKER_TLS_VERIFY` set to anything non-empty) uses TLS and checks the
//!   daemon's certificate against `--tlscacert`;
//! * `--tls` alone uses TLS without checking the daemon's certificate;
//! * the CA, certificate and key default to `ca.pem`, `cert.pem` and `key.pem` in
//!   `DOCKER_CERT_PATH`, else the config directory (`DOCKER_CONFIG` or `~/.docker`): the CA
//!   file must exist (even with `--tls` alone, as docker reads it), the certificate and key
//!   are used when their files exist; the client certificate is sent when both are known.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::Error;

/// The TLS settings of a connection, before any file is read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Check the daemon's certificate against [`TlsOptions::ca`] (`--tlsverify`).
    pub verify: bool,
    /// The CA certificate(s) to trust (`--tlscacert`).
    pub ca: Option<PathBuf>,
    /// The client certificate (`--tlscert`).
    pub cert: Option<PathBuf>,
    /// The client key (`--tlskey`).
    pub key: Option<PathBuf>,
}

/// The TLS flags as given on the command line (None: not given).
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    /// `--tls`.
    pub tls: bool,
    /// `--tlsverify` (None: not given; `DOCKER_TLS_VERIFY` decides).
    pub verify: Option<bool>,
    /// `--tlscacert`.
    pub ca: Option<PathBuf>,
    /// `--tlscert`.
    pub cert: Option<PathBuf>,
    /// `--tlskey`.
    pub key: Option<PathBuf>,
}

impl TlsOptions {
    /// Docker's rules: TLS when `--tls`, `--tlsverify` or `DOCKER_TLS_VERIFY`; files from the
    /// flags, else the defaults in `DOCKER_CERT_PATH` or `~/.docker` when they exist. `env`
    /// reads the environment (a map in tests).
    pub fn from_flags(flags: &TlsFlags, env: &dyn Fn(&str) -> Option<String>) -> Option<TlsOptions> {
        let verify = flags.verify.unwrap_or_else(|| env("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty()));
        if !flags.tls && !verify {
            return None;
        }
        let dir = match env("DOCKER_CERT_PATH").filter(|d| !d.is_empty()) {
            Some(d) => PathBuf::from(d),
            None => match env("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
                Some(d) => PathBuf::from(d),
                None => PathBuf::from(env("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/root".into())).join(".docker"),
            },
        };
        // The CA file is always named (and must exist); the certificate and key only when
        // their default files exist (docker's SetDefaultOptions).
        let pick = |flag: &Option<PathBuf>, name: &str| flag.clone().or_else(|| Some(dir.join(name)).filter(|p| p.exists()));
        let ca = flags.ca.clone().unwrap_or_else(|| dir.join("ca.pem"));
        Some(TlsOptions { verify, ca: Some(ca), cert: pick(&flags.cert, "cert.pem"), key: pick(&flags.key, "key.pem") })
    }

    /// Read the files and build the connector configuration.
    pub fn load(&self) -> Result<TlsConfig, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_error(format!("TLS versions: {e}")))?;
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &self.ca {
            for c in load_certs(ca)? {
                roots.add(c).map_err(|e| tls_error(format!("invalid CA certificate {}: {e}", ca.display())))?;
            }
        }
        let builder = if self.verify {
            if self.ca.is_none() {
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
            }
            builder.with_root_certificates(roots)
        } else {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
        };
        let config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                use rustls_pki_types::pem::PemObject;
                let certs = load_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| tls_error(format!("could not load X509 key pair: {}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(certs, key)
                    .map_err(|e| tls_error(format!("could not load X509 key pair: {e}")))?
            }
            _ => builder.with_no_client_auth(),
        };
        Ok(TlsConfig(Arc::new(config)))
    }
}

fn tls_error(reason: String) -> Error {
    Error::Tls(reason)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    use rustls_pki_types::pem::PemObject;
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| tls_error(format!("could not read certificates from {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(tls_error(format!("no certificate in {}", path.display())));
    }
    Ok(certs)
}

/// A loaded client configuration, shared by every connection of a client.
#[derive(Debug, Clone)]
pub struct TlsConfig(pub(crate) Arc<rustls::ClientConfig>);

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for TlsConfig {}

/// The name to check the daemon's certificate against: the address without its port.
pub(crate) fn server_name(addr: &str) -> Result<ServerName<'static>, Error> {
    let host = match addr.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| tls_error(format!("invalid server name {host:?}: {e}")))
}

/// Open a TLS connection to `addr`.
pub(crate) async fn connect(
    addr: &str,
    config: &TlsConfig,
) -> std::io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let name = server_name(addr).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    tokio_rustls::TlsConnector::from(config.0.clone()).connect(name, tcp).await
}

/// `--tls` without `--tlsverify`: any daemon certificate is accepted (signatures are still
/// checked, so the handshake is sound; only the identity is not).
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn docker_rules_for_tls_options() {
        let dir = tempfile::tempdir().unwrap();
        let certs = dir.path().to_str().unwrap().to_string();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        std::fs::write(dir.path().join("cert.pem"), "x").unwrap();
        let envs = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        let p = |n: &str| Some(dir.path().join(n));
        let cases: Vec<(TlsFlags, HashMap<String, String>, Option<TlsOptions>)> = vec![
            (TlsFlags::default(), envs(&[]), None),
            (TlsFlags::default(), envs(&[("DOCKER_TLS_VERIFY", "")]), None),
            (
                TlsFlags::default(),
                envs(&[("DOCKER_TLS_VERIFY", "1"), ("DOCKER_CERT_PATH", &certs)]),
                Some(TlsOptions { verify: true, ca: p("ca.pem"), cert: p("cert.pem"), key: None }),
            ),
            (
                TlsFlags { tls: true, ..Default::default() },
                envs(&[("DOCKER_CERT_PATH", &certs)]),
                Some(TlsOptions { verify: false, ca: p("ca.pem"), cert: p("cert.pem"), key: None }),
            ),
            (
                TlsFlags { tls: true, ..Default::default() },
                envs(&[("DOCKER_CERT_PATH", "/nowhere")]),
                Some(TlsOptions { verify: false, ca: Some("/nowhere/ca.pem".into()), cert: None, key: None }),
            ),
            (
                TlsFlags { tls: true, ..Default::default() },
                envs(&[("DOCKER_CONFIG", &certs)]),
                Some(TlsOptions { verify: false, ca: p("ca.pem"), cert: p("cert.pem"), key: None }),
            ),
            (
                TlsFlags { verify: Some(false), ..Default::default() },
                envs(&[("DOCKER_TLS_VERIFY", "1")]),
                None,
            ),
            (
                TlsFlags { verify: Some(true), key: Some("/k.pem".into()), ..Default::default() },
                envs(&[("HOME", &certs)]),
                Some(TlsOptions { verify: true, ca: Some(dir.path().join(".docker/ca.pem")), cert: None, key: Some("/k.pem".into()) }),
            ),
        ];
        for (i, (flags, env, want)) in cases.into_iter().enumerate() {
            let got = TlsOptions::from_flags(&flags, &|k| env.get(k).cloned());
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn server_names_drop_the_port() {
        for (addr, want) in [("127.0.0.1:2376", "127.0.0.1"), ("[::1]:2376", "::1"), ("example.com:1", "example.com")] {
            let n = server_name(addr).unwrap();
            let got = match n {
                ServerName::DnsName(d) => d.as_ref().to_string(),
                ServerName::IpAddress(ip) => std::net::IpAddr::from(ip).to_string(),
                _ => String::new(),
            };
            assert_eq!(got, want, "{addr}");
        }
    }

    #[test]
    fn missing_files_are_tls_errors() {
        let o = TlsOptions { verify: true, ca: Some("/nonexistent/ca.pem".into()), cert: None, key: None };
        let e = o.load().unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
    }
}
