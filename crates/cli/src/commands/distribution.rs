//! Moving images in and out: pull, push, save, load, and the container's commit and export
//! (docker's cli/command/image/{pull,push,save,load}.go, container/{commit,export}.go).

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_client::{Client, CommitOptions, JsonStream};
use berth_reference::Reference;
use clap::{ArgAction, Args};

use super::out;
use super::registry::{privileged_auth, registry_auth};
use crate::error::{ApiResult, StatusError};
use crate::jsonmessage::{display, Output, Stream};

/// `pull` flags.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image verification
    #[arg(long = "disable-content-trust", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub disable_content_trust: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", env = "DOCKER_DEFAULT_PLATFORM", hide_env = true, default_value = "", hide_default_value = true)]
    pub platform: String,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// NAME[:TAG|@DIGEST]
    pub name: String,
}

/// `push` flags.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    pub all_tags: bool,
    /// Skip image signing
    #[arg(long = "disable-content-trust", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub disable_content_trust: bool,
    /// Push a platform-specific manifest as a single-platform image to the registry
    #[arg(long = "platform", default_value = "", hide_default_value = true)]
    pub platform: String,
    /// Suppress verbose output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// NAME[:TAG]
    pub name: String,
}

/// `save` flags.
#[derive(Args, Debug)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", default_value = "", hide_default_value = true)]
    pub output: String,
    /// Save only the given platform variant
    #[arg(long = "platform", default_value = "", hide_default_value = true)]
    pub platform: String,
    /// IMAGE [IMAGE...]
    #[arg(required = true)]
    pub images: Vec<String>,
}

/// `load` flags.
#[derive(Args, Debug)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input", default_value = "", hide_default_value = true)]
    pub input: String,
    /// Load only the given platform variant
    #[arg(long = "platform", default_value = "", hide_default_value = true)]
    pub platform: String,
    /// Suppress the load output
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
}

/// `commit` flags.
#[derive(Args, Debug)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long = "author", default_value = "", hide_default_value = true)]
    pub author: String,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long = "message", default_value = "", hide_default_value = true)]
    pub message: String,
    /// Pause container during commit
    #[arg(short = 'p', long = "pause", default_value = "true", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub pause: bool,
    /// CONTAINER
    pub container: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `export` flags.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output", default_value = "", hide_default_value = true)]
    pub output: String,
    /// CONTAINER
    pub container: String,
}

fn fail(message: impl Into<String>) -> anyhow::Error {
    StatusError::with(1, message)
}

/// The `tag` query value of a pull (`getAPITagFromNamedRef`): the digest, else the tag.
pub fn api_tag(r: &Reference) -> Option<String> {
    match (r.digest(), r.tag()) {
        (Some(d), _) => Some(d.to_string()),
        (None, Some(t)) => Some(t.to_string()),
        (None, None) => None,
    }
}

/// What a pull or push is asked for: the reference, normalised and tagged as docker does.
/// `Ok((reference, printed))`: `printed` is the "Using default tag" line, if any.
pub fn resolve_reference(name: &str, all_tags: bool) -> Result<(Reference, Option<String>), String> {
    let r = Reference::parse_normalized(name).map_err(|e| e.to_string())?;
    if all_tags && !r.is_name_only() {
        return Err("tag can't be used with --all-tags/-a".into());
    }
    if !all_tags && r.is_name_only() {
        let r = r.with_default_tag();
        let line = format!("Using default tag: {}", r.tag().unwrap_or("latest"));
        return Ok((r, Some(line)));
    }
    Ok((r, None))
}

/// `docker pull`.
pub async fn pull(c: &Client, a: PullArgs) -> anyhow::Result<()> {
    let (r, default_tag) = resolve_reference(&a.name, a.all_tags).map_err(fail)?;
    if let (Some(line), false) = (default_tag, a.quiet) {
        out(&format!("{line}\n"))?;
    }
    let tag = if a.all_tags { None } else { api_tag(&r) };
    let (cfg, auth) = registry_auth(r.domain())?;
    let mut stream = match c.pull(&r.name(), tag.as_deref(), &a.platform, &auth).await {
        Err(e) if e.status() == Some(401) => {
            let auth = privileged_auth(&cfg, r.domain(), "pull")?;
            c.pull(&r.name(), tag.as_deref(), &a.platform, &auth).await.api()?
        }
        other => other.api()?,
    };
    let output = if a.quiet { Output::Discard } else { Output::To(Stream::Stdout) };
    display(&mut stream, output, &mut |_| {}).await?;
    out(&format!("{r}\n"))
}

