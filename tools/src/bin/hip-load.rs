//! hip-load: drives many HIP initiators from one process against a hipd
//! (see `hip_tools::load`). Prints one JSON report on stdout.
//!
//!     hip-load establish --target-hit HIT --target ADDR --source-base ADDR \
//!         --source-count 256 --count 10000 --rate 2000 --inflight 256
//!     hip-load flood --target-hit HIT --target ADDR --source-base ADDR --rate 100000 --seconds 10
use clap::{Parser, Subcommand};
use hip_tools::load::{address_range, establish, flood, Target};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "Many HIP initiators in one process against one hipd")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(clap::Args)]
struct Common {
    /// The responder's HIT.
    #[arg(long)]
    target_hit: std::net::Ipv6Addr,
    /// The responder's address.
    #[arg(long)]
    target: IpAddr,
    /// First source address (must be configured on this host).
    #[arg(long)]
    source_base: IpAddr,
    /// Number of consecutive source addresses from the base.
    #[arg(long, default_value_t = 1)]
    source_count: usize,
}

#[derive(Subcommand)]
enum Mode {
    /// Run base exchanges from as many identities and leave the associations.
    Establish {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// New exchanges started per second.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Exchanges under way at most.
        #[arg(long, default_value_t = 256)]
        inflight: usize,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
    /// Send I1s with random sender HITs (no state anywhere).
    Flood {
        #[command(flatten)]
        common: Common,
        /// I1s per second.
        #[arg(long, default_value_t = 10000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
}

fn target(c: &Common) -> Result<Target, String> {
    if c.source_count == 0 || c.source_count > 65536 {
        return Err("--source-count: 1 to 65536".into());
    }
    if c.source_base.is_ipv4() != c.target.is_ipv4() {
        return Err("--source-base and --target must be of one address family".into());
    }
    let hit = hip_proto::Hit::from(c.target_hit);
    if hit.orchid_version().is_none() {
        return Err(format!("--target-hit {} is not a HIT", c.target_hit));
    }
    Ok(Target {
        hit,
        addr: c.target,
        sources: address_range(c.source_base, c.source_count),
    })
}

fn run(args: Args) -> Result<String, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    match args.mode {
        Mode::Establish {
            common,
            count,
            rate,
            inflight,
            timeout,
        } => {
            if count == 0 || inflight == 0 || rate <= 0.0 {
                return Err("--count, --inflight and --rate must be positive".into());
            }
            let t = target(&common)?;
            let r = rt.block_on(establish(
                &t,
                count,
                rate,
                inflight,
                Duration::from_secs(timeout),
            ))?;
            serde_json::to_string(&r).map_err(|e| e.to_string())
        }
        Mode::Flood {
            common,
            rate,
            seconds,
        } => {
            if rate <= 0.0 {
                return Err("--rate must be positive".into());
            }
            let t = target(&common)?;
            let _guard = rt.enter();
            let r = flood(&t, rate, Duration::from_secs(seconds))?;
            serde_json::to_string(&r).map_err(|e| e.to_string())
        }
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(out) => {
            println!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hip-load: {e}");
            ExitCode::FAILURE
        }
    }
}
