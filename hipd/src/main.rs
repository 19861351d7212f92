//! hipd binary: argument parsing, logging, optional daemonising.
use clap::Parser;
use std::path::PathBuf;

/// HIP daemon.
#[derive(Parser)]
#[command(name = "hipd", version)]
struct Args {
    /// Configuration directory (keys/, hipd.conf, hosts, peers.json).
    #[arg(long, default_value = "/etc/hipr")]
    config_dir: PathBuf,
    /// Control socket path (give the same to hipconf --socket).
    #[arg(long, default_value = hipd::control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Stay in the foreground (otherwise fork into the background).
    #[arg(long)]
    foreground: bool,
    /// Validate the configuration directory (hipd.conf, keys/, hosts,
    /// peers.json) and exit: one line per problem, non-zero when there is one.
    /// Writes nothing.
    #[arg(long)]
    check_config: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.check_config {
        let problems = hipd::check_config::check(&args.config_dir);
        for p in &problems {
            println!("{p}");
        }
        if problems.is_empty() {
            println!("{}: configuration OK", args.config_dir.display());
            return std::process::ExitCode::SUCCESS;
        }
        return std::process::ExitCode::FAILURE;
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if !args.foreground {
        if let Err(e) = nix::unistd::daemon(true, true) {
            eprintln!("hipd: cannot daemonise: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hipd: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let opts = hipd::daemon::Options {
        config_dir: args.config_dir,
        socket: args.socket,
    };
    let r = rt.block_on(hipd::daemon::run(opts));
    match r {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Once: the log goes to stderr already.
            tracing::error!("{e}");
            std::process::ExitCode::FAILURE
        }
    }
}