/// The pull `run` and `create` do for a missing image (`pullImage`): progress on stderr,
/// no final reference line, no login prompt.
pub async fn pull_for_create(c: &Client, image: &str, platform: &str, quiet: bool) -> anyhow::Result<()> {
    let r = Reference::parse_normalized(image).map_err(|e| fail(e.to_string()))?.with_default_tag();
    let (_, auth) = registry_auth(r.domain())?;
    let mut stream = c.pull(&r.name(), api_tag(&r).as_deref(), platform, &auth).await.api()?;
    let output = if quiet { Output::Discard } else { Output::To(Stream::Stderr) };
    display(&mut stream, output, &mut |_| {}).await
}

/// The note docker prints before a push with `--platform` (tui's `PrintNote`, plain form).
const PLATFORM_PUSH_NOTE: &str = "Using --platform pushes only the specified platform manifest of a multi-platform image index.\n\
Other components, like attestations, will not be included.\n\
To push the complete multi-platform image, remove the --platform flag.\n";

/// docker's `tui.PrintNote` without colours: a blank line, ` Info -> `, the note's lines
/// indented under it.
pub fn note(text: &str) -> String {
    const HEADER: &str = " Info -> ";
    let mut s = format!("\n{HEADER}");
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            s.push_str(&" ".repeat(HEADER.len()));
        }
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// `docker push`.
pub async fn push(c: &Client, a: PushArgs) -> anyhow::Result<()> {
    let platform = if a.platform.is_empty() {
        None
    } else {
        match parse_platform(&a.platform) {
            Ok(p) => {
                out(&note(PLATFORM_PUSH_NOTE))?;
                Some(p)
            }
            Err(e) => {
                eprint!("Invalid platform {}", a.platform);
                return Err(fail(e));
            }
        }
    };
    let (r, default_tag) = resolve_reference(&a.name, a.all_tags).map_err(fail)?;
    if r.digest().is_some() {
        return Err(fail("cannot push a digest reference"));
    }
    if let (Some(line), false) = (default_tag, a.quiet) {
        out(&format!("{line}\n"))?;
    }
    let tag = if a.all_tags { None } else { r.tag().map(str::to_string) };
    let (cfg, auth) = registry_auth(r.domain())?;
    let mut stream = match c.push(&r.name(), tag.as_deref(), platform.as_deref(), &auth).await {
        Err(e) if e.status() == Some(401) => {
            let auth = privileged_auth(&cfg, r.domain(), "push")?;
            c.push(&r.name(), tag.as_deref(), platform.as_deref(), &auth).await.api()?
        }
        other => other.api()?,
    };
    let output = if a.quiet { Output::Discard } else { Output::To(Stream::Stdout) };
    display(&mut stream, output, &mut |_| {}).await?;
    if a.quiet {
        out(&format!("{r}\n"))?;
    }
    Ok(())
}

/// The error for `--platform` on save and load when the daemon's API is older than 1.48
/// (moby's `NewVersionError`).
fn platform_unsupported(c: &Client, platform: &str) -> anyhow::Result<Option<String>> {
    if platform.is_empty() {
        return Ok(None);
    }
    let p = parse_platform(platform).map_err(|e| fail(format!("invalid platform: {e}")))?;
    let version = c.api_version();
    if berth_api::parse_version(&version).unwrap_or((1, 0)) < (1, 48) {
        return Err(fail(format!("\"platform\" requires API version 1.48, but the Docker daemon API version is {version}")));
    }
    Ok(Some(p))
}

