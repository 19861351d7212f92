//! Rate-limited per-packet log lines: a line about one packet (a drop, a
//! failed send) is written at most [`PER_SECOND`] times a second per call
//! site, so that even at debug level a flood cannot fill the disk; the
//! counters keep the exact numbers. Lock-free, no allocation.
use std::sync::atomic::{AtomicU64, Ordering};

/// Lines per second and call site at most.
pub const PER_SECOND: u64 = 10;

/// The budget of one call site: the current second and the lines used in it.
pub struct Budget {
    window: AtomicU64,
}

impl Budget {
    /// A fresh budget (for a `static`).
    pub const fn new() -> Self {
        Budget {
            window: AtomicU64::new(0),
        }
    }

    /// May a line be written at `now_secs` (seconds on any monotonic clock)?
    pub fn allow_at(&self, now_secs: u64) -> bool {
        // The window packs (second << 16) | count.
        let mut cur = self.window.load(Ordering::Relaxed);
        loop {
            let (sec, n) = (cur >> 16, cur & 0xffff);
            let next = if sec != now_secs {
                (now_secs << 16) | 1
            } else if n < PER_SECOND {
                cur + 1
            } else {
                return false;
            };
            match self
                .window
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(c) => cur = c,
            }
        }
    }

    /// [`Budget::allow_at`] with the process's monotonic clock.
    pub fn allow(&self) -> bool {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let s = START
            .get_or_init(std::time::Instant::now)
            .elapsed()
            .as_secs();
        self.allow_at(s)
    }
}

impl Default for Budget {
    fn default() -> Self {
        Self::new()
    }
}

/// `tracing::debug!` for per-packet events, at most [`PER_SECOND`] a
/// second from this call site.
#[macro_export]
macro_rules! debug_limited {
    ($($arg:tt)*) => {{
        static BUDGET: $crate::log_limit::Budget = $crate::log_limit::Budget::new();
        if tracing::enabled!(tracing::Level::DEBUG) && BUDGET.allow() {
            tracing::debug!($($arg)*);
        }
    }};
}

/// `tracing::trace!` for per-packet events, rate-limited like
/// [`debug_limited!`].
#[macro_export]
macro_rules! trace_limited {
    ($($arg:tt)*) => {{
        static BUDGET: $crate::log_limit::Budget = $crate::log_limit::Budget::new();
        if tracing::enabled!(tracing::Level::TRACE) && BUDGET.allow() {
            tracing::trace!($($arg)*);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_per_second_lines_each_second() {
        let b = Budget::new();
        let allowed = (0..1000).filter(|_| b.allow_at(5)).count();
        assert_eq!(allowed as u64, PER_SECOND);
        assert!(b.allow_at(6), "a new second, a new budget");
        let more = (0..1000).filter(|_| b.allow_at(6)).count();
        assert_eq!(more as u64, PER_SECOND - 1);
    }
}
