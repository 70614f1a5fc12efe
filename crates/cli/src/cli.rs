//! The command tree: docker's top-level shortcuts and the `container`, `image`, `network` and `system`
//! management commands.

use clap::{Parser, Subcommand};

use crate::commands::{build, compose, container, context, cp, distribution, image, network, registry, run, stats, system, volume};

/// The berth command line.
#[derive(Parser, Debug)]
#[command(name = "berth", version, about = "A self-sufficient runtime for containers", disable_help_subcommand = true)]
pub struct Cli {
    /// Daemon socket to connect to (unix:///path or tcp://host:port)
    #[arg(short = 'H', long = "host", global = true)]
    pub host: Option<String>,
    /// Name of the context to use to connect to the daemon (overrides DOCKER_HOST env var and
    /// default context set with "berth context use")
    #[arg(short = 'c', long = "context")]
    pub context: Option<String>,
    /// Use TLS; implied by --tlsverify
    #[arg(long = "tls")]
    pub tls: bool,
    /// Use TLS and verify the remote
    #[arg(long = "tlsverify", num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pub tlsverify: Option<bool>,
    /// Trust certs signed only by this CA
    #[arg(long = "tlscacert")]
    pub tlscacert: Option<std::path::PathBuf>,
    /// Path to TLS certificate file
    #[arg(long = "tlscert")]
    pub tlscert: Option<std::path::PathBuf>,
    /// Path to TLS key file
    #[arg(long = "tlskey")]
    pub tlskey: Option<std::path::PathBuf>,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands (docker's shortcuts).
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(run::StartArgs),
    /// List containers
    Ps(container::PsArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// Return low-level information on Docker objects
    Inspect(container::InspectArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Remove one or more containers
    Rm(container::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::NamesArgs),
    /// Display the running processes of a container
    Top(container::TopArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(container::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::NamesArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(run::AttachArgs),
    /// Get real time events from the server
    Events(system::EventsArgs),
    /// List images
    Images(image::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Remove one or more images
    Rmi(image::RmiArgs),
    /// Download an image from a registry
    Pull(distribution::PullArgs),
    /// Upload an image to a registry
    Push(distribution::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(distribution::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(distribution::LoadArgs),
    /// Create a new image from a container's changes
    Commit(distribution::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(distribution::ExportArgs),
    /// Authenticate to a registry
    Login(registry::LoginArgs),
    /// Log out from a registry
    Logout(registry::LogoutArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// Display system-wide information
    Info(system::FormatArgs),
    /// Show the Docker version information
    Version(system::FormatArgs),
    /// Manage containers
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
    /// Manage builds
    #[command(subcommand)]
    Builder(build::BuilderCommand),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(stats::UpdateArgs),
    /// Manage volumes
    #[command(subcommand)]
    Volume(volume::VolumeCommand),
    /// Manage contexts
    #[command(subcommand)]
    Context(context::ContextCommand),
    /// Define and run multi-container applications
    Compose(compose::ComposeArgs),
    #[command(subcommand)]
    Container(ContainerCommand),
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Manage networks
    #[command(subcommand)]
    Network(NetworkCommand),
    /// Manage Docker
    #[command(subcommand)]
    System(SystemCommand),
}

/// `berth container ...`
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(run::RunArgs),
    /// Create a new container
    Create(run::CreateArgs),
    /// Start one or more stopped containers
    Start(run::StartArgs),
    /// List containers
    #[command(visible_aliases = ["ps", "list"])]
    Ls(container::PsArgs),
    /// Fetch the logs of a container
    Logs(container::LogsArgs),
    /// Execute a command in a running container
    Exec(run::ExecArgs),
    /// Display detailed information on one or more containers
    Inspect(container::InspectArgs),
    /// Stop one or more running containers
    Stop(container::StopArgs),
    /// Kill one or more running containers
    Kill(container::KillArgs),
    /// Remove one or more containers
    #[command(visible_alias = "remove")]
    Rm(container::RmArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(container::NamesArgs),
    /// Display the running processes of a container
    Top(container::TopArgs),
    /// Rename a container
    Rename(container::RenameArgs),
    /// Pause all processes within one or more containers
    Pause(container::NamesArgs),
    /// Unpause all processes within one or more containers
    Unpause(container::NamesArgs),
    /// Restart one or more containers
    Restart(container::StopArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(run::AttachArgs),
    /// Remove all stopped containers
    Prune(container::PruneArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::PortArgs),
    /// Create a new image from a container's changes
    Commit(distribution::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(distribution::ExportArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(cp::CpArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(stats::StatsArgs),
    /// Update configuration of one or more containers
    Update(stats::UpdateArgs),
}

/// `berth network ...`
#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(network::ConnectArgs),
    /// Create a network
    Create(network::CreateArgs),
    /// Disconnect a container from a network
    Disconnect(network::DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(network::InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(network::LsArgs),
    /// Remove all unused networks
    Prune(network::PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(network::RmArgs),
}

/// `berth image ...`
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(image::ImagesArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(image::ImportArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(image::TagArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(image::RmiArgs),
    /// Display detailed information on one or more images
    Inspect(container::InspectArgs),
    /// Remove unused images
    Prune(image::ImagePruneArgs),
    /// Download an image from a registry
    Pull(distribution::PullArgs),
    /// Upload an image to a registry
    Push(distribution::PushArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(distribution::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(distribution::LoadArgs),
    /// Build an image from a Dockerfile
    Build(build::BuildArgs),
}

/// `berth system ...`
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show docker disk usage
    Df(system::DfArgs),
    /// Display system-wide information
    Info(system::FormatArgs),
    /// Get real time events from the server
    Events(system::EventsArgs),
}

/// Print a flag error as docker does (one line, exit 125); help and version exit 0.
pub fn report_clap_error(e: clap::Error) -> i32 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            eprintln!("berth: {}", one_line(&e.render().to_string()));
            125
        }
    }
}

/// clap's message up to its usage section, on one line.
fn one_line(rendered: &str) -> String {
    let mut parts = Vec::new();
    for line in rendered.lines() {
        let line = line.trim();
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        if !line.is_empty() {
            parts.push(line.strip_prefix("error: ").unwrap_or(line));
        }
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_errors_are_one_line() {
        let e = Cli::try_parse_from(["berth", "run"]).unwrap_err();
        let msg = one_line(&e.render().to_string());
        assert!(msg.starts_with("the following required arguments were not provided:"), "{msg}");
        assert!(!msg.contains('\n'));
        let e = Cli::try_parse_from(["berth", "ps", "--bogus"]).unwrap_err();
        assert_eq!(one_line(&e.render().to_string()), "unexpected argument '--bogus' found");
    }

    #[test]
    fn docker_aliases_parse() {
        for args in [
            &["berth", "container", "ps", "-a"][..],
            &["berth", "container", "list"],
            &["berth", "image", "list"],
            &["berth", "container", "remove", "x"],
            &["berth", "-H", "unix:///x", "system", "df", "-v"],
            &["berth", "rm", "-fv", "x", "y"],
            &["berth", "stop", "-t", "0", "x"],
            &["berth", "logs", "-f", "--tail", "10", "x"],
            &["berth", "top", "x", "aux"],
            &["berth", "images", "--format", "{{.ID}}", "busybox"],
            &["berth", "network", "create", "-d", "bridge", "--subnet", "10.9.0.0/16", "--ipv6", "n"],
            &["berth", "network", "ls", "-q", "--no-trunc", "-f", "driver=bridge"],
            &["berth", "network", "list", "--format", "{{.Name}}"],
            &["berth", "network", "inspect", "-v", "-f", "{{.Id}}", "a", "b"],
            &["berth", "network", "rm", "-f", "a", "b"],
            &["berth", "network", "remove", "a"],
            &["berth", "network", "prune", "-f", "--filter", "until=1h"],
            &["berth", "network", "connect", "--ip", "10.9.0.5", "--alias", "x", "n", "c"],
            &["berth", "network", "disconnect", "-f", "n", "c"],
            &["berth", "port", "c", "80/tcp"],
            &["berth", "container", "port", "c"],
            &["berth", "run", "-p", "8080:80", "-P", "--expose", "90", "--network", "n", "--ip", "1.2.3.4", "img"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
    }
}