/// `docker save`.
pub async fn save(c: &Client, a: SaveArgs) -> anyhow::Result<()> {
    let platform = platform_unsupported(c, &a.platform)?;
    let mut sink = open_output(&a.output, "failed to save image")?;
    let mut req = berth_client::Request::new("GET", "/images/get");
    for n in &a.images {
        req = req.query("names", n.clone());
    }
    if let Some(p) = platform {
        req = req.query("platform", p);
    }
    let body = c.send(req).await.api()?.body;
    copy_body(body, &mut sink).await?;
    sink.finish()
}

/// `docker export`.
pub async fn export(c: &Client, a: ExportArgs) -> anyhow::Result<()> {
    let mut sink = open_output(&a.output, "failed to export container")?;
    let body = c.export(&trim_id("container", &a.container)?).await.api()?;
    copy_body(body, &mut sink).await?;
    sink.finish()
}

/// moby's `trimID`: surrounding blanks go; nothing left is an error.
fn trim_id(kind: &str, id: &str) -> anyhow::Result<String> {
    let id = id.trim();
    if id.is_empty() {
        return Err(fail(format!("invalid {kind} name or ID: value is empty")));
    }
    Ok(id.to_string())
}

async fn copy_body(mut body: berth_client::BodyStream, sink: &mut Sink) -> anyhow::Result<()> {
    while let Some(chunk) = body.chunk().await {
        let chunk = chunk.api()?;
        sink.write_all(&chunk)?;
    }
    Ok(())
}

/// Where save and export write: stdout (never a terminal) or a file written atomically.
enum Sink {
    Stdout(std::io::Stdout),
    File(AtomicFile),
}

impl Sink {
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout(s) => s.write_all(data),
            Sink::File(f) => f.write_all(data),
        }
    }

    fn finish(self) -> anyhow::Result<()> {
        match self {
            Sink::Stdout(mut s) => Ok(s.flush()?),
            Sink::File(f) => f.commit().map_err(|e| fail(go_io_error(&e))),
        }
    }
}

fn open_output(path: &str, context: &str) -> anyhow::Result<Sink> {
    if path.is_empty() {
        if crate::stream::term::stdout_is_tty() {
            return Err(fail("cowardly refusing to save to a terminal. Use the -o flag or redirect"));
        }
        return Ok(Sink::Stdout(std::io::stdout()));
    }
    AtomicFile::create(Path::new(path)).map(Sink::File).map_err(|e| fail(format!("{context}: {e}")))
}

/// An io error in Go's words (`no such file or directory`, `permission denied`).
pub fn go_io_error(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => {
            let text = std::io::Error::from_raw_os_error(code).to_string();
            let text = text.split(" (os error").next().unwrap_or(&text).to_string();
            let mut chars = text.chars();
            match chars.next() {
                Some(first) => first.to_lowercase().collect::<String>() + chars.as_str(),
                None => text,
            }
        }
        None => e.to_string(),
    }
}

/// moby's `atomicwriter`: a temp file next to the destination, renamed over it once
/// everything was written (mode 0600). Nothing is left behind on failure.
pub struct AtomicFile {
    tmp: PathBuf,
    dest: PathBuf,
    file: Option<std::fs::File>,
    written: bool,
}

