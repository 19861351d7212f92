//! hipconf as a process: bad input and an absent daemon give one line on stderr
//! and a non-zero exit.
use std::process::Command;

fn hipconf(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hipconf"))
        .args(args)
        .output()
        .expect("run hipconf")
}

#[test]
fn bad_arguments_fail_with_one_line() {
    for args in [
        &["daemon", "add", "map", "2001:db8::1", "192.0.2.1"][..],
        &["daemon", "get", "hi"],
        &["daemon", "set", "puzzle", "all", "nope"],
        &["--frob"],
        &[],
    ] {
        let o = hipconf(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(e.lines().count(), 1, "{args:?}: {e}");
        assert!(e.starts_with("hipconf: "), "{e}");
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn absent_daemon_fails_with_one_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let sock = dir.path().join("nothing.sock");
    let o = hipconf(&[
        "--socket",
        sock.to_str().expect("utf8"),
        "daemon",
        "get",
        "hi",
        "default",
    ]);
    assert_eq!(o.status.code(), Some(1));
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("cannot connect to hipd"), "{e}");
}
