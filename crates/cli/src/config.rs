//! The docker CLI's configuration file, `~/.docker/config.json` (or `$DOCKER_CONFIG/
//! config.json`), for what berth needs of it: registry credentials.
//!
//! Credentials live in `auths[server].auth` as `base64(user:password)` (plus `identitytoken`
//! and `email` when present), or with a credential helper (`credsStore`, `credHelpers`:
//! `docker-credential-<name> get|store|erase`), as docker keeps them. Everything else in the
//! file is kept as it was when the file is written back; the file is replaced atomically and
//! created with mode 0600 (an existing file keeps its mode and owner).
//!
//! Docker Hub's credentials are kept under [`INDEX_SERVER`]; other registries under their
//! `host[:port]`.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use berth_client::AuthConfig;
use serde_json::{Map, Value as Json};

/// The key of Docker Hub's credentials (`registry.IndexServer`).
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// The file's name inside the config directory.
pub const CONFIG_FILE_NAME: &str = "config.json";

/// What a helper says for credentials it does not have.
const HELPER_NOT_FOUND: &str = "credentials not found in native keychain";

/// A helper's user name for an identity token.
const TOKEN_USERNAME: &str = "<token>";

/// Failures of reading or writing credentials.
#[derive(Debug)]
pub enum ConfigError {
    /// The file exists but could not be read.
    Read(std::io::Error),
    /// The file is not a valid config file.
    Parse {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Writing the file failed.
    Write(std::io::Error),
    /// A credential helper failed.
    Helper(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Read(e) => write!(f, "loading config file: {e}"),
            ConfigError::Parse { path, reason } => write!(f, "parsing config file ({path}): {reason}"),
            ConfigError::Write(e) => write!(f, "{e}"),
            ConfigError::Helper(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The config directory: `$DOCKER_CONFIG`, else `$HOME/.docker`.
pub fn config_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(d) = env("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = env("HOME").filter(|h| !h.is_empty()).unwrap_or_else(|| "/root".to_string());
    PathBuf::from(home).join(".docker")
}

/// The credentials key of a registry domain (`getAuthConfigKey`): Docker Hub's domains map
/// to [`INDEX_SERVER`], others are used as they are.
pub fn auth_key(domain: &str) -> String {
    if domain == "docker.io" || domain == "index.docker.io" {
        INDEX_SERVER.to_string()
    } else {
        domain.to_string()
    }
}

/// `http://host:5000/v2/` -> `host:5000` (`ConvertToHostname`).
pub fn convert_to_hostname(address: &str) -> String {
    let stripped = match address.split_once("://") {
        Some((_, rest)) => rest,
        None => address,
    };
    stripped.split('/').next().unwrap_or_default().to_string()
}

/// The parsed config file.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Where the file is (or would be).
    pub filename: PathBuf,
    /// Every top-level field as read, `auths` included (rewritten on save).
    fields: Map<String, Json>,
    /// `auths`, decoded: username and password from `auth`, `server_address` = the key.
    auths: BTreeMap<String, AuthConfig>,
    /// `credsStore` (or the detected default helper).
    pub creds_store: String,
    /// `credHelpers`: registry -> helper.
    pub cred_helpers: BTreeMap<String, String>,
    /// Runs credential helpers (a fake in tests).
    helper: HelperRunner,
}

/// How a helper is run: program name, action, stdin -> (exit code, stdout), or Go's
/// words for why it could not run.
pub type HelperRunner = fn(&str, &str, &str) -> Result<(i32, String), String>;

fn run_helper(program: &str, action: &str, input: &str) -> Result<(i32, String), String> {
    let spawned = std::process::Command::new(program)
        .arg(action)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("exec: \"{program}\": executable file not found in $PATH"))
        }
        Err(e) => return Err(e.to_string()),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    Ok((out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).to_string()))
}

