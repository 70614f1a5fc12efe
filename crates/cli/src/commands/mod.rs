//! One module per docker noun; `dispatch` routes the parsed command line.

pub mod build;
pub mod compose;
pub mod container;
pub mod context;
pub mod cp;
pub mod distribution;
pub mod image;
pub mod network;
pub mod registry;
pub mod run;
pub mod stats;
pub mod system;
pub mod volume;

use berth_client::Client;

use crate::cli::{Cli, Command, ContainerCommand, ImageCommand, NetworkCommand, SystemCommand};

/// Connect to the daemon the command line picks: `--context`, `-H`, `DOCKER_HOST`,
/// `DOCKER_CONTEXT`, the current context or the default, with the `--tls*` options (see
/// [`context::resolve`]).
pub async fn connect(cli: &Cli) -> anyhow::Result<Client> {
    context::connect(&globals(cli)).await
}

/// The endpoint-picking options of the command line.
pub fn globals(cli: &Cli) -> context::Globals {
    context::Globals {
        host: cli.host.clone(),
        context: cli.context.clone(),
        tls: berth_client::TlsFlags {
            tls: cli.tls,
            verify: cli.tlsverify,
            ca: cli.tlscacert.clone(),
            cert: cli.tlscert.clone(),
            key: cli.tlskey.clone(),
        },
    }
}

