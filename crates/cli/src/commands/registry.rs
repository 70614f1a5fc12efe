//! Registry credentials: login, logout, and the credentials pull and push send
//! (docker's cli/command/registry/{login,logout}.go and cli/command/registry.go).

use std::io::{BufRead, Read, Write};

use berth_client::{AuthConfig, Client};
use clap::Args;

use super::out;
use crate::config::{self, convert_to_hostname, ConfigFile, INDEX_SERVER};
use crate::error::{ApiResult, StatusError};

/// `login` flags.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password or Personal Access Token (PAT)
    #[arg(short = 'p', long = "password")]
    pub password: Option<String>,
    /// Take the Password or Personal Access Token (PAT) from stdin
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// [SERVER]
    pub server: Option<String>,
}

/// `logout` flags.
#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// [SERVER]
    pub server: Option<String>,
}

const REGISTER_SUGGEST: &str = "Log in with your Docker ID or email address to push and pull images from Docker Hub. \
If you don't have a Docker ID, head over to https://hub.docker.com/ to create one.";
const PAT_SUGGEST: &str = "You can log in with your password or a Personal Access Token (PAT). Using a limited-scope PAT \
grants better security and is required for organizations using SSO. Learn more at https://docs.docker.com/go/access-tokens/";

fn fail(message: impl Into<String>) -> anyhow::Error {
    StatusError::with(1, message)
}

/// The config file, as docker loads it for a command: a broken file is warned about and
/// treated as empty.
pub fn load_config() -> ConfigFile {
    let dir = config::config_dir(&|k| std::env::var(k).ok());
    match ConfigFile::load(&dir) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("WARNING: Error {e}");
            ConfigFile::empty(dir.join(config::CONFIG_FILE_NAME))
        }
    }
}

/// The config file and the credentials to send for a repository in registry `domain`.
pub fn registry_auth(domain: &str) -> anyhow::Result<(ConfigFile, AuthConfig)> {
    let cfg = load_config();
    let auth = config::auth_for_domain(&cfg, domain).map_err(|e| fail(e.to_string()))?;
    Ok((cfg, auth))
}

/// docker's `RegistryAuthenticationPrivilegedFunc`: after the daemon answered 401, ask for
/// credentials (`Login prior to pull:`) and return them for one retry; they are not stored.
pub fn privileged_auth(cfg: &ConfigFile, domain: &str, command: &str) -> anyhow::Result<AuthConfig> {
    let key = config::auth_key(domain);
    out(&format!("\nLogin prior to {command}:\n"))?;
    let (stored, err) = default_auth_config(cfg, true, &key, key == INDEX_SERVER);
    if let Some(e) = err {
        eprintln!("Unable to retrieve stored credentials for {INDEX_SERVER}, error: {e}.");
    }
    prompt_for_credentials("", "", &stored.username, &key)
}

/// `GetDefaultAuthConfig`: the stored credentials for `server` (its host name unless it is
/// Docker Hub), with the server address set and no identity token. When the store fails,
/// the server address alone and the failure.
fn default_auth_config(cfg: &ConfigFile, check_store: bool, server: &str, is_default: bool) -> (AuthConfig, Option<String>) {
    let server = if is_default { server.to_string() } else { convert_to_hostname(server) };
    let mut auth = AuthConfig::default();
    if check_store {
        match cfg.get_auth(&server) {
            Ok(a) => auth = a,
            Err(e) => return (AuthConfig { server_address: server, ..AuthConfig::default() }, Some(e.to_string())),
        }
    }
    auth.server_address = server;
    auth.identity_token.clear();
    (auth, None)
}

/// Flag checks made before anything runs (`verifyLoginFlags`).
pub fn verify_login_flags(a: &LoginArgs) -> Result<(), String> {
    if a.password_stdin {
        if a.password.is_some() {
            return Err("conflicting options: cannot specify both --password and --password-stdin".into());
        }
        if a.username.is_none() {
            return Err("the --password-stdin option requires --username to be set".into());
        }
    }
    if a.username.as_deref() == Some("") {
        return Err("username is empty".into());
    }
    if a.password.as_deref() == Some("") {
        return Err("password is empty".into());
    }
    Ok(())
}

