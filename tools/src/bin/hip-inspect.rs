//! hip-inspect: decode and verify the HIP packets in a pcap file.
//!
//! Exit status: 0 when every HIP packet decodes and every check passes,
//! 1 when a packet is malformed or a checksum, HIT, puzzle or signature
//! check fails, 2 on usage or file errors.

use std::fmt::Write as _;
use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;
use hip_tools::inspect::esp_keys::EspKeys;
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
    /// Decrypt ESP with the SAs in FILE (Wireshark `esp_sa` UAT lines, as in
    /// the HIPL captures) and print the inner packets.
    #[arg(long, value_name = "FILE")]
    esp_keys: Option<std::path::PathBuf>,
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
    let mut esp_keys = match &args.esp_keys {
        None => None,
        Some(p) => match std::fs::read_to_string(p)
            .map_err(|e| e.to_string())
            .and_then(|t| EspKeys::parse(&t))
        {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("hip-inspect: {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
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
        let decrypted = match esp_keys.as_mut().map(|k| k.decrypt_pcap(&bytes)) {
            None => Vec::new(),
            Some(Ok(d)) => d,
            Some(Err(e)) => {
                eprintln!("hip-inspect: {}: {e}", f.display());
                return ExitCode::from(2);
            }
        };
        if args.json {
            json.push(
                serde_json::json!({ "file": f, "report": report, "esp_decrypted": decrypted }),
            );
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
        for d in &decrypted {
            match &d.error {
                Some(e) => {
                    let _ = writeln!(
                        out,
                        "#{} ESP spi={:#010x} not decrypted: {e}",
                        d.frame, d.spi
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "#{} ESP spi={:#010x} seq={} decrypted: next_header={} inner={}",
                        d.frame, d.spi, d.seq, d.next_header, d.inner
                    );
                }
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
