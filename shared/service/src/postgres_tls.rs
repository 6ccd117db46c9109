//! TLS to PostgreSQL (rustls), with libpq's meanings of `sslmode` so that a
//! `DATABASE_URL` written for `psql` means the same here:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `prefer` (default) | when the server offers it | no (yes with `sslrootcert`) |
//! | `require` | always | no (chain, as `verify-ca`, with `sslrootcert`) |
//! | `verify-ca` | always | chain, against `sslrootcert` or the system's roots |
//! | `verify-full` | always | chain and host name, likewise |
//!
//! `sslrootcert=PATH` names a PEM bundle (for RDS, Amazon's `global-bundle.pem`). The
//! driver (tokio-postgres) knows only `disable`/`prefer`/`require` and no `sslrootcert`,
//! so both are taken out of the URL here and applied to the rustls configuration.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::storage::StoreError;

/// What libpq's `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it.
    Prefer,
    /// Always encrypt.
    Require,
    /// Always encrypt and check the certificate's chain.
    VerifyCa,
    /// Always encrypt and check the chain and the host name.
    VerifyFull,
}

/// The TLS settings read from a database URL, and the URL without them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    /// The requested mode.
    pub mode: TlsMode,
    /// The PEM bundle of trusted roots, when given.
    pub root_cert: Option<String>,
    /// The URL as the driver reads it (`sslrootcert` removed, `sslmode` in its words).
    pub driver_url: String,
}

fn config_error(message: String) -> StoreError {
    StoreError::Backend {
        action: "parse",
        key: "DATABASE_URL".into(),
        message,
    }
}

fn mode(value: &str) -> Result<TlsMode, StoreError> {
    Ok(match value {
        "disable" => TlsMode::Disable,
        "allow" | "prefer" => TlsMode::Prefer,
        "require" => TlsMode::Require,
        "verify-ca" => TlsMode::VerifyCa,
        "verify-full" => TlsMode::VerifyFull,
        other => {
            return Err(config_error(format!(
                "sslmode `{other}`: use disable, prefer, require, verify-ca or verify-full"
            )));
        }
    })
}

/// Takes `sslmode` and `sslrootcert` out of a URL (`postgres://…?sslmode=…`) or a
/// key=value connection string.
pub fn split_settings(database_url: &str) -> Result<TlsSettings, StoreError> {
    let url_form =
        database_url.starts_with("postgres://") || database_url.starts_with("postgresql://");
    let (head, pairs, separator) = if url_form {
        match database_url.split_once('?') {
            Some((head, query)) => (
                format!("{head}?"),
                query.split('&').collect::<Vec<_>>(),
                "&",
            ),
            None => (database_url.to_string(), Vec::new(), "&"),
        }
    } else {
        (
            String::new(),
            database_url.split_whitespace().collect(),
            " ",
        )
    };
    let mut tls_mode = TlsMode::Prefer;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for pair in pairs.into_iter().filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|e| config_error(format!("{key}: {e}")))?
            .into_owned();
        match key {
            "sslmode" => tls_mode = mode(&decoded)?,
            "sslrootcert" => root_cert = Some(decoded),
            _ => kept.push(pair.to_string()),
        }
    }
    // The driver's own words: it encrypts or not; checking is rustls'.
    kept.push(format!(
        "sslmode={}",
        match tls_mode {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            _ => "require",
        }
    ));
    let driver_url = if url_form && head.ends_with('?') {
        format!("{head}{}", kept.join(separator))
    } else if url_form {
        format!("{head}?{}", kept.join(separator))
    } else {
        kept.join(separator)
    };
    Ok(TlsSettings {
        mode: tls_mode,
        root_cert,
        driver_url,
    })
}

