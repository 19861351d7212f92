//! Network-namespace test harness: [`Netns`] (deleted on drop, also on panic,
//! with every process spawned in it killed), veth pairs, documentation-range
//! addresses, commands inside a namespace, and [`Hipd`] instances with their own
//! `--config-dir` and `--socket`.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub mod bind;
pub mod impair;
pub mod nat;
pub mod pair;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Returns why namespace tests cannot run here (not root, no `ip netns`), or None.
pub fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    match Command::new("ip").args(["netns", "list"]).output() {
        Ok(o) if o.status.success() => None,
        _ => Some("`ip netns` unavailable".into()),
    }
}

mod skip;
pub use skip::skip;

/// Skips the calling test (prints one line and returns) when namespaces are unusable.
#[macro_export]
macro_rules! require_netns {
    () => {
        if let Some(why) = $crate::skip_reason() {
            $crate::skip(&format!("namespace test: {why}"));
            return;
        }
    };
}

/// Is `a` inside the documentation ranges the project may use?
pub fn is_documentation_addr(a: &str) -> bool {
    let ip = a.split('/').next().unwrap_or("");
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v)) => {
            let o = v.octets();
            matches!(
                (o[0], o[1], o[2]),
                (192, 0, 2) | (198, 51, 100) | (203, 0, 113)
            )
        }
        Ok(std::net::IpAddr::V6(v)) => v.segments()[0] == 0x2001 && v.segments()[1] == 0x0db8,
        Err(_) => false,
    }
}

/// A network namespace that is deleted (and its processes killed) on drop.
pub struct Netns {
    name: String,
    children: Mutex<Vec<Child>>,
}

