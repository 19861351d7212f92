//! `hipd --check-config`: validates a configuration directory without
//! starting anything, and lists every problem (one line each, `path:line:
//! reason` where there is a line), not only the first one the daemon would
//! stop at. Nothing is written: no key is generated, `peers.json` is only
//! read.
use crate::config::Config;
use crate::peer_db::PeerDb;
use std::path::Path;

/// `text` with only line `i` (0-based) kept, so that a parser that stops at
/// the first error reports this line under its own number.
fn only_line(raw: &str, i: usize) -> String {
    let mut t = "\n".repeat(i);
    t.push_str(raw);
    t
}

fn meaningful(raw: &str) -> bool {
    !raw.split('#').next().unwrap_or("").trim().is_empty()
}

/// Every problem of `hipd.conf`; the configuration to check the rest with
/// (the defaults where the file is unusable).
fn check_hipd_conf(dir: &Path, problems: &mut Vec<String>) -> Config {
    let p = dir.join("hipd.conf");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Config::default(),
        Err(e) => {
            problems.push(format!("{}: {e}", p.display()));
            return Config::default();
        }
    };
    let before = problems.len();
    for (i, raw) in text.lines().enumerate() {
        if !meaningful(raw) {
            continue;
        }
        if let Err(e) = Config::parse(&only_line(raw, i)) {
            if matches!(&e, crate::config::ConfigError::Line { msg, .. } if msg == crate::config::PARTIAL_UPDATE)
            {
                // Needs the other lines: checked on the whole file below.
                continue;
            }
            problems.push(format!(
                "{}:{}",
                p.display(),
                strip_line_prefix(&e.to_string())
            ));
        }
    }
    match Config::parse(&text) {
        Ok(c) => c,
        Err(e) => {
            // A problem no single line shows (none today, but keep it honest).
            if problems.len() == before {
                problems.push(format!("{}: {e}", p.display()));
            }
            Config::default()
        }
    }
}

/// "hipd.conf line 3: msg" -> "3: msg".
fn strip_line_prefix(e: &str) -> String {
    e.strip_prefix("hipd.conf line ")
        .map_or_else(|| format!(" {e}"), str::to_string)
}

/// Key files that would not load (`keys/`); the HITs of those that do.
fn check_keys(dir: &Path, problems: &mut Vec<String>) -> Vec<hip_proto::Hit> {
    let kdir = dir.join("keys");
    let entries = match std::fs::read_dir(&kdir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            problems.push(format!("{}: {e}", kdir.display()));
            return Vec::new();
        }
    };
    let mut names: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let ext = p.extension().and_then(|x| x.to_str()).unwrap_or("");
            ext.eq_ignore_ascii_case("pem") || ext.eq_ignore_ascii_case("key")
        })
        .collect();
    names.sort();
    let mut hits = Vec::new();
    for p in names {
        match crate::identity_store::load_one(&p) {
            Ok((_, hit, _)) => hits.push(hit),
            Err(why) => problems.push(format!("{}: {why}", p.display())),
        }
    }
    hits
}

/// `peers.json` and the hosts file, against this host's HITs and addresses.
fn check_peers(dir: &Path, conf: &Config, own: &[hip_proto::Hit], problems: &mut Vec<String>) {
    let mut db = match PeerDb::open(&dir.join("peers.json"), conf.lsi_prefix) {
        Ok(db) => db,
        Err(e) => {
            problems.push(e.to_string());
            match PeerDb::new(conf.lsi_prefix) {
                Ok(db) => db,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = db.set_own_hits(own) {
        problems.push(e.to_string());
    }
    db.set_own_addrs(&crate::local_locators::host_addresses(
        &conf.tun_name,
        conf.lsi_prefix,
    ));
    let p = dir.join("hosts");
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
        Err(e) => {
            problems.push(format!("{}: {e}", p.display()));
            return;
        }
    };
    for (i, raw) in text.lines().enumerate() {
        if !meaningful(raw) {
            continue;
        }
        let r = crate::hosts::parse(&only_line(raw, i))
            .map_err(|e| e.to_string())
            .and_then(|lines| db.load_hosts(&lines).map_err(|e| e.to_string()));
        if let Err(e) = r {
            problems.push(format!("{}: {e}", p.display()));
        }
    }
}

/// Every problem found in the configuration directory `dir` (empty: valid).
pub fn check(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    if !dir.is_dir() {
        return vec![format!("{}: not a directory", dir.display())];
    }
    let conf = check_hipd_conf(dir, &mut problems);
    let own = check_keys(dir, &mut problems);
    check_peers(dir, &conf, &own, &mut problems);
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_reported_with_its_number() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(
            d.path().join("hipd.conf"),
            "# ok\ntun = hip7\nworkers = 0\n\nudp_encap = maybe\nnonsense\npuzzle_k = 3\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("hosts"),
            "2001:20::1 192.0.2.9\n2001:20::2 127.0.0.1\nnot-a-hit 192.0.2.1\n",
        )
        .unwrap();
        let p = check(d.path());
        let conf = d.path().join("hipd.conf").display().to_string();
        let hosts = d.path().join("hosts").display().to_string();
        assert_eq!(p.len(), 5, "{p:#?}");
        assert!(p[0].starts_with(&format!("{conf}:3: workers")), "{}", p[0]);
        assert!(p[1].starts_with(&format!("{conf}:5: ")), "{}", p[1]);
        assert!(p[2].starts_with(&format!("{conf}:6: ")), "{}", p[2]);
        assert!(
            p[3].starts_with(&format!("{hosts}: hosts line 2")),
            "{}",
            p[3]
        );
        assert!(
            p[4].starts_with(&format!("{hosts}: hosts line 3")),
            "{}",
            p[4]
        );
    }

    #[test]
    fn a_valid_or_empty_directory_has_no_problem_and_nothing_is_written() {
        let d = tempfile::tempdir().unwrap();
        assert!(check(d.path()).is_empty());
        std::fs::write(d.path().join("hipd.conf"), "tun = hip3\npuzzle_k = 2\n").unwrap();
        assert!(check(d.path()).is_empty());
        let names: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no keys generated, no peers.json written");
    }

    #[test]
    fn a_key_file_that_would_not_load_is_a_problem() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("keys")).unwrap();
        std::fs::write(d.path().join("keys/mykey.pem"), "x").unwrap();
        std::fs::write(d.path().join("keys/hi_v2_bad.pem"), "garbage").unwrap();
        let p = check(d.path());
        assert_eq!(p.len(), 2, "{p:#?}");
        assert!(p.iter().any(|l| l.contains("mykey.pem: not named")));
        assert!(p.iter().any(|l| l.contains("hi_v2_bad.pem")));
    }

    #[test]
    fn a_missing_directory_is_one_problem() {
        let p = check(Path::new("/nonexistent/hipr-check"));
        assert_eq!(p.len(), 1);
    }
}
