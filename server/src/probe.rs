//! `pynomaly probe [URL]`: GET a local health endpoint and exit 0 on a 2xx answer. The
//! container's HEALTHCHECK uses it, so the runtime image needs no curl. Plain HTTP/1.1
//! over a TCP socket is all a probe of our own server needs; no client library is pulled in.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{Context, Result, bail};

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// `http://host:port/path` to GET.
    #[arg(default_value = "http://127.0.0.1:8000/health")]
    pub url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 3)]
    pub timeout: u64,
}

/// Splits `http://host:port/path` into (host:port, path).
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("`{url}`: only http:// URLs can be probed"))?;
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, format!("/{p}")),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() {
        bail!("`{url}` names no host");
    }
    let authority = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    Ok((authority, path))
}

pub fn run(args: ProbeArgs) -> Result<()> {
    let (authority, path) = split_url(&args.url)?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let address = authority
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve `{authority}`"))?
        .next()
        .with_context(|| format!("`{authority}` resolves to no address"))?;
    let mut stream = TcpStream::connect_timeout(&address, timeout)
        .with_context(|| format!("cannot connect to {authority}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = Vec::new();
    stream
        .take(64 * 1024)
        .read_to_end(&mut answer)
        .with_context(|| format!("no answer from {authority}"))?;
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or_default();
    match status_line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') => {
            println!("{status_line}");
            Ok(())
        }
        _ => bail!("{} answered `{status_line}`", args.url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        let (a, p) = split_url("http://127.0.0.1:8000/health").unwrap();
        assert_eq!((a.as_str(), p.as_str()), ("127.0.0.1:8000", "/health"));
        let (a, p) = split_url("http://localhost").unwrap();
        assert_eq!((a.as_str(), p.as_str()), ("localhost:80", "/"));
        assert!(split_url("https://x/health").is_err());
        assert!(split_url("http:///health").is_err());
    }
}
