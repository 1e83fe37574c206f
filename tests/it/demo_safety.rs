//! The built binary refuses to serve the demo settings beyond loopback: `livepack serve` on
//! 0.0.0.0 with the shipped demo config exits naming each demo key, `--demo` runs it on
//! purpose, and `livepack check-config` lists each demo setting.

use crate::common;

use std::process::{Command, Stdio};

use common::*;

const DEMO_KEYS: [&str; 6] = [
    "sellers.mat-ong-tam-diep.token",
    "sellers.tra-shan-tuyet.token",
    "operator.token",
    "sites.hoa-lu-hub.station_pin",
    "carriers.viettel-post.webhook_secret",
    "carriers.viettel-post.kind",
];

fn livepack(dir: &std::path::Path, listen: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_livepack"));
    c.current_dir(dir)
        .env_remove("LIVEPACK_CONFIG")
        .env_remove("LIVEPACK_DEMO")
        .env("LIVEPACK__SERVER__LISTEN", listen)
        // Never reached by the refused runs; the allowed run gets a real one.
        .env("LIVEPACK__REDIS__URL", "redis://127.0.0.1:1/0")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    c
}

#[test]
fn serve_refuses_demo_settings_beyond_loopback_and_check_config_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = livepack(dir.path(), "0.0.0.0:0")
        .arg("serve")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for k in DEMO_KEYS {
        assert!(err.contains(k), "serve names {k}: {err}");
    }
    assert!(err.contains("--demo") && err.contains("0.0.0.0:0"), "{err}");
    // The demo tokens themselves are never printed.
    assert!(!err.contains("demo-operator-token-change-me"), "{err}");

    // Without a subcommand `serve` is the default, with the same check.
    let out = livepack(dir.path(), "[::]:0").output().unwrap();
    assert_eq!(out.status.code(), Some(2));

    let out = livepack(dir.path(), "0.0.0.0:8080")
        .arg("check-config")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // A deploy gate: what `serve` would refuse is not ok (exit 2), unless LIVEPACK_DEMO.
    assert_eq!(out.status.code(), Some(2), "{text}");
    let demo = livepack(dir.path(), "0.0.0.0:8080")
        .arg("check-config")
        .env("LIVEPACK_DEMO", "1")
        .output()
        .unwrap();
    assert!(demo.status.success(), "{demo:?}");
    for k in DEMO_KEYS {
        assert!(
            text.lines()
                .any(|l| l.starts_with("warning: demo setting") && l.contains(k)),
            "check-config lists {k}: {text}"
        );
    }
    assert!(!text.contains("246813"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_runs_the_demo_beyond_loopback_only_with_demo() {
    let redis = TestRedis::start().await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = tokio::process::Command::from(livepack(dir.path(), &format!("0.0.0.0:{port}")))
        .env("LIVEPACK__REDIS__URL", redis.url())
        .arg("serve")
        .arg("--demo")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    await_ready(&format!("http://127.0.0.1:{port}"), 30).await;
    child.kill().await.unwrap();

    // Loopback needs no flag, demo settings or not.
    let port2 = free_port();
    let mut child =
        tokio::process::Command::from(livepack(dir.path(), &format!("127.0.0.1:{port2}")))
            .env("LIVEPACK__REDIS__URL", redis.url())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
    await_ready(&format!("http://127.0.0.1:{port2}"), 30).await;
    child.kill().await.unwrap();
}