/// The server a login or logout is for: Docker Hub unless another is named.
pub fn login_server(arg: Option<&str>) -> String {
    match arg {
        Some(s) if !s.is_empty() && s != "docker.io" => s.to_string(),
        _ => INDEX_SERVER.to_string(),
    }
}

/// A password read from stdin: one trailing newline (and carriage return) removed.
pub fn trim_stdin_password(text: &str) -> String {
    let t = text.strip_suffix('\n').unwrap_or(text);
    t.strip_suffix('\r').unwrap_or(t).to_string()
}

/// `docker login`.
pub async fn login(c: &Client, a: LoginArgs) -> anyhow::Result<()> {
    verify_login_flags(&a).map_err(fail)?;
    let user = a.username.clone().unwrap_or_default();
    let mut password = a.password.clone().unwrap_or_default();
    if !password.is_empty() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
    }
    if a.password_stdin {
        if user.is_empty() {
            return Err(fail("username is empty"));
        }
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text)?;
        password = trim_stdin_password(&text);
    }
    let server = login_server(a.server.as_deref());
    let is_default = server == INDEX_SERVER;
    let mut cfg = load_config();

    let check_store = user.is_empty() && password.is_empty();
    let (stored, err) = default_auth_config(&cfg, check_store, &server, is_default);
    let mut failed = err.is_some();
    let mut msg = String::new();
    if !failed && !stored.username.is_empty() && !stored.password.is_empty() {
        match login_with_stored(c, &mut cfg, stored.clone()).await {
            Ok(m) => msg = m,
            Err(_) => failed = true,
        }
    }
    if failed || stored.username.is_empty() || stored.password.is_empty() {
        msg = login_user(c, &mut cfg, &user, &password, &stored.username, &stored.server_address).await?;
    }
    if !msg.is_empty() {
        out(&format!("{msg}\n"))?;
    }
    Ok(())
}

/// Try the stored credentials (`loginWithStoredCredentials`).
async fn login_with_stored(c: &Client, cfg: &mut ConfigFile, mut auth: AuthConfig) -> anyhow::Result<String> {
    let mut e = std::io::stderr();
    let _ = writeln!(e, "Authenticating with existing credentials... [Username: {}]", auth.username);
    let _ = write!(e, "{}\n\n", crate::commands::distribution::note("To login with a different account, run 'berth logout' followed by 'berth login'"));
    match c.login(&auth).await {
        Ok(resp) => {
            if !resp.identity_token.is_empty() {
                auth.password.clear();
                auth.identity_token = resp.identity_token;
            }
            store_credentials(cfg, &auth)?;
            Ok(resp.status)
        }
        Err(err) => {
            if err.status() == Some(401) {
                eprintln!("Stored credentials invalid or expired");
            } else {
                eprintln!("Login did not succeed, error: {}", crate::error::ApiError(err));
            }
            Err(fail("stored credentials rejected"))
        }
    }
}

/// Ask for what the flags did not give, log in and store (`loginUser`).
async fn login_user(
    c: &Client,
    cfg: &mut ConfigFile,
    user: &str,
    password: &str,
    default_user: &str,
    server: &str,
) -> anyhow::Result<String> {
    if (user.is_empty() || password.is_empty()) && !crate::stream::term::stdin_is_tty() {
        return Err(fail("Error: Cannot perform an interactive login from a non TTY device"));
    }
    let mut auth = prompt_for_credentials(user, password, default_user, server)?;
    let resp = c.login(&auth).await.api()?;
    if !resp.identity_token.is_empty() {
        auth.password.clear();
        auth.identity_token = resp.identity_token;
    }
    store_credentials(cfg, &auth)?;
    Ok(resp.status)
}