/// Run one parsed command line.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let creates = match &cli.command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => Some(&a.opts),
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => Some(&a.opts),
        _ => None,
    };
    if let Some(opts) = creates {
        // clap lets `--flag` through as IMAGE (everything after IMAGE belongs to the command).
        if let Some(first) = opts.args.first().filter(|a| a.starts_with('-') && a.len() > 1) {
            return Err(crate::error::StatusError::with(125, format!("berth: unknown flag: {first}")));
        }
    }
    // Logging out and contexts only edit the config files.
    if let Command::Logout(a) = cli.command {
        return registry::logout(a);
    }
    let globals = globals(&cli);
    if let Command::Context(cmd) = cli.command {
        return context::dispatch(cmd, &globals);
    }
    // Compose connects only for the commands that need the daemon (`config` does not).
    if let Command::Compose(a) = cli.command {
        return compose::dispatch(a, &globals).await;
    }
    let c = match connect(&cli).await {
        Ok(c) => c,
        Err(e) if creates.is_some() => return Err(crate::error::StatusError::with(125, format!("berth: {e}"))),
        Err(e) => return Err(e),
    };
    match cli.command {
        Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run::run(&c, a).await,
        Command::Create(a) | Command::Container(ContainerCommand::Create(a)) => run::create(&c, a).await,
        Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => run::start(&c, a).await,
        Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => container::ps(&c, a).await,
        Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => container::logs(&c, a).await,
        Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => run::exec(&c, a).await,
        Command::Inspect(a) => container::inspect(&c, a, None).await,
        Command::Container(ContainerCommand::Inspect(a)) => container::inspect(&c, a, Some("container")).await,
        Command::Image(ImageCommand::Inspect(a)) => container::inspect(&c, a, Some("image")).await,
        Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => container::stop(&c, a).await,
        Command::Restart(a) | Command::Container(ContainerCommand::Restart(a)) => container::restart(&c, a).await,
        Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => container::kill(&c, a).await,
        Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => container::rm(&c, a).await,
        Command::Wait(a) | Command::Container(ContainerCommand::Wait(a)) => container::wait(&c, a).await,
        Command::Top(a) | Command::Container(ContainerCommand::Top(a)) => container::top(&c, a).await,
        Command::Rename(a) | Command::Container(ContainerCommand::Rename(a)) => container::rename(&c, a).await,
        Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => container::pause(&c, a, true).await,
        Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => container::pause(&c, a, false).await,
        Command::Attach(a) | Command::Container(ContainerCommand::Attach(a)) => run::attach(&c, a).await,
        Command::Container(ContainerCommand::Prune(a)) => container::prune(&c, a).await,
        Command::Events(a) | Command::System(SystemCommand::Events(a)) => system::events(&c, a).await,
        Command::Images(a) | Command::Image(ImageCommand::Ls(a)) => image::images(&c, a).await,
        Command::Import(a) | Command::Image(ImageCommand::Import(a)) => image::import(&c, a).await,
        Command::Tag(a) | Command::Image(ImageCommand::Tag(a)) => image::tag(&c, a).await,
        Command::Rmi(a) | Command::Image(ImageCommand::Rm(a)) => image::rmi(&c, a).await,
        Command::Image(ImageCommand::Prune(a)) => image::prune(&c, a).await,
        Command::Pull(a) | Command::Image(ImageCommand::Pull(a)) => distribution::pull(&c, a).await,
        Command::Push(a) | Command::Image(ImageCommand::Push(a)) => distribution::push(&c, a).await,
        Command::Save(a) | Command::Image(ImageCommand::Save(a)) => distribution::save(&c, a).await,
        Command::Load(a) | Command::Image(ImageCommand::Load(a)) => distribution::load(&c, a).await,
        Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => distribution::commit(&c, a).await,
        Command::Export(a) | Command::Container(ContainerCommand::Export(a)) => distribution::export(&c, a).await,
        Command::Login(a) => registry::login(&c, a).await,
        Command::Logout(a) => registry::logout(a),
        Command::Info(a) | Command::System(SystemCommand::Info(a)) => system::info(&c, a).await,
        Command::Version(a) => system::version(&c, a).await,
        Command::System(SystemCommand::Df(a)) => system::df(&c, a).await,
        Command::Port(a) | Command::Container(ContainerCommand::Port(a)) => container::port(&c, a).await,
        Command::Network(NetworkCommand::Create(a)) => network::create(&c, a).await,
        Command::Network(NetworkCommand::Ls(a)) => network::ls(&c, a).await,
        Command::Network(NetworkCommand::Inspect(a)) => network::inspect(&c, a).await,
        Command::Network(NetworkCommand::Rm(a)) => network::rm(&c, a).await,
        Command::Network(NetworkCommand::Prune(a)) => network::prune(&c, a).await,
        Command::Network(NetworkCommand::Connect(a)) => network::connect(&c, a).await,
        Command::Network(NetworkCommand::Disconnect(a)) => network::disconnect(&c, a).await,
        Command::Build(a) | Command::Image(ImageCommand::Build(a)) => build::build(&c, a).await,
        Command::Builder(cmd) => build::builder(&c, cmd).await,
        Command::Cp(a) | Command::Container(ContainerCommand::Cp(a)) => cp::cp(&c, a).await,
        Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => stats::stats(&c, a).await,
        Command::Update(a) | Command::Container(ContainerCommand::Update(a)) => stats::update(&c, a).await,
        Command::Volume(cmd) => volume::dispatch(&c, cmd).await,
        Command::Context(cmd) => context::dispatch(cmd, &globals),
        Command::Compose(a) => compose::dispatch(a, &globals).await,
    }
}

/// Print to stdout, mapping a failed write (e.g. a closed pipe) to an error.
pub fn out(s: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut o = std::io::stdout().lock();
    o.write_all(s.as_bytes())?;
    o.flush()?;
    Ok(())
}

/// `--filter k=v` flags into the API's filter map.
pub fn filters(items: &[String]) -> anyhow::Result<Option<std::collections::HashMap<String, Vec<String>>>> {
    let mut map: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
    for f in items {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| crate::error::StatusError::with(125, format!("invalid argument \"{f}\" for \"-f, --filter\" flag: bad format of filter (expected name=value)")))?;
        map.entry(k.trim().to_lowercase()).or_default().push(v.to_string());
    }
    Ok((!map.is_empty()).then_some(map))
}