/// The driver's configuration and the TLS connector for `database_url`.
pub fn connect_config(
    database_url: &str,
) -> Result<(tokio_postgres::Config, MakeRustlsConnect), StoreError> {
    let settings = split_settings(database_url)?;
    let config: tokio_postgres::Config = settings
        .driver_url
        .parse()
        .map_err(|e| config_error(format!("{e}")))?;
    debug_assert!(match settings.mode {
        TlsMode::Disable => config.get_ssl_mode() == SslMode::Disable,
        TlsMode::Prefer => config.get_ssl_mode() == SslMode::Prefer,
        _ => config.get_ssl_mode() == SslMode::Require,
    });
    Ok((config, MakeRustlsConnect::new(client_config(&settings)?)))
}

fn roots(root_cert: Option<&str>) -> Result<RootCertStore, StoreError> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| config_error(format!("sslrootcert {path}: {e}")))?;
            let (added, _) = roots.add_parsable_certificates(certs);
            if added == 0 {
                return Err(config_error(format!(
                    "sslrootcert {path}: no certificate in it (a PEM bundle is expected)"
                )));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(config_error(
                    "no trusted roots: give sslrootcert=PATH (a PEM bundle) or install the system's CA certificates".into(),
                ));
            }
        }
    }
    Ok(roots)
}

fn client_config(settings: &TlsSettings) -> Result<ClientConfig, StoreError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_error(format!("TLS: {e}")))?;
    // libpq: a root file given turns `prefer`/`require` into chain checks.
    let check = match (settings.mode, settings.root_cert.is_some()) {
        (TlsMode::Disable, _) | (TlsMode::Prefer | TlsMode::Require, false) => None,
        (TlsMode::Prefer | TlsMode::Require | TlsMode::VerifyCa, true)
        | (TlsMode::VerifyCa, false) => Some(false),
        (TlsMode::VerifyFull, _) => Some(true),
    };
    let chain = match check {
        None => None,
        Some(_) => Some(
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(settings.root_cert.as_deref())?),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| config_error(format!("TLS roots: {e}")))?,
        ),
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (check, chain) {
        (Some(true), Some(webpki)) => webpki,
        (_, chain) => Arc::new(Lenient { chain, provider }),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The checks libpq makes below `verify-full`: with `chain`, the certificate must lead to
/// a trusted root but its host name is not compared (`verify-ca`); without, it is taken
/// as it is (`prefer`/`require` without roots). Handshake signatures are always checked.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn libpq_settings_leave_the_url_in_the_drivers_words() {
        let s = split_settings(
            "postgres://u:p@db:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Frds.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(s.mode, TlsMode::VerifyFull);
        assert_eq!(s.root_cert.as_deref(), Some("/etc/rds.pem"));
        assert_eq!(
            s.driver_url,
            "postgres://u:p@db:5432/app?application_name=x&sslmode=require"
        );
        let plain = split_settings("postgres://u@db/app").unwrap();
        assert_eq!((plain.mode, plain.root_cert), (TlsMode::Prefer, None));
        assert_eq!(plain.driver_url, "postgres://u@db/app?sslmode=prefer");
        let kv = split_settings("host=db user=u sslmode=disable dbname=app").unwrap();
        assert_eq!(kv.mode, TlsMode::Disable);
        assert_eq!(kv.driver_url, "host=db user=u dbname=app sslmode=disable");
        let err = split_settings("postgres://db/app?sslmode=always").unwrap_err();
        assert!(
            err.to_string()
                .contains("sslmode `always`: use disable, prefer"),
            "{err}"
        );
    }

    #[test]
    fn a_root_file_that_is_not_pem_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roots.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let url = format!(
            "postgres://db/app?sslmode=verify-full&sslrootcert={}",
            path.display()
        );
        let refused = |url: &str| match connect_config(url) {
            Ok(_) => panic!("{url} was accepted"),
            Err(e) => e.to_string(),
        };
        let err = refused(&url);
        assert!(err.contains("roots.pem: no certificate in it"), "{err}");
        let missing = refused("postgres://db/app?sslmode=verify-ca&sslrootcert=/nonexistent.pem");
        assert!(
            missing.contains("sslrootcert /nonexistent.pem"),
            "{missing}"
        );
        // prefer/require without roots need no root file.
        assert!(connect_config("postgres://db/app?sslmode=require").is_ok());
    }
}