/// Store credentials, warning (once) when a password lands in the file in plain text.
fn store_credentials(cfg: &mut ConfigFile, auth: &AuthConfig) -> anyhow::Result<()> {
    let plain = cfg.store_auth(auth).map_err(|e| fail(format!("Error saving credentials: {e}")))?;
    if plain {
        eprintln!(
            "\nWARNING! Your credentials are stored unencrypted in '{}'.\n\
             Configure a credential helper to remove this warning. See\n\
             https://docs.docker.com/go/credential-store/\n",
            cfg.filename.display()
        );
    }
    Ok(())
}

/// `PromptUserForCredentials`: ask for the user name and (without echo) the password when
/// the flags did not give them.
fn prompt_for_credentials(user: &str, password: &str, default_user: &str, server: &str) -> anyhow::Result<AuthConfig> {
    let mut user = user.trim().to_string();
    if user.is_empty() {
        if server == INDEX_SERVER {
            out(&format!("{REGISTER_SUGGEST}\n"))?;
            if hints_enabled() {
                out(&format!("{PAT_SUGGEST}\n\n"))?;
            }
        }
        let default_user = default_user.trim();
        let prompt = if default_user.is_empty() { "Username: ".to_string() } else { format!("Username ({default_user}): ") };
        user = read_input(&prompt)?;
        if user.is_empty() {
            user = default_user.to_string();
        }
        if user.is_empty() {
            return Err(fail("Error: Non-null Username Required"));
        }
    }
    let mut password = password.trim().to_string();
    if password.is_empty() {
        let _echo = EchoOff::stdin();
        if server == INDEX_SERVER {
            eprint!(
                "{}",
                crate::commands::distribution::note("A Personal Access Token (PAT) can be used instead.\nTo create a PAT, visit https://app.docker.com/settings\n\n")
            );
        }
        password = read_input("Password: ")?;
        out("\n")?;
        if password.is_empty() {
            return Err(fail("Error: Password Required"));
        }
    }
    Ok(AuthConfig { username: user, password, server_address: server.to_string(), ..AuthConfig::default() })
}

/// `DOCKER_CLI_HINTS` (default on).
fn hints_enabled() -> bool {
    match std::env::var("DOCKER_CLI_HINTS") {
        Ok(v) => !matches!(v.to_lowercase().as_str(), "0" | "f" | "false"),
        Err(_) => true,
    }
}

