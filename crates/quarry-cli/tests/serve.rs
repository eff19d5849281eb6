//! `quarry serve` as a process: readiness, SIGTERM drains and flushes (exit 0),
//! a non-loopback address without a key is refused.

mod common;
use common::*;
use quarry_server::client::Client;
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

#[test]
fn sigterm_drains_then_flushes_and_a_public_address_needs_a_key() {
    let dir = tmp();
    let base = dir.path().join("base.fbin");
    let idx = dir.path().join("idx");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    ok(&quarry(&[
        "synth",
        "--out",
        &s(&base),
        "--n",
        "2000",
        "--dim",
        "8",
        "--clusters",
        "10",
        "--queries",
        "5",
        "--queries-out",
        &s(&dir.path().join("q.fbin")),
    ]));
    ok(&quarry(&[
        "build",
        "--base",
        &s(&base),
        "--out",
        &s(&idx),
        "--partitions",
        "8",
    ]));

    let o = quarry(&["serve", "--index", &s(&idx), "--addr", "0.0.0.0:0"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--api-key-file") && err.contains("--allow-unauthenticated"),
        "{err}"
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(["serve", "--index", &s(&idx), "--addr", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let addr = first
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in '{first}'"))
        .parse()
        .unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = Client::new(addr);
        for _ in 0..600 {
            if c.get("/healthz").await.map(|a| a.status) == Ok(200) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let a = c
            .post_json(
                "PUT",
                "/points",
                &json!({"points": [{"id": 5000, "vector": (vec![9.0f32; 8])}]}),
            )
            .await
            .unwrap();
        assert_eq!(a.status, 200, "{}", a.text());
    });
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "exit {status:?}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("flushed")), "{rest:?}");
    // Flushed: the files hold the write, the log is empty.
    let o = quarry(&["info", "--index", &s(&idx), "--json"]);
    ok(&o);
    let info: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(info["num_vectors"], 2001, "{info}");
    assert!(info["writes"].is_null(), "writes left unflushed: {info}");
}