impl AtomicFile {
    /// Check the destination as docker does and create the temp file.
    pub fn create(dest: &Path) -> Result<AtomicFile, String> {
        validate_destination(dest)?;
        let abs = std::path::absolute(dest).map_err(|e| go_io_error(&e))?;
        let dir = abs.parent().unwrap_or(Path::new("/")).to_path_buf();
        let base = abs.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            let tmp = dir.join(format!(".tmp-{base}{}", nanos.wrapping_add(attempt)));
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp) {
                Ok(file) => return Ok(AtomicFile { tmp, dest: abs, file: Some(file), written: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("open {}: {}", tmp.display(), go_io_error(&e))),
            }
        }
        Err("cannot create a temporary file".into())
    }

    /// Append bytes.
    pub fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            f.write_all(data)?;
            self.written = true;
        }
        Ok(())
    }

    /// Sync, set the mode and move into place (only if anything was written, as docker).
    pub fn commit(mut self) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let Some(f) = self.file.take() else { return Ok(()) };
        f.sync_all()?;
        drop(f);
        std::fs::set_permissions(&self.tmp, std::fs::Permissions::from_mode(0o600))?;
        if self.written {
            std::fs::rename(&self.tmp, &self.dest)?;
        }
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// atomicwriter's `validateDestination`: an existing directory, and no special file.
fn validate_destination(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if path.as_os_str().is_empty() {
        return Err("file name is empty".into());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && *d != Path::new(".") && *d != Path::new("..")) {
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => return Err(format!("invalid output path: stat {}: not a directory", dir.display())),
            Err(e) => return Err(format!("invalid output path: stat {}: {}", dir.display(), go_io_error(&e))),
        }
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(format!("failed to stat output path: lstat {}: {}", path.display(), go_io_error(&e))),
    };
    let ft = meta.file_type();
    let mode = meta.permissions().mode();
    if ft.is_file() && mode & 0o7000 == 0 {
        return Ok(());
    }
    Err(if ft.is_dir() {
        "cannot write to a directory"
    } else if ft.is_symlink() {
        "cannot write to a symbolic link directly"
    } else if ft.is_fifo() {
        "cannot write to a named pipe (FIFO)"
    } else if ft.is_socket() {
        "cannot write to a socket"
    } else if ft.is_char_device() {
        "cannot write to a character device file"
    } else if ft.is_block_device() {
        "cannot write to a block device file"
    } else if mode & 0o4000 != 0 {
        "cannot write to a setuid file"
    } else if mode & 0o2000 != 0 {
        "cannot write to a setgid file"
    } else {
        "cannot write to a sticky bit file"
    }
    .to_string())
}

/// `docker load`.
pub async fn load(c: &Client, a: LoadArgs) -> anyhow::Result<()> {
    let input: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>> = if a.input.is_empty() {
        if crate::stream::term::stdin_is_tty() {
            return Err(fail("requested load from stdin, but stdin is empty"));
        }
        Box::pin(tokio::io::stdin())
    } else {
        let f = tokio::fs::File::open(&a.input).await.map_err(|e| fail(format!("open {}: {}", a.input, go_io_error(&e))))?;
        Box::pin(f)
    };
    let quiet = a.quiet || !crate::stream::term::stdout_is_tty();
    let platform = platform_unsupported(c, &a.platform)?;
    let mut req = berth_client::Request::new("POST", "/images/load").query("quiet", if quiet { "1" } else { "0" });
    if let Some(p) = platform {
        req = req.query("platform", p);
    }
    let req = req.body(berth_client::Body::Stream { content_type: "application/x-tar".into(), reader: input });
    let resp = c.send(req).await.api()?;
    let json = resp.content_type.as_deref() == Some("application/json");
    if json {
        let mut stream = JsonStream::new(resp.body);
        return display(&mut stream, Output::To(Stream::Stdout), &mut |_| {}).await;
    }
    let mut sink = Sink::Stdout(std::io::stdout());
    copy_body(resp.body, &mut sink).await?;
    sink.finish()
}

/// `docker commit`: prints the new image's id.
pub async fn commit(c: &Client, a: CommitArgs) -> anyhow::Result<()> {
    let o = commit_options(&a).map_err(fail)?;
    let id = c.commit(&o).await.api()?;
    out(&format!("{id}\n"))
}

/// The commit request for the flags (`ContainerCommit`): the reference normalised, `latest`
/// by default, digests refused.
pub fn commit_options(a: &CommitArgs) -> Result<CommitOptions, String> {
    let container = a.container.trim();
    if container.is_empty() {
        return Err("invalid container name or ID: value is empty".into());
    }
    let (repo, tag) = match a.reference.as_deref().filter(|r| !r.is_empty()) {
        Some(s) => {
            let r = Reference::parse_normalized(s).map_err(|e| e.to_string())?;
            if r.digest().is_some() {
                return Err("refusing to create a tag with a digest reference".into());
            }
            let r = r.with_default_tag();
            (r.name(), r.tag().unwrap_or("latest").to_string())
        }
        None => (String::new(), String::new()),
    };
    Ok(CommitOptions {
        container: container.to_string(),
        repo,
        tag,
        comment: a.message.clone(),
        author: a.author.clone(),
        changes: a.change.clone(),
        pause: a.pause,
    })
}