impl Netns {
    /// Creates `hipr-<pid>-<n>-<tag>` with loopback up.
    pub fn new(tag: &str) -> Self {
        static SWEEP: std::sync::Once = std::sync::Once::new();
        SWEEP.call_once(remove_stale_namespaces);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("hipr{}-{n}-{tag}", std::process::id());
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns {
            name,
            children: Mutex::new(Vec::new()),
        };
        ns.exec_ok(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(prog);
        c
    }

    /// Runs `argv` inside; returns its output.
    pub fn exec(&self, argv: &[&str]) -> Output {
        let mut c = self.command(argv[0]);
        c.args(&argv[1..]);
        c.output().unwrap_or_else(|e| panic!("{argv:?}: {e}"))
    }

    /// Runs `argv` inside, panicking with its stderr when it fails; returns stdout.
    pub fn exec_ok(&self, argv: &[&str]) -> String {
        let o = self.exec(argv);
        assert!(
            o.status.success(),
            "{argv:?} in {}: {}",
            self.name,
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Adds a documentation-range address to `dev` (IPv6 without DAD).
    pub fn add_addr(&self, dev: &str, cidr: &str) {
        assert!(
            is_documentation_addr(cidr),
            "{cidr} is not a documentation address"
        );
        if cidr.contains(':') {
            self.exec_ok(&["ip", "-6", "addr", "add", cidr, "dev", dev, "nodad"]);
        } else {
            self.exec_ok(&["ip", "addr", "add", cidr, "dev", dev]);
        }
    }

    /// Spawns a long-running process inside; it is killed when the namespace drops.
    pub fn spawn(&self, mut cmd: Command) -> u32 {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawn in {}: {e}", self.name));
        let pid = child.id();
        self.children
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(child);
        pid
    }

    /// Sends `sig` to a spawned process and waits (bounded) for it; returns its exit status.
    pub fn signal_and_wait(
        &self,
        pid: u32,
        sig: i32,
        timeout: Duration,
    ) -> Option<std::process::ExitStatus> {
        let mut kids = self.children.lock().unwrap_or_else(|p| p.into_inner());
        let i = kids.iter().position(|c| c.id() == pid)?;
        // SAFETY: pid is our own child, not yet reaped.
        unsafe { libc::kill(pid as i32, sig) };
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(st)) = kids[i].try_wait() {
                // Already reaped by try_wait; wait() returns the cached status.
                let _ = kids.remove(i).wait();
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Runs `f` on a thread that has entered this namespace (for raw sockets from the test).
    pub fn in_ns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        self.spawn_in_ns(f)
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
    }

    /// Starts `f` on a thread inside this namespace and returns its handle.
    pub fn spawn_in_ns<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            use std::os::fd::AsRawFd;
            // SAFETY: setns on a namespace fd affects only this (fresh) thread.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let mut kids = self.children.lock().unwrap_or_else(|p| p.into_inner());
        for c in kids.iter_mut() {
            // SAFETY: our own children.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        for c in kids.iter_mut() {
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        // Any stray process left inside (e.g. started via exec) goes too.
        if let Ok(o) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                // SAFETY: processes inside our private test namespace.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Joins two namespaces with a veth pair `dev_a` (in `a`) <-> `dev_b` (in `b`), both up.
/// Deletes namespaces `hipr<pid>-...` whose test process is gone (one killed
/// from outside, whose Drop never ran), and with them their veth ends and
/// processes' network: the next run starts clean.
fn remove_stale_namespaces() {
    let Ok(o) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&o.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        if stale_namespace(name, |pid| Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

/// True for a name of ours (`hipr<pid>-<n>-<tag>`) whose pid is not alive.
fn stale_namespace(name: &str, alive: impl Fn(u32) -> bool) -> bool {
    let Some(rest) = name.strip_prefix("hipr") else {
        return false;
    };
    let Some((pid, tail)) = rest.split_once('-') else {
        return false;
    };
    match pid.parse::<u32>() {
        Ok(pid) => !tail.is_empty() && pid != std::process::id() && !alive(pid),
        Err(_) => false,
    }
}

/// Adds bridge `name` in `ns` and sets it up, with a fixed MAC address of
/// its own. A bridge without one takes the lowest MAC of its ports and
/// changes it when a port with a lower one joins: hosts that learned the old
/// one then send to a MAC the bridge no longer answers for (the IP stack
/// drops those frames) until their neighbour entry expires, up to a minute.
/// Seen in `dns_names`: a host joining mid-test cut another off from the DNS
/// server on the bridge.
pub fn bridge(ns: &Netns, name: &str) {
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // Locally administered, unicast.
    let mac = format!(
        "02:68:69:{:02x}:{:02x}:{:02x}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    );
    ns.exec_ok(&["ip", "link", "add", name, "address", &mac, "type", "bridge"]);
    ns.exec_ok(&["ip", "link", "set", name, "up"]);
}

pub fn veth(a: &Netns, dev_a: &str, b: &Netns, dev_b: &str) {
    run_ok(Command::new("ip").args([
        "link",
        "add",
        dev_a,
        "netns",
        a.name(),
        "type",
        "veth",
        "peer",
        "name",
        dev_b,
        "netns",
        b.name(),
    ]));
    a.exec_ok(&["ip", "link", "set", dev_a, "up"]);
    b.exec_ok(&["ip", "link", "set", dev_b, "up"]);
    // The kernel activates a fresh link up to 1 s after "up" and drops what is
    // sent before; wait (at most 5 s) until both ends are operationally UP.
    let up = |ns: &Netns, dev: &str| {
        String::from_utf8_lossy(&ns.exec(&["ip", "-o", "link", "show", dev]).stdout)
            .contains("state UP")
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(up(a, dev_a) && up(b, dev_b)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run_ok(c: &mut Command) {
    let o = c.output().unwrap_or_else(|e| panic!("{c:?}: {e}"));
    assert!(
        o.status.success(),
        "{c:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The last `n` lines of `s` (a log), for failure messages.
pub fn tail(s: &str, n: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(n)..].join("\n")
}

/// Directory holding the hipd, hipconf and hip-inspect binaries, building them once if needed.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(d) = std::env::var_os("HIPR_BIN_DIR") {
            return PathBuf::from(d);
        }
        // target/<profile>/deps/<test-exe> -> target/<profile>
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut c = Command::new(cargo);
        c.current_dir(root).args([
            "build",
            "-q",
            "-p",
            "hipd",
            "-p",
            "hip-tools",
            "--bin",
            "hipd",
            "--bin",
            "hipconf",
            "--bin",
            "hip-inspect",
        ]);
        if dir.file_name().is_some_and(|n| n == "release") {
            c.arg("--release");
        }
        run_ok(&mut c);
        dir
    })
    .clone()
}

/// A hipd running inside a namespace with its own configuration directory and socket.
pub struct Hipd {
    pub pid: u32,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Hipd {
    /// Starts hipd in `ns` (with an optional `hipd.conf` and `hosts`), waiting (bounded) for its socket.
    pub fn start(ns: &Netns, conf: Option<&str>, hosts: Option<&str>) -> Self {
        Self::start_with_identities(ns, conf, hosts, &[])
    }

    /// Like [`Hipd::start`], with Host Identities given as PKCS#8 PEM private
    /// keys: (`hi_v1_<name>.pem` or `hi_v2_<name>.pem`, key file). A version
    /// with a given key gets no generated ECDSA one, so the given key is the
    /// identity hipd uses for that HIT version.
    pub fn start_with_identities(
        ns: &Netns,
        conf: Option<&str>,
        hosts: Option<&str>,
        identities: &[(&str, &Path)],
    ) -> Self {
        Self::start_full(ns, conf, hosts, identities, "debug,hipd=debug")
    }

    /// Like [`Hipd::start`], logging at `level` (`RUST_LOG`), e.g. `info`,
    /// hipd's default, to measure what an operator's log receives.
    pub fn start_logging_at(ns: &Netns, conf: Option<&str>, level: &str) -> Self {
        Self::start_full(ns, conf, None, &[], level)
    }

    fn start_full(
        ns: &Netns,
        conf: Option<&str>,
        hosts: Option<&str>,
        identities: &[(&str, &Path)],
        level: &str,
    ) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("config");
        std::fs::create_dir_all(&cfg).expect("config dir");
        for (name, pem) in identities {
            let keys = cfg.join("keys");
            std::fs::create_dir_all(&keys).expect("keys dir");
            let to = keys.join(name);
            std::fs::copy(pem, &to).expect("identity");
            // hipd refuses a private key others can read.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600))
                .expect("chmod 0600");
        }
        if let Some(c) = conf {
            std::fs::write(cfg.join("hipd.conf"), c).expect("hipd.conf");
        }
        if let Some(h) = hosts {
            std::fs::write(cfg.join("hosts"), h).expect("hosts");
        }
        let socket = dir.path().join("hipd.sock");
        let log = dir.path().join("hipd.log");
        let logf = std::fs::File::create(&log).expect("log");
        let mut cmd = ns.command(bin_dir().join("hipd"));
        cmd.arg("--foreground")
            .arg("--config-dir")
            .arg(&cfg)
            .arg("--socket")
            .arg(&socket);
        cmd.env("RUST_LOG", level).env("NO_COLOR", "1");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(logf);
        let pid = ns.spawn(cmd);
        let h = Hipd {
            pid,
            dir,
            socket,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !h.socket.exists() {
            assert!(
                Instant::now() < deadline,
                "hipd did not start; log:\n{}",
                h.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        h
    }

    /// Stops this hipd (SIGTERM, bounded wait) and starts it again with the same
    /// configuration directory, socket and identities.
    pub fn restart(&mut self, ns: &Netns) {
        self.restart_after(ns, libc::SIGTERM);
    }

    /// Kills this hipd with SIGKILL (no CLOSE, no cleanup: a crash or a
    /// power cut) and starts it again with the same configuration.
    pub fn crash_and_restart(&mut self, ns: &Netns) {
        self.restart_after(ns, libc::SIGKILL);
    }

    fn restart_after(&mut self, ns: &Netns, sig: libc::c_int) {
        ns.signal_and_wait(self.pid, sig, Duration::from_secs(10))
            .expect("hipd did not stop");
        if sig == libc::SIGKILL {
            // A stale control socket stays behind, as after a real crash:
            // the new hipd must replace it itself.
            assert!(self.socket.exists(), "the killed hipd left its socket");
            return self.start_again(ns, true);
        }
        self.start_again(ns, false)
    }

    fn start_again(&mut self, ns: &Netns, stale_socket: bool) {
        if !stale_socket {
            let _ = std::fs::remove_file(&self.socket);
        }
        let logf = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("log");
        let mut cmd = ns.command(bin_dir().join("hipd"));
        cmd.arg("--foreground")
            .arg("--config-dir")
            .arg(self.dir.path().join("config"))
            .arg("--socket")
            .arg(&self.socket);
        cmd.env("RUST_LOG", "debug,hipd=debug").env("NO_COLOR", "1");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(logf);
        self.pid = ns.spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(20);
        // Ready when it answers on its socket (a stale one exists already).
        while !self
            .hipconf(ns, &["daemon", "get", "hi", "default"])
            .status
            .success()
        {
            assert!(
                Instant::now() < deadline,
                "hipd did not restart; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs `hipconf --socket S ARGS` inside `ns`.
    pub fn hipconf(&self, ns: &Netns, args: &[&str]) -> Output {
        let mut c = ns.command(bin_dir().join("hipconf"));
        c.arg("--socket").arg(&self.socket).args(args);
        c.output().expect("hipconf")
    }

    /// Like [`Self::hipconf`] but requires success; returns stdout.
    pub fn hipconf_ok(&self, ns: &Netns, args: &[&str]) -> String {
        let o = self.hipconf(ns, args);
        assert!(
            o.status.success(),
            "hipconf {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Reads one daemon counter.
    pub fn counter(&self, ns: &Netns, name: &str) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&self.hipconf_ok(ns, &["--json", "stats"])).expect("stats json");
        v["counters"][name]
            .as_u64()
            .unwrap_or_else(|| panic!("no counter {name} in {v}"))
    }

    /// Several counters from one `stats` answer (one snapshot of the
    /// daemon: counters that move together are read consistently).
    pub fn counters<const N: usize>(&self, ns: &Netns, names: [&str; N]) -> [u64; N] {
        let v: serde_json::Value =
            serde_json::from_str(&self.hipconf_ok(ns, &["--json", "stats"])).expect("stats json");
        names.map(|name| {
            v["counters"][name]
                .as_u64()
                .unwrap_or_else(|| panic!("no counter {name} in {v}"))
        })
    }

    /// Polls `counter >= want` for at most `timeout`.
    pub fn wait_counter(&self, ns: &Netns, name: &str, want: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let v = self.counter(ns, name);
            if v >= want || Instant::now() >= deadline {
                return v;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Deterministic pseudo-random test data.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        v.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Sends `payload` over TCP from `a` to a listener on `listen` in `b`, reached
/// at `dst` (connects retried for 20 s, every read and write bounded);
/// returns (sent SHA-256, received SHA-256). Panics on failure (see
/// [`try_tcp_transfer`] for a harness that records failures instead).
pub fn tcp_transfer(
    a: &Netns,
    b: &Netns,
    listen: std::net::SocketAddr,
    dst: std::net::SocketAddr,
    payload: Vec<u8>,
) -> ([u8; 32], [u8; 32]) {
    try_tcp_transfer(a, b, listen, dst, payload).unwrap_or_else(|e| panic!("{e}"))
}

/// [`tcp_transfer`] that returns an error instead of panicking: the listener
/// waits at most 30 s for the connection, connects are retried for 20 s.
pub fn try_tcp_transfer(
    a: &Netns,
    b: &Netns,
    listen: std::net::SocketAddr,
    dst: std::net::SocketAddr,
    payload: Vec<u8>,
) -> Result<([u8; 32], [u8; 32]), String> {
    try_tcp_transfer_timed(a, b, listen, dst, payload).map(|(s, r, _)| (s, r))
}

/// [`try_tcp_transfer`] that also returns the time from the client's first
/// connect attempt (its SYN is the first packet, which starts any base
/// exchange) to the first byte the listener reads.
pub fn try_tcp_transfer_timed(
    a: &Netns,
    b: &Netns,
    listen: std::net::SocketAddr,
    dst: std::net::SocketAddr,
    payload: Vec<u8>,
) -> Result<([u8; 32], [u8; 32], Duration), String> {
    use sha2::{Digest, Sha256};
    use std::io::{Read, Write};
    let l = b
        .in_ns(move || std::net::TcpListener::bind(listen))
        .map_err(|e| format!("bind {listen}: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("listener: {e}"))?;
    let server = b.spawn_in_ns(move || -> Result<([u8; 32], Option<Instant>), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut s = loop {
            match l.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if Instant::now() >= deadline {
                        return Err(format!("no connection on {listen} within 30 s"));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => return Err(format!("accept: {e}")),
            }
        };
        s.set_nonblocking(false)
            .map_err(|e| format!("accepted: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 65536];
        let mut first = None;
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    first.get_or_insert_with(Instant::now);
                    h.update(&buf[..n])
                }
                Err(e) => return Err(format!("server read: {e}")),
            }
        }
        Ok((<[u8; 32]>::from(h.finalize()), first))
    });
    let sent = <[u8; 32]>::from(Sha256::digest(&payload));
    let started = Instant::now();
    let client = a.in_ns(move || -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut s = loop {
            match std::net::TcpStream::connect_timeout(&dst, Duration::from_secs(5)) {
                Ok(s) => break s,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("connect {dst}: {e}, retrying");
                    std::thread::sleep(Duration::from_millis(300));
                }
                Err(e) => return Err(format!("connect {dst}: {e}")),
            }
        };
        s.set_write_timeout(Some(Duration::from_secs(60))).ok();
        s.write_all(&payload)
            .map_err(|e| format!("client write: {e}"))?;
        s.shutdown(std::net::Shutdown::Write).ok();
        Ok(())
    });
    let got = server
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    client?;
    let (got, first) = got?;
    let ttfb = first.map_or(Duration::ZERO, |f| f.saturating_duration_since(started));
    Ok((sent, got, ttfb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_ranges_only() {
        assert!(is_documentation_addr("192.0.2.1/24"));
        assert!(is_documentation_addr("2001:db8::1/64"));
        assert!(is_documentation_addr("203.0.113.9"));
        assert!(!is_documentation_addr("10.0.0.1/8"));
        assert!(!is_documentation_addr("2001:20::1"));
    }

    #[test]
    fn only_our_namespaces_of_dead_processes_are_stale() {
        let dead = |_| false;
        let alive = |_| true;
        assert!(stale_namespace("hipr4242-0-ea", dead));
        assert!(!stale_namespace("hipr4242-0-ea", alive));
        assert!(!stale_namespace("hiprdemo-a", dead), "the demo's names");
        assert!(!stale_namespace("other-1", dead));
        assert!(!stale_namespace("hipr4242", dead));
        let me = format!("hipr{}-3-x", std::process::id());
        assert!(!stale_namespace(&me, dead), "never this process's own");
    }

    #[test]
    fn netns_is_removed_on_panic() {
        crate::require_netns!();
        let name = std::panic::catch_unwind(|| {
            let ns = Netns::new("panic");
            let name = ns.name().to_string();
            let mut c = ns.command("sleep");
            c.arg("30");
            ns.spawn(c);
            std::panic::panic_any(name)
        })
        .unwrap_err();
        let name = name.downcast_ref::<String>().expect("name").clone();
        let list = Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        assert!(!String::from_utf8_lossy(&list.stdout).contains(&name));
    }
}
