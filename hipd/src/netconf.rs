//! Addresses and routes on the TUN device: the local HIT (/128), the ORCHID
//! prefixes 2001:20::/28 (RFC 7343) and 2001:10::/28 (RFC 4843), and the local
//! LSI with its prefix (RFC 5338). Done by running `ip(8)` for now (rtnetlink later).
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;

/// ORCHID prefixes routed into the TUN.
pub const ORCHID_PREFIXES: [&str; 2] = ["2001:20::/28", "2001:10::/28"];

/// Runs `ip ARGS`, mapping a failure to an error naming the command.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Brings `dev` up and assigns the HITs, ORCHID routes and the LSI.
pub fn configure(dev: &str, hits: &[Ipv6Addr], lsi: Ipv4Addr, lsi_len: u8) -> Result<(), String> {
    ip(&["link", "set", "dev", dev, "mtu", "1400", "up"])?;
    for h in hits {
        ip(&[
            "-6",
            "addr",
            "add",
            &format!("{h}/128"),
            "dev",
            dev,
            "nodad",
        ])?;
    }
    for p in ORCHID_PREFIXES {
        ip(&["-6", "route", "replace", p, "dev", dev])?;
    }
    ip(&["addr", "add", &format!("{lsi}/{lsi_len}"), "dev", dev])?;
    Ok(())
}

/// Removes the routes and the device (best effort; returns the first error).
pub fn teardown(dev: &str) -> Result<(), String> {
    let mut first = Ok(());
    for p in ORCHID_PREFIXES {
        if let Err(e) = ip(&["-6", "route", "del", p, "dev", dev]) {
            first = first.and(Err(e));
        }
    }
    // The LSI and HIT addresses go with the device, which disappears when its
    // (non-persistent) TUN descriptor is closed by the caller.
    first
}