/// containerd's `platforms.Parse`, as JSON for the API (`{"architecture":..,"os":..}`): `os`,
/// `os/arch`, `os/arch/variant`, or a lone architecture (the OS is linux).
pub fn parse_platform(spec: &str) -> Result<String, String> {
    let parts: Vec<&str> = spec.split('/').collect();
    let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if parts.iter().any(|p| !valid(p)) || parts.len() > 3 {
        return Err(format!("\"{spec}\": invalid platform specifier"));
    }
    let host_arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let (os, arch, variant) = match parts.as_slice() {
        [one] => {
            let lower = one.to_lowercase();
            if matches!(lower.as_str(), "linux" | "windows" | "darwin" | "freebsd" | "netbsd" | "openbsd" | "solaris" | "illumos" | "android" | "ios" | "plan9" | "aix" | "js" | "wasip1") {
                (lower, host_arch.to_string(), String::new())
            } else if is_known_arch(&lower) {
                ("linux".to_string(), lower, String::new())
            } else {
                return Err(format!("\"{spec}\": unknown operating system or architecture: invalid argument"));
            }
        }
        [os, arch] => (os.to_lowercase(), arch.to_lowercase(), String::new()),
        [os, arch, variant] => (os.to_lowercase(), arch.to_lowercase(), variant.to_lowercase()),
        _ => return Err(format!("\"{spec}\": invalid platform specifier")),
    };
    let (arch, variant) = normalize_arch(&arch, &variant);
    let q = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let mut json = format!("{{\"architecture\":{},\"os\":{}", q(&arch), q(&os));
    if !variant.is_empty() {
        json.push_str(&format!(",\"variant\":{}", q(&variant)));
    }
    json.push('}');
    Ok(json)
}

fn is_known_arch(a: &str) -> bool {
    matches!(
        a,
        "386" | "i386" | "amd64" | "x86_64" | "x86-64" | "arm" | "armhf" | "armel" | "arm64" | "aarch64" | "ppc64" | "ppc64le"
            | "mips" | "mipsle" | "mips64" | "mips64le" | "riscv64" | "s390x" | "loong64" | "wasm"
    )
}

