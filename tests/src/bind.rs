//! A BIND 9 `named` for namespace tests: authoritative for one zone, TSIG
//! keys from `tsig-keygen` with `allow-update` for each, config and zone in
//! a tempdir, started in the foreground (`-g`) inside a [`Netns`] (killed
//! when the namespace drops), ready once it answers the zone's SOA.
use crate::Netns;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Is `prog` on the PATH?
pub fn have(prog: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {prog}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Why BIND tests cannot run here (a missing program), or None.
pub fn bind_missing() -> Option<String> {
    ["named", "named-checkzone", "dig", "tsig-keygen", "nsupdate"]
        .into_iter()
        .find(|p| !have(p))
        .map(|p| format!("{p} is not installed (bind9, bind9-utils, bind9-dnsutils)"))
}

/// A running named.
pub struct Named {
    /// Config, zone, keys and log.
    pub dir: tempfile::TempDir,
    /// The address it listens on (port 53).
    pub server: String,
    /// The zone it serves.
    pub zone: String,
}

impl Named {
    /// Starts named in `ns` on `server` (an address `ns` has), authoritative
    /// for `zone` with the SOA, NS and `ns.<zone>` A records and then
    /// `extra` (master-file lines); one TSIG key (hmac-sha256) per name in
    /// `keys`, each allowed to update the zone.
    pub fn start(ns: &Netns, server: &str, zone: &str, extra: &str, keys: &[&str]) -> Named {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let mut includes = String::new();
        let mut allow = String::new();
        for k in keys {
            let o = Command::new("tsig-keygen")
                .args(["-a", "hmac-sha256", k])
                .output()
                .expect("tsig-keygen");
            assert!(o.status.success(), "tsig-keygen {k}");
            let f = d.join(format!("{k}.key"));
            std::fs::write(&f, &o.stdout).expect("key file");
            includes.push_str(&format!("include \"{}\";\n", f.display()));
            allow.push_str(&format!("key \"{k}\"; "));
        }
        let head = format!(
            "$TTL 60\n@ IN SOA ns.{zone}. admin.{zone}. 1 3600 600 86400 60\n\
             @ IN NS ns.{zone}.\nns IN A {server}\n{extra}"
        );
        std::fs::write(d.join("zone.db"), head).expect("zone");
        let update = if keys.is_empty() {
            "none;".to_string()
        } else {
            allow
        };
        let conf = format!(
            "{includes}\
             options {{ directory \"{d}\"; pid-file \"{d}/named.pid\"; listen-on port 53 {{ {server}; }};\n\
               listen-on-v6 {{ none; }}; recursion no; dnssec-validation no; querylog yes; }};\n\
             zone \"{zone}\" {{ type primary; file \"zone.db\"; allow-update {{ {update} }}; }};\n",
            d = d.display()
        );
        let conf_path = d.join("named.conf");
        std::fs::write(&conf_path, conf).expect("named.conf");
        let mut cmd = ns.command("named");
        cmd.args(["-g", "-u", "root", "-c"])
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(d.join("named.log")).expect("log"));
        ns.spawn(cmd);
        let named = Named {
            dir,
            server: server.to_string(),
            zone: zone.to_string(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        // Up when the SOA comes back: dig +short prints its errors
        // (";; communications error ... connection refused") on stdout too.
        let answered = |out: String| {
            let t = out.trim();
            !t.is_empty() && !t.lines().any(|l| l.starts_with(';'))
        };
        while !answered(named.dig(ns, &[zone, "SOA"])) {
            assert!(
                Instant::now() < deadline,
                "named did not start:\n{}",
                named.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        named
    }

    /// The key file of `key` (as tsig-keygen wrote it).
    pub fn key_file(&self, key: &str) -> PathBuf {
        self.dir.path().join(format!("{key}.key"))
    }

    /// named's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("named.log")).unwrap_or_default()
    }

    /// `dig +short @server ARGS` run in `ns` (one try, one second).
    pub fn dig(&self, ns: &Netns, args: &[&str]) -> String {
        let at = format!("@{}", self.server);
        let mut argv = vec!["dig", "+short", "+time=1", "+tries=1", &at];
        argv.extend_from_slice(args);
        // `+short` prints its errors (";; communications error ...") on
        // stdout too: those lines are not answers.
        String::from_utf8_lossy(&ns.exec(&argv).stdout)
            .lines()
            .filter(|l| !l.starts_with(';'))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    /// Runs `nsupdate -k KEY` in `ns` with `commands` (a `server` line and
    /// `send` are added).
    pub fn nsupdate(&self, ns: &Netns, key: &str, commands: &str) -> std::process::Output {
        use std::io::Write;
        let mut c = ns.command("nsupdate");
        c.arg("-k")
            .arg(self.key_file(key))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("nsupdate");
        let script = format!(
            "server {}\nzone {}\n{commands}\nsend\n",
            self.server, self.zone
        );
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("nsupdate stdin");
        child.wait_with_output().expect("nsupdate")
    }
}

/// `/etc/netns/<ns>/resolv.conf`, which `ip netns exec` bind-mounts over
/// /etc/resolv.conf for the programs it starts; removed on drop.
pub struct NetnsResolvConf {
    dir: PathBuf,
}

impl NetnsResolvConf {
    /// Writes `text` as `ns`'s resolv.conf.
    pub fn write(ns: &Netns, text: &str) -> Self {
        let dir = PathBuf::from("/etc/netns").join(ns.name());
        std::fs::create_dir_all(&dir).expect("/etc/netns/<ns>");
        std::fs::write(dir.join("resolv.conf"), text).expect("resolv.conf");
        NetnsResolvConf { dir }
    }

    /// Replaces its text (programs started from now on see it).
    pub fn rewrite(&self, text: &str) {
        std::fs::write(self.dir.join("resolv.conf"), text).expect("resolv.conf");
    }
}

impl Drop for NetnsResolvConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // /etc/netns itself goes when nothing else uses it.
        let _ = std::fs::remove_dir("/etc/netns");
    }
}
