//! Skip reporting shared by every crate's tests: hip-proto's and hipd's
//! include this file with `#[path]` (they cannot depend on hipr-tests).

/// Says why the calling test skips: one line on stderr, and one in the file
/// `$HIPR_SKIP_LOG` names (tools/run-tests.sh counts those apart from the
/// passes in its closing line). The caller then returns.
pub fn skip(why: &str) {
    eprintln!("skipping: {why}");
    if let Some(log) = std::env::var_os("HIPR_SKIP_LOG") {
        let bin = std::env::args().next().unwrap_or_default();
        let bin = bin.rsplit('/').next().unwrap_or_default();
        let test = std::thread::current().name().unwrap_or("?").to_string();
        let line = format!("{bin}::{test}\t{why}\n");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log);
        let _ = file.and_then(|mut f| std::io::Write::write_all(&mut f, line.as_bytes()));
    }
}
