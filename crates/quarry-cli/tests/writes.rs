//! `quarry upsert` / `quarry delete` / `quarry flush` from the command line, and
//! durability: an upsert stream (flushing every 4 batches in half the trials)
//! SIGKILLed at random moments loses no acknowledged batch, applies no batch in
//! part, verifies clean, and the next writer succeeds; a compaction SIGKILLed at a
//! random moment after each trial changes no live vector, nor does a flush of
//! 10,000 waiting rows SIGKILLed at a random moment (the test counts whether each
//! died before its commit, after it, or after a commit that split partitions).

mod common;
use common::{fails_with, fixture, json, ok, quarry, s, tmp};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn write_ibin_ids(path: &std::path::Path, ids: &[u32]) {
    quarry_formats::write_ibin(path, 1, ids, None).unwrap();
}

#[test]
fn upsert_delete_and_search() {
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let q = fixture("siftsmall_query.fvecs");
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    // Without --ids the queries become ids 10000..10099.
    let r = json(&quarry(&[
        "upsert",
        "--index",
        s(&idx),
        "--vectors",
        s(&q),
        "--batch",
        "30",
        "--json",
    ]));
    assert_eq!(
        (r["ids"].as_u64(), r["batches"].as_u64()),
        (Some(100), Some(4))
    );
    assert_eq!(r["live"]["live"], 10100);
    let ids = t.path().join("ids.ivecs");
    let hits = |idx: &std::path::Path| -> Vec<i32> {
        ok(&quarry(&[
            "search",
            "--index",
            s(idx),
            "--queries",
            s(&q),
            "--k",
            "1",
            "--nprobe",
            "8",
            "--out",
            s(&ids),
        ]));
        let b = std::fs::read(&ids).unwrap();
        b.chunks(8)
            .map(|c| i32::from_le_bytes(c[4..8].try_into().unwrap()))
            .collect()
    };
    assert!(hits(&idx)
        .iter()
        .enumerate()
        .all(|(i, &id)| id == 10000 + i as i32));
    // Replace 10000..10049 with base rows 0..49 under the same ids, delete the rest.
    let first50 = t.path().join("first50.ibin");
    write_ibin_ids(&first50, &(10000..10050).collect::<Vec<_>>());
    let rows = t.path().join("rows.fbin");
    let sub: Vec<f32> = (0..50 * 128).map(|i| ((i * 31) % 256) as f32).collect();
    quarry_formats::write_fbin(&rows, 128, &sub).unwrap();
    let r = json(&quarry(&[
        "upsert",
        "--index",
        s(&idx),
        "--vectors",
        s(&rows),
        "--ids",
        s(&first50),
        "--json",
    ]));
    assert_eq!(r["existed"], 50);
    let rest = t.path().join("rest.ibin");
    write_ibin_ids(&rest, &(10050..10100).chain(5..7).collect::<Vec<_>>());
    let r = json(&quarry(&[
        "delete",
        "--index",
        s(&idx),
        "--ids",
        s(&rest),
        "--json",
    ]));
    assert_eq!(
        (
            r["existed"].as_u64(),
            r["live"]["live"].as_u64(),
            r["live"]["deleted"].as_u64()
        ),
        (Some(52), Some(10048), Some(2))
    );
    // The deleted queries' nearest are base vectors again (siftsmall ground truth).
    let gt = quarry_formats::read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let h = hits(&idx);
    for (i, &got) in h.iter().enumerate().skip(50) {
        let want = gt.ids[i * gt.k] as i32;
        if want != 5 && want != 6 {
            assert_eq!(got, want, "query {i}");
        }
    }
    let info = json(&quarry(&["info", "--index", s(&idx), "--json"]));
    assert_eq!(info["writes"]["delta"], 50);
    ok(&quarry(&["verify", "--index", s(&idx)]));
    // Errors: wrong dimensions, ids of another length, a bad id file.
    let small = t.path().join("small.fbin");
    quarry_formats::write_fbin(&small, 4, &[1.0; 8]).unwrap();
    fails_with(
        &quarry(&["upsert", "--index", s(&idx), "--vectors", s(&small)]),
        "4 dimensions",
    );
    fails_with(
        &quarry(&[
            "upsert",
            "--index",
            s(&idx),
            "--vectors",
            s(&rows),
            "--ids",
            s(&rest),
        ]),
        "52 ids for 50 vectors",
    );
    let txt = t.path().join("ids.txt");
    std::fs::write(&txt, "1\n2\n").unwrap();
    fails_with(
        &quarry(&["delete", "--index", s(&idx), "--ids", s(&txt)]),
        ".npy",
    );
}

/// Live vectors in `quarry info --json` output (writes counted, if any).
fn live_count(info: &serde_json::Value) -> u64 {
    info["writes"]["live"]
        .as_u64()
        .unwrap_or(info["num_vectors"].as_u64().unwrap())
}