/// Print `prompt` and read one line from stdin, trimmed (end of input reads as empty).
fn read_input(prompt: &str) -> anyhow::Result<String> {
    out(prompt)?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

/// Turns echo off on a terminal stdin until dropped.
struct EchoOff {
    saved: nix::sys::termios::Termios,
}

impl EchoOff {
    fn stdin() -> Option<EchoOff> {
        use nix::sys::termios::{tcgetattr, tcsetattr, LocalFlags, SetArg};
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        let saved = tcgetattr(stdin.as_fd()).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &quiet).ok()?;
        Some(EchoOff { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        let stdin = std::io::stdin();
        if nix::sys::termios::tcsetattr(stdin.as_fd(), nix::sys::termios::SetArg::TCSANOW, &self.saved).is_err() {
            eprintln!("Error: failed to restore terminal state to echo input");
        }
    }
}

/// The keys `logout` erases for `server` (docker keeps older spellings of the same host).
pub fn logout_keys(server: Option<&str>) -> (String, Vec<String>) {
    match server.filter(|s| !s.is_empty()) {
        None => (INDEX_SERVER.to_string(), vec![INDEX_SERVER.to_string()]),
        Some(s) => {
            let host = convert_to_hostname(s);
            let keys = vec![s.to_string(), host.clone(), format!("http://{host}"), format!("https://{host}")];
            (host, keys)
        }
    }
}

/// `docker logout` (no daemon needed).
pub fn logout(a: LogoutArgs) -> anyhow::Result<()> {
    let (host, keys) = logout_keys(a.server.as_deref());
    let mut cfg = load_config();
    out(&format!("Removing login credentials for {host}\n"))?;
    let mut errors = Vec::new();
    for k in &keys {
        if let Err(e) = cfg.erase_auth(k) {
            errors.push(format!("{k}: {e}"));
        }
    }
    if errors.len() == keys.len() {
        let mut e = std::io::stderr();
        let _ = writeln!(e, "WARNING: could not erase credentials:");
        for line in errors {
            let _ = writeln!(e, "{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command};

    fn login_args(argv: &[&str]) -> Result<LoginArgs, String> {
        let mut full = vec!["berth", "login"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).map_err(|e| e.to_string())?.command {
            Command::Login(a) => Ok(a),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn login_flags_are_checked_as_docker() {
        let cases: Vec<(&[&str], Result<(), &str>)> = vec![
            (&[], Ok(())),
            (&["-u", "me", "-p", "pw", "localhost:5000"], Ok(())),
            (&["--username", "me", "--password-stdin"], Ok(())),
            (&["--password-stdin"], Err("the --password-stdin option requires --username to be set")),
            (&["-u", "me", "-p", "x", "--password-stdin"], Err("conflicting options: cannot specify both --password and --password-stdin")),
            (&["-u", ""], Err("username is empty")),
            (&["-u", "me", "--password="], Err("password is empty")),
        ];
        for (argv, want) in cases {
            let a = login_args(argv).unwrap();
            assert_eq!(verify_login_flags(&a), want.map_err(str::to_string), "{argv:?}");
        }
        assert!(login_args(&["a", "b"]).is_err());
    }

    #[test]
    fn servers_and_logout_keys() {
        assert_eq!(login_server(None), INDEX_SERVER);
        assert_eq!(login_server(Some("docker.io")), INDEX_SERVER);
        assert_eq!(login_server(Some("")), INDEX_SERVER);
        assert_eq!(login_server(Some("localhost:5000")), "localhost:5000");
        assert_eq!(logout_keys(None), (INDEX_SERVER.to_string(), vec![INDEX_SERVER.to_string()]));
        assert_eq!(
            logout_keys(Some("http://localhost:5000/v2/")),
            (
                "localhost:5000".to_string(),
                vec![
                    "http://localhost:5000/v2/".to_string(),
                    "localhost:5000".to_string(),
                    "http://localhost:5000".to_string(),
                    "https://localhost:5000".to_string()
                ]
            )
        );
    }

    #[test]
    fn stdin_passwords_lose_one_line_end() {
        for (text, want) in [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw"), ("pw\n\n", "pw\n"), (" pw ", " pw ")] {
            assert_eq!(trim_stdin_password(text), want, "{text:?}");
        }
    }

    #[test]
    fn default_auth_uses_host_names_off_docker_hub() {
        let cfg = ConfigFile::parse(
            "/d/config.json".into(),
            br#"{"auths": {"localhost:5000": {"auth": "dTpw", "identitytoken": "t"}, "https://index.docker.io/v1/": {"auth": "aDpw"}}}"#,
        )
        .unwrap();
        let (a, err) = default_auth_config(&cfg, true, "http://localhost:5000/", false);
        assert!(err.is_none());
        assert_eq!((a.username.as_str(), a.password.as_str(), a.server_address.as_str(), a.identity_token.as_str()), ("u", "p", "localhost:5000", ""));
        let a = default_auth_config(&cfg, true, INDEX_SERVER, true).0;
        assert_eq!((a.username.as_str(), a.server_address.as_str()), ("h", INDEX_SERVER));
        let a = default_auth_config(&cfg, false, "localhost:5000", false).0;
        assert_eq!(a, AuthConfig { server_address: "localhost:5000".into(), ..AuthConfig::default() });
    }
}
