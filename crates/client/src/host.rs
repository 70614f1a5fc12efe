//! Daemon addresses: `unix:///path/to.sock` and `tcp://host:port`.

use std::fmt;
use std::path::PathBuf;

use crate::tls::TlsConfig;
use crate::Error;

/// Where berthd listens when neither `-H` nor `DOCKER_HOST` says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// The port docker assumes for `tcp://host` without one.
const DEFAULT_TCP_PORT: u16 = 2375;

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A unix socket path.
    Unix(PathBuf),
    /// A TCP `host:port`.
    Tcp(String),
    /// A TCP `host:port` spoken to over TLS.
    Tls(String, TlsConfig),
}

impl Host {
    /// Parse `unix:///path`, `tcp://host[:port]` or `http://host[:port]`.
    pub fn parse(s: &str) -> Result<Host, Error> {
        let invalid = |reason| Error::InvalidHost { host: s.to_string(), reason };
        let s_trim = s.trim();
        if let Some(path) = s_trim.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("empty socket path"));
            }
            return Ok(Host::Unix(PathBuf::from(path)));
        }
        let rest = s_trim
            .strip_prefix("tcp://")
            .or_else(|| s_trim.strip_prefix("http://"))
            .ok_or_else(|| invalid("expected unix:// or tcp:// address"))?;
        let rest = rest.trim_end_matches('/');
        if rest.is_empty() {
            return Err(invalid("empty tcp address"));
        }
        if rest.contains('/') {
            return Err(invalid("tcp address must not have a path"));
        }
        let has_port = match rest.rsplit_once(':') {
            // `[::1]:2375` or `host:2375`; a bare IPv6 literal must be bracketed.
            Some((h, p)) => {
                if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
                    return Err(invalid("invalid port"));
                }
                if h.is_empty() {
                    return Err(invalid("missing host"));
                }
                true
            }
            None => false,
        };
        if has_port {
            Ok(Host::Tcp(rest.to_string()))
        } else {
            Ok(Host::Tcp(format!("{rest}:{DEFAULT_TCP_PORT}")))
        }
    }

    /// This address over TLS: a `tcp://` one gets `config`; a unix socket stays as it is (as
    /// with docker, TLS options do not apply to it).
    pub fn with_tls(self, config: TlsConfig) -> Host {
        match self {
            Host::Tcp(a) | Host::Tls(a, _) => Host::Tls(a, config),
            unix => unix,
        }
    }

    /// The address to use: `flag` if given, else `DOCKER_HOST` if set and non-empty, else
    /// [`DEFAULT_HOST`].
    pub fn resolve(flag: Option<&str>) -> Result<Host, Error> {
        let env = std::env::var("DOCKER_HOST").ok();
        Host::parse(&choose(flag, env.as_deref()))
    }
}

/// The precedence rule of [`Host::resolve`], without touching the environment.
fn choose(flag: Option<&str>, env: Option<&str>) -> String {
    flag.filter(|s| !s.is_empty())
        .or(env.filter(|s| !s.is_empty()))
        .unwrap_or(DEFAULT_HOST)
        .to_string()
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) | Host::Tls(a, _) => write!(f, "tcp://{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses() {
        let ok = [
            ("unix:///run/berth/berth.sock", Host::Unix("/run/berth/berth.sock".into())),
            ("tcp://127.0.0.1:2376", Host::Tcp("127.0.0.1:2376".into())),
            ("tcp://localhost", Host::Tcp("localhost:2375".into())),
            ("http://localhost:80/", Host::Tcp("localhost:80".into())),
            ("tcp://[::1]:9", Host::Tcp("[::1]:9".into())),
        ];
        for (input, want) in ok {
            assert_eq!(Host::parse(input).unwrap(), want, "{input}");
        }
        for bad in ["", "/run/x.sock", "unix://", "ssh://host", "tcp://", "tcp://h:x", "tcp://h:1/p"] {
            assert!(Host::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn flag_beats_env_beats_default() {
        assert_eq!(choose(Some("tcp://a:1"), Some("tcp://b:2")), "tcp://a:1");
        assert_eq!(choose(None, Some("tcp://b:2")), "tcp://b:2");
        assert_eq!(choose(None, Some("")), DEFAULT_HOST);
        assert_eq!(choose(None, None), DEFAULT_HOST);
    }

    #[test]
    fn displays_round_trip() {
        for s in ["unix:///x/y.sock", "tcp://h:1"] {
            assert_eq!(Host::parse(s).unwrap().to_string(), s);
        }
    }
}