/// containerd's `normalizeArch`.
fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    match arch {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => ("amd64".into(), if variant == "v1" { String::new() } else { variant.into() }),
        "aarch64" | "arm64" => {
            let v = match variant {
                "8" | "v8" | "v8.0" => "",
                "9" | "9.0" | "v9.0" => "v9",
                other => other,
            };
            ("arm64".into(), v.into())
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant {
                "" | "7" => "v7".to_string(),
                "5" | "6" | "8" => format!("v{variant}"),
                other => other.to_string(),
            };
            ("arm".into(), v)
        }
        other => (other.into(), variant.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    use crate::cli::{Cli, Command, ContainerCommand, ImageCommand};

    #[test]
    fn references_resolve_as_docker() {
        type Want<'a> = Result<(&'a str, Option<&'a str>), &'a str>;
        let cases: Vec<(&str, bool, Want)> = vec![
            ("busybox", false, Ok(("docker.io/library/busybox:latest", Some("Using default tag: latest")))),
            ("busybox:1.36", false, Ok(("docker.io/library/busybox:1.36", None))),
            ("localhost:5000/app", false, Ok(("localhost:5000/app:latest", Some("Using default tag: latest")))),
            (
                "busybox@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b",
                false,
                Ok(("docker.io/library/busybox@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b", None)),
            ),
            ("busybox", true, Ok(("docker.io/library/busybox", None))),
            ("busybox:1", true, Err("tag can't be used with --all-tags/-a")),
            ("Busybox", false, Err("invalid reference format: repository name (library/Busybox) must be lowercase")),
            ("a b", false, Err("invalid reference format")),
        ];
        for (name, all, want) in cases {
            let got = resolve_reference(name, all).map(|(r, line)| (r.to_string(), line));
            let want = want.map(|(r, l)| (r.to_string(), l.map(str::to_string))).map_err(str::to_string);
            assert_eq!(got, want, "{name} all={all}");
        }
    }

    #[test]
    fn api_tags() {
        let tag = |s: &str| api_tag(&Reference::parse_normalized(s).unwrap());
        assert_eq!(tag("busybox:1"), Some("1".into()));
        assert_eq!(tag("busybox"), None);
        assert_eq!(tag("busybox:1@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b").as_deref(), Some("sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b"));
    }

    fn commit_args(argv: &[&str]) -> CommitArgs {
        let mut full = vec!["berth", "commit"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Command::Commit(a) => a,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn commit_flags_and_reference() {
        let o = commit_options(&commit_args(&["c1"])).unwrap();
        assert_eq!(o, CommitOptions { container: "c1".into(), pause: true, ..CommitOptions::default() });
        let o = commit_options(&commit_args(&["-a", "me", "-m", "msg", "-c", "ENV A=1", "--change", "CMD sh", "-p=false", "c1", "app"])).unwrap();
        assert_eq!(
            o,
            CommitOptions {
                container: "c1".into(),
                repo: "docker.io/library/app".into(),
                tag: "latest".into(),
                comment: "msg".into(),
                author: "me".into(),
                changes: vec!["ENV A=1".into(), "CMD sh".into()],
                pause: false,
            }
        );
        assert!(!commit_args(&["--pause=false", "c"]).pause);
        assert!(commit_args(&["--pause", "c"]).pause);
        let o = commit_options(&commit_args(&["c1", "localhost:5000/app:v2"])).unwrap();
        assert_eq!((o.repo.as_str(), o.tag.as_str()), ("localhost:5000/app", "v2"));
        let err = commit_options(&commit_args(&["c1", "app@sha256:f85340bf132ae937d2c2a763b8335c9bab35d6e8293f70f606b9c6178d84f42b"])).unwrap_err();
        assert_eq!(err, "refusing to create a tag with a digest reference");
        assert_eq!(commit_options(&commit_args(&[" ", "app"])).unwrap_err(), "invalid container name or ID: value is empty");
    }

    #[test]
    fn transfer_flags_parse() {
        let parse = |argv: &[&str]| Cli::try_parse_from(argv).map(|c| c.command);
        match parse(&["berth", "pull", "-q", "--platform", "linux/arm64", "-a", "busybox"]).unwrap() {
            Command::Pull(a) => assert!(a.quiet && a.all_tags && a.platform == "linux/arm64" && a.name == "busybox"),
            other => panic!("{other:?}"),
        }
        match parse(&["berth", "image", "pull", "--disable-content-trust=false", "busybox:1"]).unwrap() {
            Command::Image(ImageCommand::Pull(a)) => assert!(!a.disable_content_trust && !a.quiet),
            other => panic!("{other:?}"),
        }
        match parse(&["berth", "push", "--all-tags", "localhost:5000/app"]).unwrap() {
            Command::Push(a) => assert!(a.all_tags && a.name == "localhost:5000/app"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(&["berth", "image", "push", "-q", "x"]).unwrap(), Command::Image(ImageCommand::Push(_))));
        match parse(&["berth", "save", "-o", "/tmp/x.tar", "a", "b:1"]).unwrap() {
            Command::Save(a) => assert_eq!((a.output.as_str(), a.images.len()), ("/tmp/x.tar", 2)),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(&["berth", "image", "save", "a"]).unwrap(), Command::Image(ImageCommand::Save(_))));
        match parse(&["berth", "load", "-i", "x.tar", "-q"]).unwrap() {
            Command::Load(a) => assert!(a.quiet && a.input == "x.tar"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(&["berth", "image", "load"]).unwrap(), Command::Image(ImageCommand::Load(_))));
        match parse(&["berth", "export", "-o", "fs.tar", "c1"]).unwrap() {
            Command::Export(a) => assert_eq!((a.output.as_str(), a.container.as_str()), ("fs.tar", "c1")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(parse(&["berth", "container", "export", "c1"]).unwrap(), Command::Container(ContainerCommand::Export(_))));
        assert!(matches!(parse(&["berth", "container", "commit", "c1", "x"]).unwrap(), Command::Container(ContainerCommand::Commit(_))));
        for bad in [&["berth", "pull"][..], &["berth", "pull", "a", "b"], &["berth", "save"], &["berth", "load", "x"], &["berth", "push"], &["berth", "export"], &["berth", "commit"]] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn platforms_parse_as_containerd() {
        let host = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            other => other,
        };
        let cases: Vec<(&str, Result<String, &str>)> = vec![
            ("linux/amd64", Ok(r#"{"architecture":"amd64","os":"linux"}"#.into())),
            ("Linux/x86_64", Ok(r#"{"architecture":"amd64","os":"linux"}"#.into())),
            ("linux/arm64/v8", Ok(r#"{"architecture":"arm64","os":"linux"}"#.into())),
            ("linux/aarch64", Ok(r#"{"architecture":"arm64","os":"linux"}"#.into())),
            ("linux/arm", Ok(r#"{"architecture":"arm","os":"linux","variant":"v7"}"#.into())),
            ("linux/arm/6", Ok(r#"{"architecture":"arm","os":"linux","variant":"v6"}"#.into())),
            ("linux/armhf", Ok(r#"{"architecture":"arm","os":"linux","variant":"v7"}"#.into())),
            ("arm64", Ok(r#"{"architecture":"arm64","os":"linux"}"#.into())),
            ("linux", Ok(format!(r#"{{"architecture":"{host}","os":"linux"}}"#))),
            ("bogus", Err(r#""bogus": unknown operating system or architecture: invalid argument"#)),
            ("linux//x", Err(r#""linux//x": invalid platform specifier"#)),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_platform(spec), want.map_err(str::to_string), "{spec}");
        }
    }

    #[test]
    fn notes_are_indented_under_their_header() {
        assert_eq!(
            note(PLATFORM_PUSH_NOTE),
            "\n Info -> Using --platform pushes only the specified platform manifest of a multi-platform image index.\n\
             \x20        Other components, like attestations, will not be included.\n\
             \x20        To push the complete multi-platform image, remove the --platform flag.\n\
             \x20        \n"
        );
    }

    #[test]
    fn atomic_files_appear_whole_or_not_at_all() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("out.tar");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"data").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        assert_eq!(std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777, 0o600);
        // Dropped before commit (a failed download): the old file stays, no temp file.
        let mut f = AtomicFile::create(&dest).unwrap();
        f.write_all(b"partial").unwrap();
        drop(f);
        assert_eq!(std::fs::read(&dest).unwrap(), b"data");
        // Nothing written: nothing replaced.
        AtomicFile::create(&dir.path().join("empty.tar")).unwrap().commit().unwrap();
        assert!(!dir.path().join("empty.tar").exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn output_destinations_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope").join("x.tar");
        assert_eq!(
            validate_destination(&missing).unwrap_err(),
            format!("invalid output path: stat {}: no such file or directory", dir.path().join("nope").display())
        );
        assert_eq!(validate_destination(dir.path()).unwrap_err(), "cannot write to a directory");
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        assert_eq!(validate_destination(&link).unwrap_err(), "cannot write to a symbolic link directly");
        assert_eq!(validate_destination(Path::new("/dev/null")).unwrap_err(), "cannot write to a character device file");
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(validate_destination(&file.join("x")).unwrap_err(), format!("invalid output path: stat {}: not a directory", file.display()));
        assert!(validate_destination(&file).is_ok());
        assert!(validate_destination(Path::new("relative.tar")).is_ok());
    }

    #[test]
    fn go_error_words() {
        assert_eq!(go_io_error(&std::io::Error::from_raw_os_error(libc::ENOENT)), "no such file or directory");
        assert_eq!(go_io_error(&std::io::Error::from_raw_os_error(libc::EACCES)), "permission denied");
    }
}
