//! The `--config` file: TOML. Every key is optional; flags override `listen` and `root`.
//!
//! ```toml
//! listen = "0.0.0.0:5000"            # default 127.0.0.1:5000
//! root = "/var/lib/berth-registry"   # default /var/lib/berth-registry
//!
//! [storage]
//! delete_enabled = true              # DELETE of manifests, tags and blobs (else 405)
//! max_manifest_bytes = 4194304       # larger manifest pushes get 413
//!
//! [tls]                              # serve HTTPS (rustls)
//! cert = "/etc/berth-registry/cert.pem"   # PEM chain, leaf first
//! key = "/etc/berth-registry/key.pem"     # PEM private key (PKCS#8, PKCS#1 or SEC1)
//!
//! # At most one of [auth.htpasswd] and [auth.token].
//! [auth.htpasswd]                    # HTTP basic auth against bcrypt entries (htpasswd -B)
//! path = "/etc/berth-registry/htpasswd"
//! realm = "berth-registry"
//!
//! [auth.token]                       # bearer tokens from the built-in /token endpoint
//! htpasswd = "/etc/berth-registry/htpasswd"   # who may get tokens
//! service = "berth-registry"         # the token audience, echoed in challenges
//! realm = "https://registry.example.com/token" # default: <scheme>://<Host>/token
//! secret = "a long random string"    # HMAC key; default: random per start
//! ttl_secs = 300
//!
//! [proxy]                          # a read-only pull-through cache of another registry
//! remote_url = "https://registry-1.docker.io"
//! username = "me"                    # optional credentials for the remote
//! password = "secret"
//! ca_file = "/etc/ssl/private-ca.pem"   # extra CA (PEM) for the remote, beside the system's
//!
//! [gc]
//! delete_untagged = false            # also delete manifests no tag reaches (see gc.rs)
//! min_blob_age_secs = 0              # gc keeps unreferenced blobs younger than this
//! upload_max_age_secs = 86400        # abandoned uploads older than this are purged
//! upload_purge_interval_secs = 3600  # how often the server purges them (0: never)
//! ```

use std::path::{Path, PathBuf};

use berth_errdefs::{HasKind, Kind};
use serde::Deserialize;

/// The default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:5000";
/// The default storage root.
pub const DEFAULT_ROOT: &str = "/var/lib/berth-registry";

/// Why a configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("parsing {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The settings contradict each other.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl HasKind for ConfigError {
    fn kind(&self) -> Kind {
        match self {
            ConfigError::Read { .. } => Kind::NotFound,
            ConfigError::Parse { .. } | ConfigError::Invalid(_) => Kind::InvalidArgument,
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: Option<String>,
    /// Storage root directory.
    pub root: Option<PathBuf>,
    /// Storage behaviour.
    pub storage: StorageConfig,
    /// HTTPS.
    pub tls: Option<TlsConfig>,
    /// Authentication.
    pub auth: AuthConfig,
    /// Garbage collection and upload expiry.
    pub gc: GcConfig,
    /// Pull-through cache mode.
    pub proxy: Option<ProxyConfig>,
}

/// `[proxy]`: serve pulls from a remote registry, caching what passes through. Pushes and
/// deletes are refused (405) in this mode.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxyConfig {
    /// The remote's base URL, `http(s)://host[:port]`.
    pub remote_url: String,
    /// User for the remote.
    #[serde(default)]
    pub username: Option<String>,
    /// Password for the remote.
    #[serde(default)]
    pub password: Option<String>,
    /// An extra trusted CA certificate (PEM) for the remote.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// `[storage]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Allow DELETE.
    pub delete_enabled: bool,
    /// Largest manifest accepted.
    pub max_manifest_bytes: usize,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig { delete_enabled: true, max_manifest_bytes: 4 << 20 }
    }
}

/// `[tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
}

/// `[auth]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Basic auth.
    pub htpasswd: Option<HtpasswdConfig>,
    /// Bearer tokens.
    pub token: Option<TokenConfig>,
}

/// `[auth.htpasswd]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtpasswdConfig {
    /// The htpasswd file.
    pub path: PathBuf,
    /// The basic-auth realm.
    #[serde(default = "default_realm")]
    pub realm: String,
}