/// Ask helper `helper` to do `action` (docker-credential-helpers' client): its output on
/// success, `Ok(None)` for "credentials not found", else docker's error words.
fn ask_helper(runner: HelperRunner, helper: &str, action: &str, what: &str, input: &str) -> Result<Option<String>, ConfigError> {
    let program = format!("docker-credential-{helper}");
    match runner(&program, action, input) {
        Ok((0, out)) => Ok(Some(out)),
        Ok((_, out)) if out.trim() == HELPER_NOT_FOUND => Ok(None),
        Ok((code, out)) => Err(ConfigError::Helper(format!("error {what} credentials - err: exit status {code}, out: `{}`", out.trim()))),
        Err(e) => Err(ConfigError::Helper(format!("error {what} credentials - err: {e}, out: ``"))),
    }
}

impl ConfigFile {
    /// Load `<dir>/config.json`; a missing file is an empty config. As docker, a config without
    /// any credentials uses the platform's helper (`pass`, else `secretservice`) when its
    /// `docker-credential-*` program is installed.
    pub fn load(dir: &Path) -> Result<ConfigFile, ConfigError> {
        let filename = dir.join(CONFIG_FILE_NAME);
        let mut cfg = match std::fs::read(&filename) {
            Ok(bytes) => ConfigFile::parse(filename, &bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => ConfigFile::empty(filename),
            Err(e) => return Err(ConfigError::Read(e)),
        };
        if cfg.creds_store.is_empty() && cfg.cred_helpers.is_empty() && cfg.auths.is_empty() {
            cfg.creds_store = detect_default_store(&|p| find_in_path(p).is_some());
        }
        Ok(cfg)
    }

    /// A config with nothing in it, to be written to `filename`.
    pub fn empty(filename: PathBuf) -> ConfigFile {
        ConfigFile {
            filename,
            fields: Map::new(),
            auths: BTreeMap::new(),
            creds_store: String::new(),
            cred_helpers: BTreeMap::new(),
            helper: run_helper,
        }
    }

    /// Parse the file's bytes (`LoadFromReader`).
    pub fn parse(filename: PathBuf, bytes: &[u8]) -> Result<ConfigFile, ConfigError> {
        let bad = |reason: String| ConfigError::Parse { path: filename.display().to_string(), reason };
        let mut cfg = ConfigFile::empty(filename.clone());
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(cfg);
        }
        let v: Json = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        let Json::Object(fields) = v else {
            return Err(bad("json: cannot unmarshal into Go value of type configfile.ConfigFile".into()));
        };
        if let Some(auths) = fields.get("auths").filter(|a| !a.is_null()) {
            let auths = auths.as_object().ok_or_else(|| bad("auths is not an object".into()))?;
            for (server, entry) in auths {
                let mut ac = AuthConfig::from_json(entry);
                if !ac.auth.is_empty() {
                    let (user, password) = decode_auth(&ac.auth).map_err(bad)?;
                    ac.username = user;
                    ac.password = password;
                }
                ac.auth.clear();
                ac.server_address = server.clone();
                cfg.auths.insert(server.clone(), ac);
            }
        }
        cfg.creds_store = fields.get("credsStore").and_then(Json::as_str).unwrap_or_default().to_string();
        if let Some(h) = fields.get("credHelpers").and_then(Json::as_object) {
            for (k, v) in h {
                if let Some(v) = v.as_str() {
                    cfg.cred_helpers.insert(k.clone(), v.to_string());
                }
            }
        }
        cfg.fields = fields;
        Ok(cfg)
    }

