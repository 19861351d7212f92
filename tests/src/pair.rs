//! Two hosts in namespaces joined by veth, each with a hipd that maps the
//! other's HIT to its locator, and the probes the tests use on them.
use crate::{veth, Hipd, Netns};
use std::time::{Duration, Instant};

/// Two hosts, A and B, with their daemons.
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
    pub ha: Hipd,
    pub hb: Hipd,
    pub hit_a: String,
    pub hit_b: String,
    /// B's LSI as A sees it, and A's as B sees it.
    pub lsi_b: String,
    pub lsi_a: String,
}

/// The default HIT of the hipd `h` in `ns`.
pub fn default_hi(ns: &Netns, h: &Hipd) -> String {
    let out = h.hipconf_ok(ns, &["daemon", "get", "hi", "default", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["hit"].as_str().expect("hit").to_string()
}

/// Two hosts; each maps the other's HIT to its `v4`/`v6` locator.
pub fn pair(v4_locators: bool, conf_a: Option<&str>, conf_b: Option<&str>) -> Pair {
    let a = Netns::new("ea");
    let b = Netns::new("eb");
    veth(&a, "veth-a", &b, "veth-b");
    a.add_addr("veth-a", "192.0.2.1/24");
    b.add_addr("veth-b", "192.0.2.2/24");
    a.add_addr("veth-a", "2001:db8::1/64");
    b.add_addr("veth-b", "2001:db8::2/64");
    let ha = Hipd::start(&a, conf_a, None);
    let hb = Hipd::start(&b, conf_b, None);
    let hit_a = default_hi(&a, &ha);
    let hit_b = default_hi(&b, &hb);
    let (loc_a, loc_b) = if v4_locators {
        ("192.0.2.1", "192.0.2.2")
    } else {
        ("2001:db8::1", "2001:db8::2")
    };
    ha.hipconf_ok(&a, &["daemon", "add", "map", &hit_b, loc_b]);
    hb.hipconf_ok(&b, &["daemon", "add", "map", &hit_a, loc_a]);
    let lsi_b = ha
        .hipconf_ok(&a, &["daemon", "hit-to-lsi", &hit_b])
        .trim()
        .to_string();
    let lsi_a = hb
        .hipconf_ok(&b, &["daemon", "hit-to-lsi", &hit_a])
        .trim()
        .to_string();
    Pair {
        a,
        b,
        ha,
        hb,
        hit_a,
        hit_b,
        lsi_b,
        lsi_a,
    }
}

/// Runs ping (`-6` for HITs) and returns the icmp_seq numbers that got replies.
pub fn ping(ns: &Netns, dst: &str) -> Vec<u32> {
    let mut args = vec!["ping"];
    if dst.contains(':') {
        args.push("-6");
    }
    args.extend(["-c", "3", "-i", "0.5", "-W", "3", dst]);
    let o = ns.exec(&args);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| l.split("icmp_seq=").nth(1))
        .filter_map(|r| r.split_whitespace().next()?.parse().ok())
        .collect()
}

/// Runs `count` pings (`-6` for HITs) and returns how many got replies.
pub fn ping_count(ns: &Netns, dst: &str, count: u32) -> usize {
    let c = count.to_string();
    let mut args = vec!["ping"];
    if dst.contains(':') {
        args.push("-6");
    }
    args.extend(["-c", &c, "-i", "0.5", "-W", "3", dst]);
    let o = ns.exec(&args);
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| l.contains("bytes from"))
        .count()
}

/// The first association `h` lists (`get ha all --json`), or JSON null.
pub fn first_ha(ns: &Netns, h: &Hipd) -> serde_json::Value {
    ha_states(ns, h).into_iter().next().unwrap_or_default()
}

/// `hipconf daemon get ha all --json` of `h`, one JSON object per association.
pub fn ha_states(ns: &Netns, h: &Hipd) -> Vec<serde_json::Value> {
    let out = h.hipconf_ok(ns, &["daemon", "get", "ha", "all", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("ha json");
    v.as_array()
        .cloned()
        .or_else(|| v["associations"].as_array().cloned())
        .unwrap_or_default()
}

/// Does `h` hold an ESTABLISHED association with `peer`?
pub fn established_with(ns: &Netns, h: &Hipd, peer: &str) -> bool {
    ha_states(ns, h)
        .iter()
        .any(|x| x["peer_hit"] == peer && x["state"] == "ESTABLISHED")
}

/// Every registration `h` lists (`get ha all --json`), from all associations.
pub fn registrations(ns: &Netns, h: &Hipd) -> Vec<serde_json::Value> {
    ha_states(ns, h)
        .iter()
        .flat_map(|a| a["registrations"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// The registration of `h` with role `role` and peer `peer`, if any.
pub fn registration(ns: &Netns, h: &Hipd, role: &str, peer: &str) -> Option<serde_json::Value> {
    registrations(ns, h)
        .into_iter()
        .find(|r| r["role"] == role && r["peer_hit"] == peer)
}

/// Polls `f` every 100 ms for at most `timeout`.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
