//! hipconf: HIPL-compatible control tool for hipd (talks JSON lines over the
//! control Unix socket, see `hipd::control`).
#[path = "../hipconf/args.rs"]
mod args;
#[path = "../hipconf/output.rs"]
mod output;

use hipd::control::{call, Request, Response};
use std::process::ExitCode;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let inv = match args::parse(&argv) {
        Ok(i) => i,
        Err(e) if argv.iter().any(|a| a == "-h" || a == "--help") => {
            println!("{e}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("hipconf: {e}");
            return ExitCode::from(2);
        }
    };
    let resp = match call(&inv.socket, &inv.request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hipconf: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Response::Error { message } = &resp {
        eprintln!("hipconf: {}", message.replace('\n', " "));
        return ExitCode::FAILURE;
    }
    if let (Some(dns), Response::Hi { identities }) = (&inv.dns, &resp) {
        let Some(id) = identities.first() else {
            eprintln!("hipconf: hipd has no default identity");
            return ExitCode::FAILURE;
        };
        match output::hi_zone_lines(id, &dns.name, &dns.rvs) {
            Ok(lines) if inv.json => match serde_json::to_string(&lines) {
                Ok(j) => println!("{j}"),
                Err(e) => {
                    eprintln!("hipconf: {e}");
                    return ExitCode::FAILURE;
                }
            },
            Ok(lines) => {
                for l in lines {
                    println!("{l}");
                }
            }
            Err(e) => {
                eprintln!("hipconf: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    if inv.json {
        let v = match &resp {
            Response::Hi { identities } if inv.request == Request::GetHiDefault => {
                match identities.first() {
                    Some(i) => serde_json::to_value(i),
                    None => {
                        eprintln!("hipconf: hipd has no default identity");
                        return ExitCode::FAILURE;
                    }
                }
            }
            Response::Hi { identities } => serde_json::to_value(identities),
            Response::Ha {
                associations,
                registrations,
            } => Ok(output::ha_json(associations, registrations)),
            Response::Map { peers } => serde_json::to_value(peers),
            other => serde_json::to_value(other),
        };
        match v {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("hipconf: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    match resp {
        Response::Ok => {}
        Response::Hi { identities } if inv.request == Request::GetHiDefault => {
            print!("{}", output::hi_default(&identities))
        }
        Response::Hi { identities } => print!("{}", output::hi_all(&identities)),
        Response::Ha {
            associations,
            registrations,
        } => print!("{}", output::ha_all(&associations, &registrations)),
        Response::Map { peers } => {
            for p in peers {
                println!(
                    "{} {} {} {}",
                    p.hit,
                    p.locators.join(","),
                    p.lsi,
                    p.name.unwrap_or_default()
                );
            }
        }
        Response::Name { peer } => print!("{}", output::name(&peer)),
        Response::Lsi { lsi } => println!("{lsi}"),
        Response::Hit { hit } => println!("{hit}"),
        Response::Stats { counters } => {
            for (k, v) in counters {
                println!("{k} {v}");
            }
        }
        Response::Reloaded {
            peers_added,
            peers_removed,
            restart_needed,
        } => {
            println!("peers added: {peers_added}, removed: {peers_removed}");
            if restart_needed {
                println!("other changed settings take effect when hipd restarts");
            }
        }
        Response::Error { .. } => {}
    }
    ExitCode::SUCCESS
}