    /// The file's new contents (`SaveToWriter`): tab-indented JSON, `auths` re-encoded
    /// (`auth` = base64 of `user:password`, no plain user name, password or server address).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut fields = self.fields.clone();
        let mut auths = Map::new();
        for (server, ac) in &self.auths {
            let stored = AuthConfig {
                auth: encode_auth(&ac.username, &ac.password),
                username: String::new(),
                password: String::new(),
                server_address: String::new(),
                ..ac.clone()
            };
            let v: Json = serde_json::from_str(&stored.to_json()).unwrap_or(Json::Object(Map::new()));
            auths.insert(server.clone(), v);
        }
        fields.insert("auths".into(), Json::Object(auths));
        if !self.creds_store.is_empty() {
            fields.insert("credsStore".into(), Json::String(self.creds_store.clone()));
        }
        if let Some(Json::Object(h)) = fields.get_mut("HttpHeaders") {
            h.retain(|k, _| !k.eq_ignore_ascii_case("user-agent"));
        }
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"\t");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        let _ = serde::Serialize::serialize(&Json::Object(fields), &mut ser);
        out
    }

    /// A top-level field as read (e.g. `currentContext`, which contexts use).
    pub fn field(&self, key: &str) -> Option<&Json> {
        self.fields.get(key)
    }

    /// Set (`Some`) or remove (`None`) a top-level field; [`ConfigFile::save`] writes it.
    pub fn set_field(&mut self, key: &str, value: Option<Json>) {
        match value {
            Some(v) => {
                self.fields.insert(key.to_string(), v);
            }
            None => {
                self.fields.remove(key);
            }
        }
    }

    /// Write the file (`Save`): a temp file next to it, renamed over it. A new file gets mode
    /// 0600 in a 0700 directory; an existing one keeps its mode (and owner); a symlinked file
    /// is replaced where the link points.
    pub fn save(&self) -> Result<(), ConfigError> {
        let dir = self.filename.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode_0700()
            .create(dir)
            .map_err(ConfigError::Write)?;
        let target = match std::fs::canonicalize(&self.filename) {
            Ok(p) => p,
            Err(_) => match std::fs::read_link(&self.filename) {
                // A dangling link: write where it points.
                Ok(t) if t.is_absolute() => t,
                Ok(t) => dir.join(t),
                Err(_) => self.filename.clone(),
            },
        };
        let base = self.filename.file_name().and_then(|n| n.to_str()).unwrap_or(CONFIG_FILE_NAME);
        let tmp = temp_path(dir, base);
        let result = (|| {
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode_0600().open(&tmp)?;
            f.write_all(&self.to_bytes())?;
            f.sync_all()?;
            drop(f);
            if let Ok(meta) = std::fs::metadata(&target) {
                if meta.is_file() {
                    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
                    if meta.uid() > 0 && meta.gid() > 0 {
                        let _ = std::os::unix::fs::chown(&tmp, Some(meta.uid()), Some(meta.gid()));
                    }
                }
            }
            std::fs::rename(&tmp, &target)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        result.map_err(ConfigError::Write)
    }

    /// The helper for `server` (`credHelpers`, else `credsStore`), if any.
    fn helper_for(&self, server: &str) -> Option<String> {
        if !server.is_empty() {
            if let Some(h) = self.cred_helpers.get(server) {
                return Some(h.clone());
            }
        }
        (!self.creds_store.is_empty()).then(|| self.creds_store.clone())
    }

    /// The credentials stored for `server` (`GetAuthConfig`); empty when there are none.
    pub fn get_auth(&self, server: &str) -> Result<AuthConfig, ConfigError> {
        let from_file = self.file_auth(server);
        let Some(helper) = self.helper_for(server) else { return Ok(from_file) };
        let Some(out) = ask_helper(self.helper, &helper, "get", "getting", server)? else {
            // Only the e-mail comes from the file then.
            return Ok(AuthConfig { email: from_file.email, ..AuthConfig::default() });
        };
        let v: Json = serde_json::from_str(&out).map_err(|e| ConfigError::Helper(format!("error getting credentials - err: {e}, out: `{}`", out.trim())))?;
        let user = v.get("Username").and_then(Json::as_str).unwrap_or_default();
        let secret = v.get("Secret").and_then(Json::as_str).unwrap_or_default();
        let mut ac = AuthConfig { email: from_file.email, server_address: server.to_string(), ..AuthConfig::default() };
        if user == TOKEN_USERNAME {
            ac.identity_token = secret.to_string();
        } else {
            ac.username = user.to_string();
            ac.password = secret.to_string();
        }
        Ok(ac)
    }

    /// The file store's `Get`: the entry for `server`, else one whose key names the same host
    /// (`http://host:5000` for `host:5000`, from old files), else nothing.
    fn file_auth(&self, server: &str) -> AuthConfig {
        if let Some(ac) = self.auths.get(server) {
            return ac.clone();
        }
        self.auths
            .iter()
            .find(|(k, _)| convert_to_hostname(k) == server)
            .map(|(_, ac)| ac.clone())
            .unwrap_or_default()
    }

    /// Store credentials under `auth.server_address` and save the file. Returns whether the
    /// file now holds a password in plain text (docker warns about it).
    pub fn store_auth(&mut self, auth: &AuthConfig) -> Result<bool, ConfigError> {
        let server = auth.server_address.clone();
        if let Some(helper) = self.helper_for(&server) {
            let (user, secret) = if auth.identity_token.is_empty() {
                (auth.username.as_str(), auth.password.as_str())
            } else {
                (TOKEN_USERNAME, auth.identity_token.as_str())
            };
            let q = |s: &str| Json::String(s.to_string()).to_string();
            let input = format!("{{\"ServerURL\":{},\"Username\":{},\"Secret\":{}}}", q(&server), q(user), q(secret));
            if ask_helper(self.helper, &helper, "store", "storing", &input)?.is_none() {
                return Err(ConfigError::Helper(format!("error storing credentials - err: exit status 1, out: `{HELPER_NOT_FOUND}`")));
            }
            // Only the e-mail (if any) stays in the file.
            let rest = AuthConfig { username: String::new(), password: String::new(), identity_token: String::new(), ..auth.clone() };
            self.put_file_auth(rest)?;
            return Ok(false);
        }
        let changed = self.put_file_auth(auth.clone())?;
        Ok(changed && !auth.password.is_empty())
    }

    /// Put an entry in the file and save it, unless it is there already. Returns whether
    /// the file was written.
    fn put_file_auth(&mut self, auth: AuthConfig) -> Result<bool, ConfigError> {
        if self.auths.get(&auth.server_address) == Some(&auth) {
            return Ok(false);
        }
        self.auths.insert(auth.server_address.clone(), auth);
        self.save()?;
        Ok(true)
    }

    /// Remove the credentials of `server` (from its helper and from the file).
    pub fn erase_auth(&mut self, server: &str) -> Result<(), ConfigError> {
        if let Some(helper) = self.helper_for(server) {
            // Nothing to erase is no error.
            ask_helper(self.helper, &helper, "erase", "erasing", server)?;
        }
        if self.auths.remove(server).is_some() {
            self.save()?;
        }
        Ok(())
    }

    /// Replace the helper runner (tests).
    #[cfg(test)]
    pub fn with_helper(mut self, runner: HelperRunner) -> ConfigFile {
        self.helper = runner;
        self
    }
}

/// The credentials pull and push send for an image in repository `domain`
/// (`RetrieveAuthTokenFromImage`): the stored ones, or nothing (`{}`).
pub fn auth_for_domain(cfg: &ConfigFile, domain: &str) -> Result<AuthConfig, ConfigError> {
    cfg.get_auth(&auth_key(domain))
}

/// `credentials.DetectDefaultStore` on Linux: `pass` if its program is installed (and `pass`
/// itself), else `secretservice` if its program is.
fn detect_default_store(installed: &dyn Fn(&str) -> bool) -> String {
    let platform = if installed("pass") { "pass" } else { "secretservice" };
    if installed(&format!("docker-credential-{platform}")) {
        platform.to_string()
    } else {
        String::new()
    }
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| {
        std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
    })
}

