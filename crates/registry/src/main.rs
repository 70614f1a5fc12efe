//! `berth-registry`: serve an OCI distribution registry, or collect its garbage.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use berth_registry::{collect_garbage, Config, FsStorage, GcOptions, Registry, RegistryOptions, Server};
use clap::{Parser, Subcommand};

/// An OCI distribution (Docker registry v2) server.
#[derive(Parser, Debug)]
#[command(name = "berth-registry", version, about)]
struct Args {
    /// Address to listen on [default: 127.0.0.1:5000].
    #[arg(long)]
    listen: Option<String>,
    /// Storage root directory [default: /var/lib/berth-registry].
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Configuration file (TOML: storage, tls, auth, gc).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the registry (the default).
    Serve,
    /// Delete blobs that no manifest references (run it on an idle registry).
    Gc {
        /// Report what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        /// Also delete manifests that no tag reaches.
        #[arg(long)]
        delete_untagged: bool,
        /// Keep unreferenced blobs modified less than this many seconds ago.
        #[arg(long)]
        min_age: Option<u64>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berth-registry: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    let mut config = match &args.config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(l) = args.listen {
        config.listen = Some(l);
    }
    if let Some(r) = args.root {
        config.root = Some(r);
    }
    let rt = tokio::runtime::Runtime::new().context("starting the runtime")?;
    match args.command.unwrap_or(Command::Serve) {
        Command::Serve => rt.block_on(serve(config)),
        Command::Gc { dry_run, delete_untagged, min_age } => rt.block_on(gc(config, dry_run, delete_untagged, min_age)),
    }
}

async fn serve(config: Config) -> Result<()> {
    let root = config.root_dir();
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let server = Server::new(&config)?;
    let addr = config.listen_addr();
    let listener = tokio::net::TcpListener::bind(&addr).await.with_context(|| format!("listening on {addr}"))?;
    tracing::info!(
        addr = %listener.local_addr()?,
        root = %root.display(),
        tls = config.tls.is_some(),
        "serving"
    );
    let shutdown = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
        }
        tracing::info!("shutting down");
    };
    server.serve(listener, shutdown).await?;
    Ok(())
}

async fn gc(config: Config, dry_run: bool, delete_untagged: bool, min_age: Option<u64>) -> Result<()> {
    let registry = Registry::new(Arc::new(FsStorage::new(config.root_dir())), RegistryOptions::default());
    let opts = GcOptions {
        dry_run,
        delete_untagged: delete_untagged || config.gc.delete_untagged,
        min_blob_age: Duration::from_secs(min_age.unwrap_or(config.gc.min_blob_age_secs)),
        upload_max_age: Some(Duration::from_secs(config.gc.upload_max_age_secs)),
    };
    let r = collect_garbage(&registry, &opts).await?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    for (repo, d) in &r.manifests_deleted {
        println!("{verb} manifest {repo}@{d}");
    }
    for d in &r.blobs_deleted {
        println!("{verb} blob {d}");
    }
    println!(
        "{} repositories, {} manifests kept, {} manifests {verb}, {} blobs kept, {} blobs {verb} ({} bytes), {} uploads purged",
        r.repositories,
        r.manifests_kept,
        r.manifests_deleted.len(),
        r.blobs_kept,
        r.blobs_deleted.len(),
        r.bytes_freed,
        r.uploads_purged
    );
    Ok(())
}
