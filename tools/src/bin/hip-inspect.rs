//! hip-inspect: decode and verify the HIP packets in a pcap file.
//!
//! Exit status: 0 when every HIP packet decodes and every check passes,
//! 1 when a packet is malformed or a checksum, HIT, puzzle or signature
//! check fails, 2 on usage or file errors.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use hip_tools::inspect::{inspect_pcap, Check, Options, Profile};

#[derive(Parser)]
#[command(version, about = "Decode and verify HIP packets in a pcap file")]
struct Args {
    /// pcap files to read (plain IP, or HIP/ESP over UDP port 10500).
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Which implementation's rules to check against.
    #[arg(long, value_enum, default_value_t = Profile::Auto)]
    profile: Profile,
    /// Do not list ESP packets.
    #[arg(long)]
    no_esp: bool,
}

fn check(c: &Check) -> String {
    match c {
        Check::NotApplicable => String::new(),
        Check::Ok(d) => format!("ok: {d}"),
        Check::Unverified(d) => format!("unverified: {d}"),
        Check::Failed(d) => format!("FAILED: {d}"),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let opts = Options {
        profile: args.profile,
    };
    let mut failures = 0;
    let mut json = Vec::new();
    let mut out = String::new();
    for f in &args.files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("hip-inspect: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        let report = match inspect_pcap(&bytes, &opts) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("hip-inspect: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        failures += report.failures();
        if args.json {
            json.push(serde_json::json!({ "file": f, "report": report }));
            continue;
        }
        let _ = writeln!(out, "== {}", f.display());
        for r in &report.hip {
            let _ = writeln!(
                out,
                "#{} {} -> {} HIPv{} {} {} -> {} [{}]",
                r.frame,
                r.src,
                r.dst,
                r.version,
                r.packet_type,
                r.sender_hit,
                r.receiver_hit,
                r.encapsulation
            );
            if let Some(e) = &r.error {
                let _ = writeln!(out, "    MALFORMED: {e}");
            }
            for p in &r.params {
                let _ = writeln!(out, "    {p}");
            }
            for (name, c) in [
                ("checksum", &r.checksum),
                ("HIT", &r.hit_check),
                ("puzzle", &r.puzzle),
                ("signature", &r.signature),
            ] {
                let s = check(c);
                if !s.is_empty() {
                    let _ = writeln!(out, "    {name}: {s}");
                }
            }
        }
        if !args.no_esp {
            for e in &report.esp {
                let _ = writeln!(
                    out,
                    "#{} {} -> {} ESP spi={:#010x} seq={} len={} [{}]",
                    e.frame, e.src, e.dst, e.spi, e.seq, e.len, e.encapsulation
                );
            }
        }
        let _ = writeln!(
            out,
            "-- {} HIP packets ({} signatures verified), {} ESP packets, {} failures",
            report.hip.len(),
            report.signatures_ok(),
            report.esp.len(),
            report.failures()
        );
    }
    if args.json {
        match serde_json::to_string_pretty(&json) {
            Ok(s) => {
                let _ = writeln!(out, "{s}");
            }
            Err(e) => {
                eprintln!("hip-inspect: {e}");
                return ExitCode::from(2);
            }
        }
    }
    // A closed pipe (e.g. `| head`) is not an error worth a panic.
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    if failures > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