/// `[auth.token]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// The htpasswd file of users who may get tokens.
    pub htpasswd: PathBuf,
    /// The token endpoint's URL announced in challenges; default `<scheme>://<Host>/token`.
    #[serde(default)]
    pub realm: Option<String>,
    /// The service name (token audience).
    #[serde(default = "default_realm")]
    pub service: String,
    /// The HMAC key; random per start when absent.
    #[serde(default)]
    pub secret: Option<String>,
    /// Token lifetime in seconds.
    #[serde(default = "default_ttl")]
    pub ttl_secs: u64,
}

/// `[gc]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GcConfig {
    /// Also delete manifests that no tag reaches.
    pub delete_untagged: bool,
    /// Unreferenced blobs younger than this survive a collection.
    pub min_blob_age_secs: u64,
    /// Uploads older than this are purged.
    pub upload_max_age_secs: u64,
    /// How often the server purges old uploads (0: never).
    pub upload_purge_interval_secs: u64,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            delete_untagged: false,
            min_blob_age_secs: 0,
            upload_max_age_secs: 86400,
            upload_purge_interval_secs: 3600,
        }
    }
}

fn default_realm() -> String {
    "berth-registry".to_string()
}

fn default_ttl() -> u64 {
    300
}

impl Config {
    /// Parse TOML text (`path` only names it in errors).
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let c: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })?;
        c.validate()?;
        Ok(c)
    }

    /// Read and parse a TOML file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
        Config::from_toml(&text, path)
    }

    /// Check cross-field rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth.htpasswd.is_some() && self.auth.token.is_some() {
            return Err(ConfigError::Invalid("choose one of [auth.htpasswd] and [auth.token]".into()));
        }
        if let Some(p) = &self.proxy {
            let u = p.remote_url.as_str();
            let ok = (u.starts_with("http://") || u.starts_with("https://"))
                && u.parse::<hyper::Uri>().is_ok_and(|x| x.host().is_some());
            if !ok {
                return Err(ConfigError::Invalid(format!("proxy.remote_url {u:?} is not an http(s) URL")));
            }
        }
        if self.auth.token.as_ref().is_some_and(|t| t.ttl_secs == 0) {
            return Err(ConfigError::Invalid("auth.token.ttl_secs must be positive".into()));
        }
        Ok(())
    }

    /// The listen address (configured or the default).
    pub fn listen_addr(&self) -> String {
        self.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.to_string())
    }

    /// The root (configured or the default).
    pub fn root_dir(&self) -> PathBuf {
        self.root.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documented_example() {
        // The example in the module docs, verbatim, minus the mutually exclusive [auth.htpasswd].
        let text = r#"
listen = "0.0.0.0:5000"
root = "/srv/reg"
[storage]
delete_enabled = false
[tls]
cert = "c.pem"
key = "k.pem"
[auth.token]
htpasswd = "h"
realm = "https://r/token"
[gc]
delete_untagged = true
"#;
        let c = Config::from_toml(text, Path::new("x.toml")).unwrap();
        assert_eq!(c.listen_addr(), "0.0.0.0:5000");
        assert_eq!(c.root_dir(), PathBuf::from("/srv/reg"));
        assert!(!c.storage.delete_enabled);
        assert_eq!(c.storage.max_manifest_bytes, 4 << 20);
        let t = c.auth.token.unwrap();
        assert_eq!((t.service.as_str(), t.ttl_secs, t.realm.as_deref()), ("berth-registry", 300, Some("https://r/token")));
        assert!(c.gc.delete_untagged);
        assert_eq!(c.gc.upload_max_age_secs, 86400);
    }

    #[test]
    fn rejects() {
        let cases = [
            ("bogus = 1", "unknown field"),
            ("[auth.htpasswd]\npath = \"a\"\n[auth.token]\nhtpasswd = \"b\"", "choose one"),
            ("[auth.token]\nhtpasswd = \"b\"\nttl_secs = 0", "ttl_secs"),
            ("listen = 5", "invalid type"),
            ("[proxy]\nremote_url = \"ftp://x\"", "not an http(s) URL"),
            ("[proxy]\nremote_url = \"https://\"", "not an http(s) URL"),
        ];
        for (text, want) in cases {
            let e = Config::from_toml(text, Path::new("c.toml")).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert_eq!(Config::default().listen_addr(), DEFAULT_LISTEN);
    }
}