/// `base64(user:password)`, empty when both are empty.
pub fn encode_auth(user: &str, password: &str) -> String {
    if user.is_empty() && password.is_empty() {
        return String::new();
    }
    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
}

/// `auth` back into user and password (`decodeAuth`).
pub fn decode_auth(auth: &str) -> Result<(String, String), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .map_err(|e| format!("illegal base64 data: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    match text.split_once(':') {
        Some((user, password)) if !user.is_empty() => Ok((user.to_string(), password.trim_matches('\0').to_string())),
        _ => Err("Invalid auth configuration file".into()),
    }
}

fn temp_path(dir: &Path, base: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!("{base}{}{nanos}", std::process::id()))
}

/// Small helpers for setting modes on builders.
trait Mode0700 {
    fn mode_0700(&mut self) -> &mut Self;
}

impl Mode0700 for std::fs::DirBuilder {
    fn mode_0700(&mut self) -> &mut Self {
        use std::os::unix::fs::DirBuilderExt;
        self.mode(0o700)
    }
}

trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(u: &str, p: &str, server: &str) -> AuthConfig {
        AuthConfig { username: u.into(), password: p.into(), server_address: server.into(), ..AuthConfig::default() }
    }

    #[test]
    fn config_dir_follows_docker_config_then_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        assert_eq!(config_dir(&env(&[("DOCKER_CONFIG", "/x"), ("HOME", "/h")])), PathBuf::from("/x"));
        assert_eq!(config_dir(&env(&[("DOCKER_CONFIG", ""), ("HOME", "/h")])), PathBuf::from("/h/.docker"));
        assert_eq!(config_dir(&env(&[("HOME", "/h")])), PathBuf::from("/h/.docker"));
    }

    #[test]
    fn keys_and_hostnames() {
        let keys = [("docker.io", INDEX_SERVER), ("index.docker.io", INDEX_SERVER), ("localhost:5000", "localhost:5000"), ("ghcr.io", "ghcr.io")];
        for (domain, want) in keys {
            assert_eq!(auth_key(domain), want);
        }
        let hosts = [
            ("http://localhost:5000/v2/", "localhost:5000"),
            ("https://index.docker.io/v1/", "index.docker.io"),
            ("registry.example/path", "registry.example"),
            ("localhost:5000", "localhost:5000"),
        ];
        for (address, want) in hosts {
            assert_eq!(convert_to_hostname(address), want);
        }
    }

    #[test]
    fn auth_strings() {
        assert_eq!(encode_auth("u", "p"), "dTpw");
        assert_eq!(encode_auth("", ""), "");
        assert_eq!(decode_auth("dTpw").unwrap(), ("u".into(), "p".into()));
        assert_eq!(decode_auth(&encode_auth("u", "p:with:colons")).unwrap(), ("u".into(), "p:with:colons".into()));
        assert!(decode_auth("!!").is_err());
        assert_eq!(decode_auth(&encode_auth("", "p")).unwrap_err(), "Invalid auth configuration file");
        assert_eq!(decode_auth("dXNlcg==").unwrap_err(), "Invalid auth configuration file");
    }

    #[test]
    fn reads_auths_and_keeps_other_fields() {
        let text = r#"{
            "auths": {
                "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
                "localhost:5000": {"auth": "dTpw", "email": "e@x"},
                "http://old.example:5000": {"auth": "bzpw"},
                "tok.example": {"identitytoken": "tok"}
            },
            "psFormat": "{{.ID}}",
            "HttpHeaders": {"User-Agent": "x", "X-Meta": "y"},
            "proxies": {"default": {"httpProxy": "http://p"}}
        }"#;
        let cfg = ConfigFile::parse("/d/config.json".into(), text.as_bytes()).unwrap();
        let cases = [
            (INDEX_SERVER, user("hub", "secret", INDEX_SERVER)),
            ("localhost:5000", AuthConfig { email: "e@x".into(), ..user("u", "p", "localhost:5000") }),
            ("old.example:5000", user("o", "p", "http://old.example:5000")),
            ("tok.example", AuthConfig { identity_token: "tok".into(), server_address: "tok.example".into(), ..AuthConfig::default() }),
            ("nowhere:1", AuthConfig::default()),
        ];
        for (server, want) in cases {
            assert_eq!(cfg.get_auth(server).unwrap(), want, "{server}");
        }
        // The header pull sends for an image in each registry.
        assert_eq!(auth_for_domain(&cfg, "docker.io").unwrap().encode(), user("hub", "secret", INDEX_SERVER).encode());
        assert_eq!(auth_for_domain(&cfg, "nowhere:1").unwrap().encode(), "e30=");

        let written = String::from_utf8(cfg.to_bytes()).unwrap();
        let back: Json = serde_json::from_str(&written).unwrap();
        assert_eq!(back["psFormat"], "{{.ID}}");
        assert_eq!(back["proxies"]["default"]["httpProxy"], "http://p");
        assert_eq!(back["HttpHeaders"], serde_json::json!({"X-Meta": "y"}));
        assert_eq!(back["auths"]["localhost:5000"], serde_json::json!({"auth": "dTpw", "email": "e@x"}));
        assert_eq!(back["auths"]["tok.example"], serde_json::json!({"identitytoken": "tok"}));
        assert!(written.starts_with("{\n\t\"HttpHeaders\": {\n\t\t\"X-Meta\": \"y\"\n\t},\n\t\"auths\": {"), "{written}");
    }

    #[test]
    fn bad_files_are_errors() {
        let cases = [
            ("{", "parsing config file (/d/config.json): EOF while parsing an object at line 1 column 1"),
            (r#"{"auths": {"r": {"auth": "!!"}}}"#, "parsing config file (/d/config.json): illegal base64 data: Invalid symbol 33, offset 0."),
            (r#"{"auths": {"r": {"auth": "dXNlcg=="}}}"#, "parsing config file (/d/config.json): Invalid auth configuration file"),
        ];
        for (text, want) in cases {
            let err = ConfigFile::parse("/d/config.json".into(), text.as_bytes()).unwrap_err();
            assert_eq!(err.to_string(), want, "{text}");
        }
        assert!(ConfigFile::parse("/d/config.json".into(), b"  \n").is_ok());
    }

    #[test]
    fn store_and_erase_in_a_temp_docker_config() {
        let dir = tempfile::tempdir().unwrap();
        let cfg_dir = dir.path().join("nested").join("docker");
        let mut cfg = ConfigFile::load(&cfg_dir).unwrap().with_helper(|p, _, _| panic!("no helper configured, asked {p}"));
        cfg.creds_store.clear();
        assert!(cfg.store_auth(&user("u", "p", "localhost:5000")).unwrap());
        // The same again: nothing written, nothing to warn about.
        assert!(!cfg.store_auth(&user("u", "p", "localhost:5000")).unwrap());
        let path = cfg_dir.join("config.json");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&cfg_dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\n\t\"auths\": {\n\t\t\"localhost:5000\": {\n\t\t\t\"auth\": \"dTpw\"\n\t\t}\n\t}\n}"
        );
        // Read back from disk.
        let again = ConfigFile::load(&cfg_dir).unwrap();
        assert_eq!(again.get_auth("localhost:5000").unwrap(), user("u", "p", "localhost:5000"));

        // An identity token replaces the password; an existing file keeps its mode.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let token = AuthConfig { identity_token: "tok".into(), ..user("u", "", "r.example") };
        assert!(!cfg.store_auth(&token).unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        let v: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["auths"]["r.example"], serde_json::json!({"auth": "dTo=", "identitytoken": "tok"}));

        cfg.erase_auth("localhost:5000").unwrap();
        cfg.erase_auth("never.stored").unwrap();
        let v: Json = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(v["auths"], serde_json::json!({"r.example": {"auth": "dTo=", "identitytoken": "tok"}}));
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(&cfg_dir).unwrap().count(), 1);
    }

    #[test]
    fn saving_through_a_symlink_replaces_its_target() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        std::fs::write(&real, "{}").unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("config.json")).unwrap();
        let mut cfg = ConfigFile::load(dir.path()).unwrap();
        cfg.creds_store.clear();
        cfg.store_auth(&user("u", "p", "h:1")).unwrap();
        assert!(std::fs::symlink_metadata(dir.path().join("config.json")).unwrap().file_type().is_symlink());
        assert!(std::fs::read_to_string(&real).unwrap().contains("\"h:1\""));
    }

    #[test]
    fn credential_helpers_are_asked() {
        fn fake(program: &str, action: &str, input: &str) -> Result<(i32, String), String> {
            Ok(match (program, action, input) {
                ("docker-credential-fake", "get", "r.example") => (0, r#"{"ServerURL":"r.example","Username":"hu","Secret":"hs"}"#.into()),
                ("docker-credential-fake", "get", "tok.example") => (0, r#"{"ServerURL":"tok.example","Username":"<token>","Secret":"t"}"#.into()),
                ("docker-credential-fake", "get", _) => (1, "credentials not found in native keychain\n".into()),
                ("docker-credential-gcr", "get", "gcr.io") => (3, "boom\n".into()),
                ("docker-credential-fake", "store", r#"{"ServerURL":"r.example","Username":"u","Secret":"p"}"#) => (0, String::new()),
                ("docker-credential-fake", "erase", "r.example") => (0, String::new()),
                ("docker-credential-none", "get", _) => return Err("exec: \"docker-credential-none\": executable file not found in $PATH".into()),
                other => panic!("unexpected helper call {other:?}"),
            })
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths": {"r.example": {"email": "e@x"}, "other.example": {"auth": "dTpw", "email": "o@x"}}, "credsStore": "fake", "credHelpers": {"gcr.io": "gcr", "none.example": "none"}}"#,
        )
        .unwrap();
        let mut cfg = ConfigFile::load(dir.path()).unwrap().with_helper(fake);
        assert_eq!(cfg.get_auth("r.example").unwrap(), AuthConfig { email: "e@x".into(), ..user("hu", "hs", "r.example") });
        assert_eq!(cfg.get_auth("tok.example").unwrap(), AuthConfig { identity_token: "t".into(), server_address: "tok.example".into(), ..AuthConfig::default() });
        // Not in the helper: only the file's e-mail, as docker.
        assert_eq!(cfg.get_auth("other.example").unwrap(), AuthConfig { email: "o@x".into(), ..AuthConfig::default() });
        assert_eq!(cfg.get_auth("gcr.io").unwrap_err().to_string(), "error getting credentials - err: exit status 3, out: `boom`");
        assert_eq!(
            cfg.get_auth("none.example").unwrap_err().to_string(),
            "error getting credentials - err: exec: \"docker-credential-none\": executable file not found in $PATH, out: ``"
        );
        // The password goes to the helper, not into the file.
        assert!(!cfg.store_auth(&user("u", "p", "r.example")).unwrap());
        let v: Json = serde_json::from_slice(&std::fs::read(dir.path().join("config.json")).unwrap()).unwrap();
        assert_eq!(v["auths"]["r.example"], serde_json::json!({}));
        assert_eq!(v["credsStore"], "fake");
        cfg.erase_auth("r.example").unwrap();
    }

    #[test]
    fn default_store_detection() {
        assert_eq!(detect_default_store(&|_| false), "");
        assert_eq!(detect_default_store(&|p| p == "pass" || p == "docker-credential-pass"), "pass");
        assert_eq!(detect_default_store(&|p| p == "pass"), "");
        assert_eq!(detect_default_store(&|p| p == "docker-credential-secretservice"), "secretservice");
    }
}
