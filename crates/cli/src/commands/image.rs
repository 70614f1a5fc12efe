//! Image commands: images, import, tag, rmi, image prune.

use berth_client::Client;
use bollard::query_parameters::{CreateImageOptions, ListImagesOptions, PruneImagesOptions, RemoveImageOptions, TagImageOptions};
use clap::Args;
use futures_util::StreamExt;
use serde_json::Value as Json;

use super::container::confirm;
use super::{filters, out};
use crate::error::{collect, ApiResult, StatusError};
use crate::format::{self, humanize, images, ListFormat};

/// `images` flags.
#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long = "digests")]
    pub digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long = "format", default_value = "")]
    pub format: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `docker images`.
pub async fn images(c: &Client, a: ImagesArgs) -> anyhow::Result<()> {
    let mut f = a.filter.clone();
    if let Some(r) = &a.reference {
        f.push(format!("reference={r}"));
    }
    let opts = ListImagesOptions { all: a.all, filters: filters(&f)?, digests: a.digests, ..Default::default() };
    let list = c.docker().list_images(Some(opts)).await.api()?;
    let format = if a.quiet { "{{.ID}}".to_string() } else { a.format.clone() };
    let default = if a.digests { images::DEFAULT_TABLE_DIGESTS } else { images::DEFAULT_TABLE };
    let lf = ListFormat::parse(&format, default)?;
    let now = format::now_unix();
    let items: Vec<Json> = list.iter().flat_map(|i| images::contexts(i, !a.no_trunc, a.digests, now)).collect();
    let mut buf = Vec::new();
    lf.write(&mut buf, &images::headers(), &items)?;
    out(&String::from_utf8_lossy(&buf))
}

/// `import` flags.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Set platform if server is multi-platform capable
    #[arg(long = "platform", default_value = "")]
    pub platform: String,
    /// file|URL|- (a tarball)
    pub source: String,
    /// [REPOSITORY[:TAG]]
    pub reference: Option<String>,
}

/// `docker import`.
pub async fn import(c: &Client, a: ImportArgs) -> anyhow::Result<()> {
    let (repo, tag) = match a.reference.as_deref() {
        Some(r) => {
            let (repo, tag) = images::split_repo_tag(r);
            (Some(repo.to_string()), tag.map(str::to_string))
        }
        None => (None, None),
    };
    let is_url = a.source.starts_with("http://") || a.source.starts_with("https://");
    let body = if is_url {
        None
    } else if a.source == "-" {
        Some(bollard::body_try_stream(reader_stream(Box::pin(tokio::io::stdin()))))
    } else {
        let f = tokio::fs::File::open(&a.source)
            .await
            .map_err(|e| StatusError::with(1, format!("open {}: {}", a.source, io_words(&e))))?;
        Some(bollard::body_try_stream(reader_stream(Box::pin(f))))
    };
    let opts = CreateImageOptions {
        from_src: Some(if is_url { a.source.clone() } else { "-".to_string() }),
        repo,
        tag,
        message: a.message.clone(),
        changes: a.change.clone(),
        platform: a.platform.clone(),
        ..Default::default()
    };
    let mut s = c.docker().create_image(Some(opts), body, None);
    while let Some(item) = s.next().await {
        let info = item.api()?;
        if let Some(status) = info.status {
            out(&format!("{status}\n"))?;
        }
    }
    Ok(())
}

fn io_words(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// A reader as a stream of chunks, for a streamed request body.
fn reader_stream(
    r: std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>,
) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static {
    use tokio::io::AsyncReadExt;
    let stream = futures_util::stream::unfold(Some(r), |state| async move {
        let mut r = state?;
        let mut buf = vec![0u8; 64 * 1024];
        match r.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(bytes::Bytes::from(buf)), Some(r)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    stream
}

/// `tag` flags.
#[derive(Args, Debug)]
pub struct TagArgs {
    /// SOURCE_IMAGE[:TAG]
    pub source: String,
    /// TARGET_IMAGE[:TAG]
    pub target: String,
}

/// `docker tag`.
pub async fn tag(c: &Client, a: TagArgs) -> anyhow::Result<()> {
    let (repo, tag) = images::split_repo_tag(&a.target);
    if repo.is_empty() || repo.chars().any(|ch| ch.is_ascii_uppercase()) {
        return Err(StatusError::with(1, format!("invalid reference format: repository name ({repo}) must be lowercase")));
    }
    let opts = TagImageOptions { repo: Some(repo.to_string()), tag: Some(tag.unwrap_or("latest").to_string()) };
    c.docker().tag_image(&a.source, Some(opts)).await.api()
}

/// `rmi` flags.
#[derive(Args, Debug)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Do not delete untagged parents
    #[arg(long = "no-prune")]
    pub no_prune: bool,
    /// Images
    #[arg(required = true)]
    pub names: Vec<String>,
}

/// `docker rmi`.
pub async fn rmi(c: &Client, a: RmiArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for name in &a.names {
        let opts = RemoveImageOptions { force: a.force, noprune: a.no_prune, ..Default::default() };
        match c.docker().remove_image(name, Some(opts), None).await.api() {
            Ok(items) => {
                let mut s = String::new();
                for i in items {
                    if let Some(u) = i.untagged {
                        s.push_str(&format!("Untagged: {u}\n"));
                    }
                    if let Some(d) = i.deleted {
                        s.push_str(&format!("Deleted: {d}\n"));
                    }
                }
                out(&s)?;
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    collect(errors)
}

/// `image prune` flags.
#[derive(Args, Debug)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long = "all")]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long = "force")]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `docker image prune`.
pub async fn prune(c: &Client, a: ImagePruneArgs) -> anyhow::Result<()> {
    let warning = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(warning)? {
        return Ok(());
    }
    let mut f = a.filter.clone();
    f.push(format!("dangling={}", !a.all));
    let opts = PruneImagesOptions { filters: filters(&f)? };
    let r = c.docker().prune_images(Some(opts)).await.api()?;
    let mut s = String::new();
    let deleted = r.images_deleted.unwrap_or_default();
    if !deleted.is_empty() {
        s.push_str("Deleted Images:\n");
        for i in deleted {
            if let Some(u) = i.untagged {
                s.push_str(&format!("untagged: {u}\n"));
            }
            if let Some(d) = i.deleted {
                s.push_str(&format!("deleted: {d}\n"));
            }
        }
        s.push('\n');
    }
    s.push_str(&format!("Total reclaimed space: {}\n", humanize::human_size(r.space_reclaimed.unwrap_or(0) as f64)));
    out(&s)
}