/// `quarry upsert --json` of `base`'s rows under the ids in `ids`, batches of 1,000.
fn upsert_json(idx: &Path, base: &Path, ids: &Path) -> serde_json::Value {
    json(&quarry(&[
        "upsert",
        "--index",
        s(idx),
        "--vectors",
        s(base),
        "--ids",
        s(ids),
        "--batch",
        "1000",
        "--json",
    ]))
}

/// Runs the quarry command `args` and SIGKILLs it after `wait`.
fn kill_after(args: &[&str], wait: Duration) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"))
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(wait);
    // SAFETY: plain kill(2) of our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGKILL) };
    let _ = c.wait();
}

#[test]
fn killed_upsert_streams_lose_no_acknowledged_batch() {
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    // Each trial writes the base rows again under fresh ids (100000 + 10000 t + row),
    // in batches of 50, and is killed at a random moment.
    let trials: u64 = std::env::var("QUARRY_KILL_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut rng = 0x9e3779b97f4a7c15u64;
    let mut acked_total = 0;
    let mut live_before = 10_000u64;
    // Killed flushes: before their commit, after it, after a commit with splits.
    let mut flush_kills = [0u64; 3];
    let mut flush_secs = 0.2;
    for trial in 0..trials {
        let ids = t.path().join(format!("ids{trial}.ibin"));
        let first = 100_000 + 10_000 * trial as u32;
        write_ibin_ids(&ids, &(first..first + 10_000).collect::<Vec<_>>());
        // Odd trials flush every 4 batches, so kills land inside flushes too.
        let every = if trial % 2 == 1 { "4" } else { "0" };
        let mut child = Command::new(env!("CARGO_BIN_EXE_quarry"))
            .args([
                "--quiet",
                "upsert",
                "--index",
                s(&idx),
                "--vectors",
                s(&base),
                "--ids",
                s(&ids),
                "--batch",
                "50",
                "--acks",
                "--flush-every",
                every,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let wait = Duration::from_millis(5 + (rng >> 33) % 80);
        let out = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<String>>()
        });
        std::thread::sleep(wait);
        // SAFETY: plain kill(2) of our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let _ = child.wait();
        let acks = reader.join().unwrap();
        let acked: u64 = acks
            .iter()
            .map(|l| l.split(' ').nth(3).unwrap().parse::<u64>().unwrap())
            .sum();
        acked_total += acked;
        // Reopened: every acknowledged batch present, batches whole, at most the
        // one batch in flight (durable, not yet acknowledged) beyond them.
        let r = json(&quarry(&["info", "--index", s(&idx), "--json"]));
        let live = live_count(&r);
        let new = live - live_before;
        assert!(
            new >= acked && new <= acked + 50,
            "trial {trial}: {new} new rows, {acked} acknowledged"
        );
        assert_eq!(
            new % 50,
            0,
            "trial {trial}: {new} new rows is not whole batches"
        );
        ok(&quarry(&["verify", "--index", s(&idx)]));
        // A flush killed at a random moment, with 10,000 unflushed rows waiting (the
        // same ids each trial, so replacements: tombstones and delta rows; the
        // partitions pass the split bound after a few trials): the live count is
        // unchanged, whether it died before its commit or after.
        let more = t.path().join("more.ibin");
        write_ibin_ids(&more, &(5_000_000..5_010_000).collect::<Vec<_>>());
        let r = upsert_json(&idx, &base, &more);
        live_before = r["live"]["live"].as_u64().unwrap();
        let before = json(&quarry(&["info", "--index", s(&idx), "--json"]));
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        // Uniform over 1.5x the last whole flush's run time (process start included).
        let span = (flush_secs * 1.5e6) as u64;
        kill_after(
            &["--quiet", "flush", "--index", s(&idx)],
            Duration::from_micros((rng >> 20) % span.max(1)),
        );
        let r = json(&quarry(&["info", "--index", s(&idx), "--json"]));
        assert_eq!(
            live_count(&r),
            live_before,
            "trial {trial}: a killed flush changed the live count"
        );
        if r["generation"] == before["generation"] {
            flush_kills[0] += 1; // before its commit: the log still holds the rows
        } else if r["num_partitions"].as_u64() > before["num_partitions"].as_u64() {
            flush_kills[2] += 1; // after a commit that split partitions
        } else {
            flush_kills[1] += 1; // after its commit
        }
        ok(&quarry(&["verify", "--index", s(&idx)]));
        // The next flush completes (each trial starts from flushed files).
        let started = std::time::Instant::now();
        ok(&quarry(&["flush", "--index", s(&idx)]));
        flush_secs = started.elapsed().as_secs_f64();
        // A compaction killed at a random moment: the live count is unchanged
        // (old files or new) and the index verifies.
        kill_after(
            &["--quiet", "flush", "--index", s(&idx), "--compact"],
            Duration::from_micros((rng >> 20) % 20_000),
        );
        let r = json(&quarry(&["info", "--index", s(&idx), "--json"]));
        assert_eq!(
            live_count(&r),
            live_before,
            "trial {trial}: a killed compaction changed the live count"
        );
        ok(&quarry(&["verify", "--index", s(&idx)]));
    }
    let ids = t.path().join("ids-final.ibin");
    write_ibin_ids(&ids, &(0..10_000).collect::<Vec<_>>());
    // The next writer succeeds and the log replays completely.
    let r = upsert_json(&idx, &base, &ids);
    assert_eq!(
        r["live"]["live"].as_u64(),
        Some(live_before),
        "replacing ids 0..10000 adds none"
    );
    eprintln!(
        "{trials} trials: {acked_total} rows acknowledged before the stream kills; \
         flush kills before commit / after / after a split commit: {flush_kills:?}"
    );
}

#[test]
fn compaction_and_write_bench_run() {
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let q = fixture("siftsmall_query.fvecs");
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    // Replace a tenth of the rows (ids 0..1000 again), flush: data.bin keeps most extents.
    let ids = t.path().join("ids.ibin");
    write_ibin_ids(&ids, &(0..1000).collect::<Vec<_>>());
    let rows = t.path().join("rows.fbin");
    let v: Vec<f32> = (0..1000 * 128).map(|i| ((i * 13) % 256) as f32).collect();
    quarry_formats::write_fbin(&rows, 128, &v).unwrap();
    ok(&quarry(&[
        "upsert",
        "--index",
        s(&idx),
        "--vectors",
        s(&rows),
        "--ids",
        s(&ids),
        "--flush",
    ]));
    // Deleting most ids, then compacting twice: the second finds nothing to do.
    let most = t.path().join("most.ibin");
    write_ibin_ids(&most, &(1000..9000).collect::<Vec<_>>());
    ok(&quarry(&[
        "delete",
        "--index",
        s(&idx),
        "--ids",
        s(&most),
        "--flush",
    ]));
    // (Reclaiming space is checked in the engine tests, where partitions are chosen.)
    ok(&quarry(&["flush", "--index", s(&idx), "--compact"]));
    let again = json(&quarry(&[
        "flush",
        "--index",
        s(&idx),
        "--compact",
        "--json",
    ]));
    assert_eq!(again["flush"]["partitions"], 0, "{again}");
    let info = json(&quarry(&["info", "--index", s(&idx), "--json"]));
    assert_eq!(info["num_vectors"], 2000);
    ok(&quarry(&["verify", "--index", s(&idx)]));
    // The write benchmark runs and reports both phases.
    let r = json(&quarry(&[
        "dev",
        "write-bench",
        "--index",
        s(&idx),
        "--vectors",
        s(&rows),
        "--queries",
        s(&q),
        "--secs",
        "0.2",
        "--search-batch",
        "50",
        "--nprobe",
        "8",
    ]));
    assert!(
        r["idle_qps"].as_f64().unwrap() > 0.0 && r["writing_qps"].as_f64().unwrap() > 0.0,
        "{r}"
    );
    assert!(r["upserts"].as_u64().unwrap() > 0, "{r}");
}

/// After splits a learned router is stale but keeps working; `retrain` trains it
/// again on the vectors the index holds now.
#[test]
fn retrain_after_splits() {
    let t = tmp();
    let idx = t.path().join("idx");
    let base = fixture("siftsmall_base.bvecs");
    let queries = fixture("siftsmall_query.fvecs");
    ok(&quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&idx),
        "--partitions",
        "16",
        "--train-pruning",
        "--train-queries",
        "800",
        "--rounds",
        "40",
        "--label-k",
        "10",
        "--max-nprobe",
        "16",
        "--features-k",
        "8",
    ]));
    // 100 more vectors (ids 10000..), and a split bound below the partitions' sizes.
    ok(&quarry(&[
        "upsert",
        "--index",
        s(&idx),
        "--vectors",
        s(&queries),
        "--flush",
        "--split-above",
        "500",
    ]));
    let info = json(&quarry(&["info", "--index", s(&idx), "--json"]));
    assert!(info["num_partitions"].as_u64().unwrap() > 16, "{info}");
    assert_eq!(info["stale_routers"][0]["router"], "gbdt", "{info}");
    ok(&quarry(&["verify", "--index", s(&idx)]));
    let search = || {
        quarry(&[
            "search",
            "--index",
            s(&idx),
            "--queries",
            s(&queries),
            "--k",
            "10",
            "--router",
            "gbdt",
            "--target-recall",
            "0.9",
        ])
    };
    ok(&search());
    // Ids must be 0..n for the export: these are (10000 built + 100 continuing).
    ok(&quarry(&[
        "retrain",
        "--index",
        s(&idx),
        "--train-queries",
        "500",
    ]));
    let info = json(&quarry(&["info", "--index", s(&idx), "--json"]));
    assert_eq!(info["stale_routers"], serde_json::json!([]), "{info}");
    ok(&search());
    ok(&quarry(&["verify", "--index", s(&idx)]));
}
