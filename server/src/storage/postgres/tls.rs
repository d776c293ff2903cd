//! TLS to PostgreSQL, on the council's terms and libpq's words: TLS is used
//! when the URL asks for it (`sslmode=require`, or libpq's `verify-ca` /
//! `verify-full`, which mean the same here), and then the database's
//! certificate is always verified — against the CA file named by
//! `sslrootcert=` in the URL or the `PGSSLROOTCERT` environment variable
//! (a council's own CA), else the public web roots. Without `sslmode` (or
//! with `prefer`/`disable`) the connection is plain, as before, for a Unix
//! socket, loopback or a private network: libpq's `prefer` would encrypt
//! without checking who answers, which protects against nothing an admin
//! should rely on.

use std::sync::Arc;

use postgres::config::SslMode;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector every pooled connection uses.
pub(crate) type Tls = MakeRustlsConnect;

/// The connection settings of `url` and the TLS connector for them. The
/// error is one line naming what to fix (never the password).
pub(crate) fn config(url: &str) -> Result<(postgres::Config, Tls), String> {
    let (rest, rootcert) = take_param(url, "sslrootcert");
    let rest = rest
        .replace("sslmode=verify-full", "sslmode=require")
        .replace("sslmode=verify-ca", "sslmode=require");
    let mut config: postgres::Config = rest.parse().map_err(|_| {
        "is not a PostgreSQL URL (postgres://USER@HOST[:PORT]/DATABASE)".to_string()
    })?;
    if config.get_ssl_mode() == SslMode::Prefer {
        config.ssl_mode(SslMode::Disable);
    }
    let rootcert = rootcert.or_else(|| std::env::var("PGSSLROOTCERT").ok());
    let mut roots = rustls::RootCertStore::empty();
    match rootcert.filter(|p| !p.is_empty()) {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(&path)
                .map_err(|_| format!("sslrootcert {path}: cannot read a PEM certificate file"))?;
            for cert in certs {
                let cert =
                    cert.map_err(|_| format!("sslrootcert {path}: not a PEM certificate"))?;
                roots
                    .add(cert)
                    .map_err(|_| format!("sslrootcert {path}: a certificate is not valid"))?;
            }
            if roots.is_empty() {
                return Err(format!("sslrootcert {path}: no certificate in the file"));
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|_| "TLS could not be set up".to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok((config, MakeRustlsConnect::new(tls)))
}

/// `url` without its `name=value` parameter (URL query or key/value
/// string), and the value.
fn take_param(url: &str, name: &str) -> (String, Option<String>) {
    let key = format!("{name}=");
    // The parameters and how they are joined: a URL's query, or a
    // key/value string's words.
    let (base, params, sep) = match url.split_once('?') {
        Some((base, query)) => (Some(base), query, "&"),
        None if !url.contains("://") => (None, url, " "),
        None => return (url.to_string(), None),
    };
    let mut value = None;
    let kept: Vec<&str> = params
        .split(sep)
        .filter(|p| !p.is_empty())
        .filter(|p| match p.strip_prefix(key.as_str()) {
            Some(v) => {
                value = Some(v.to_string());
                false
            }
            None => true,
        })
        .collect();
    let rest = match base {
        Some(base) if kept.is_empty() => base.to_string(),
        Some(base) => format!("{base}?{}", kept.join("&")),
        None => kept.join(" "),
    };
    (rest, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_only_when_asked_and_the_ca_file_is_taken_from_the_url() {
        let (c, _) = config("postgres://u@db/outreach").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Disable, "prefer means plain");
        let (c, _) = config("postgres://u@db/outreach?sslmode=verify-full").unwrap();
        assert_eq!(c.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            take_param(
                "postgres://u@db/o?sslmode=require&sslrootcert=/ca.pem",
                "sslrootcert"
            ),
            (
                "postgres://u@db/o?sslmode=require".to_string(),
                Some("/ca.pem".to_string())
            )
        );
        assert_eq!(
            take_param("host=db sslrootcert=/ca.pem user=u", "sslrootcert"),
            ("host=db user=u".to_string(), Some("/ca.pem".to_string()))
        );
        let e = config("postgres://u@db/o?sslmode=require&sslrootcert=/no/such.pem")
            .err()
            .unwrap();
        assert!(e.starts_with("sslrootcert /no/such.pem:"), "{e}");
    }
}
