//! Publishing this host in DNS (RFC 8005 section 3 with RFC 2136 DNS
//! UPDATE, signed with TSIG, RFC 8945): when `dns_update_zone`,
//! `dns_update_server`, `dns_update_name` and `dns_update_key` are set, hipd
//! replaces its name's HIP RR (the default identity, with the configured RVS
//! names) and its A/AAAA RRs (the announced locators) at start and whenever
//! its locators change, and deletes them when it stops (a bounded wait).
//! Failures are logged (the first of a run at warn, then at debug), counted,
//! and retried with exponential backoff; they never stop hipd.
use crate::config::DnsUpdateConfig;
use crate::dns_lookup::{random_id, tcp_exchange, udp_exchange, ExchangeError};
use crate::stats::{inc, DnsStats};
use hickory_proto::rr::Name;
use hip_dns::{HipRdata, SignedUpdate, TsigKey, UpdateError};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The first retry after a failure; doubled up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between retries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Address changes come in bursts: wait this long for the burst to end.
pub const SETTLE: Duration = Duration::from_millis(300);
/// How long the withdrawal at shutdown may take.
pub const WITHDRAW_WAIT: Duration = Duration::from_secs(3);

/// What hipd publishes and where.
pub struct Publisher {
    zone: Name,
    name: Name,
    server: std::net::SocketAddr,
    key: TsigKey,
    hip: HipRdata,
    ttl: u32,
    stats: Arc<DnsStats>,
}

fn fqdn(s: &str) -> Result<Name, String> {
    Name::from_ascii(format!("{}.", s.trim_end_matches('.'))).map_err(|e| format!("{s}: {e}"))
}

/// Why one UPDATE failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The message could not be built, or the server's answer says no.
    #[error(transparent)]
    Update(#[from] UpdateError),
    /// No answer in time.
    #[error("no answer from {0} in time")]
    Timeout(std::net::SocketAddr),
    /// A socket error.
    #[error("DNS UPDATE to {0}: {1}")]
    Io(std::net::SocketAddr, std::io::Error),
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Publisher {
    /// The publisher of `hi`/`hit` under `cfg`; reads the TSIG key file.
    pub fn new(
        cfg: &DnsUpdateConfig,
        hi: &hip_proto::crypto::hi::HostIdPublic,
        hit: hip_proto::Hit,
        stats: Arc<DnsStats>,
    ) -> Result<Self, String> {
        let key = TsigKey::from_file(&cfg.key).map_err(|e| format!("dns_update_key: {e}"))?;
        let rvs = cfg
            .rvs
            .iter()
            .map(|r| fqdn(r))
            .collect::<Result<Vec<_>, _>>()?;
        let hip = HipRdata::for_identity(hi, hit, rvs)
            .map_err(|e| format!("the default identity's HIP RR: {e}"))?;
        Ok(Publisher {
            zone: fqdn(&cfg.zone)?,
            name: fqdn(&cfg.name)?,
            server: cfg.server,
            key,
            hip,
            ttl: cfg.ttl,
            stats,
        })
    }

    /// Sends one signed UPDATE and checks the answer (its TSIG included);
    /// TCP when the answer is truncated.
    async fn send(&self, msg: &SignedUpdate) -> Result<(), PublishError> {
        let io = |e: ExchangeError| match e {
            ExchangeError::Timeout => PublishError::Timeout(self.server),
            ExchangeError::Io(e) => PublishError::Io(self.server, e),
        };
        let a = udp_exchange(self.server, &msg.bytes).await.map_err(io)?;
        match msg.check_response(&a, unix_now()) {
            Err(UpdateError::Truncated) => {
                let a = tcp_exchange(self.server, &msg.bytes).await.map_err(io)?;
                Ok(msg.check_response(&a, unix_now())?)
            }
            r => Ok(r?),
        }
    }

    /// Replaces the name's HIP, A and AAAA RRsets with ours.
    pub async fn publish(&self, addrs: &[IpAddr]) -> Result<(), PublishError> {
        let msg = hip_dns::publish(
            &self.zone,
            &self.name,
            &self.hip,
            addrs,
            self.ttl,
            random_id(),
            &self.key,
            unix_now(),
        )?;
        inc(&self.stats.dns_updates_sent);
        self.send(&msg).await
    }

    /// Deletes the name's HIP, A and AAAA RRsets.
    pub async fn withdraw(&self) -> Result<(), PublishError> {
        let msg = hip_dns::withdraw(&self.zone, &self.name, random_id(), &self.key, unix_now())?;
        inc(&self.stats.dns_updates_sent);
        self.send(&msg).await
    }

    /// Publishes the locators `locators` holds, again on every change, with
    /// retries; runs until the sender is gone or the task is aborted.
    pub async fn run(self: Arc<Self>, mut locators: watch::Receiver<Vec<IpAddr>>) {
        let mut backoff = FIRST_BACKOFF;
        let mut failing = false;
        loop {
            let addrs = locators.borrow_and_update().clone();
            match self.publish(&addrs).await {
                Ok(()) => {
                    if failing {
                        tracing::info!(name = %self.name, "DNS UPDATE succeeded again");
                    }
                    tracing::info!(name = %self.name, server = %self.server, ?addrs, "published in DNS");
                    failing = false;
                    backoff = FIRST_BACKOFF;
                    if locators.changed().await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    inc(&self.stats.dns_updates_failed);
                    if failing {
                        tracing::debug!(name = %self.name, "DNS UPDATE failed again: {e}");
                    } else {
                        tracing::warn!(name = %self.name, server = %self.server, "DNS UPDATE failed: {e}; retrying with backoff");
                    }
                    failing = true;
                    // A locator change retries at once.
                    let _ = tokio::time::timeout(backoff, locators.changed()).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
            tokio::time::sleep(SETTLE).await;
        }
    }

    /// The withdrawal at shutdown, bounded by [`WITHDRAW_WAIT`].
    pub async fn withdraw_at_exit(&self) {
        match tokio::time::timeout(WITHDRAW_WAIT, self.withdraw()).await {
            Ok(Ok(())) => {
                inc(&self.stats.dns_withdrawn);
                tracing::info!(name = %self.name, "withdrawn from DNS");
            }
            Ok(Err(e)) => {
                inc(&self.stats.dns_updates_failed);
                tracing::warn!(name = %self.name, "DNS withdrawal failed: {e}");
            }
            Err(_) => {
                inc(&self.stats.dns_updates_failed);
                tracing::warn!(name = %self.name, "DNS withdrawal: no answer in time");
            }
        }
    }
}
