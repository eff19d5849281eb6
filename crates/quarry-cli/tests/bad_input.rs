//! Bad-input corpus: every case exits with code 1 and one `error: ...` line naming
//! the problem, without a panic. Cases already covered by cli.rs (query dimension vs
//! index, NaN in queries, truncated query file, k = 0 / k > n / nprobe = 0 /
//! batch-size 0 for search, an empty directory as index, a missing centroids.bin,
//! existing output) are not repeated here.
//!
//! Query dtype decision: queries of another dtype than the index are ACCEPTED and
//! converted to f32. Search computes in f32 anyway, u8 and i8 values are exact in
//! f32, and the common case (f32 query files against a u8 index, as SIFT ships) is
//! the same conversion; refusing would only force users to convert files by hand.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const N: usize = 300;
const DIM: usize = 16;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn quarry(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .arg("--quiet")
        .args(args)
        .output()
        .unwrap()
}

/// Runs quarry with at most 2 GiB of address space: a "huge allocation" bug aborts
/// instead of passing unnoticed on a machine with memory to spare.
fn quarry_limited(args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_quarry"));
    c.arg("--quiet").args(args);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        c.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

/// Exit code 1, one line starting `error: `, containing every needle, no panic.
fn fails_with(out: &Output, needles: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "status {}; stderr: {err}",
        out.status
    );
    assert_eq!(err.trim_end().lines().count(), 1, "not one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    for n in needles {
        assert!(err.contains(n), "expected '{n}' in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

fn succeeds(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status {}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Integer-valued data in 0..=255 (so the same rows exist as u8), a few clusters.
fn data(rows: usize, seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..rows * DIM)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (((i / DIM) % 5) * 40 + (x % 60) as usize) as f32
        })
        .collect()
}

struct Shared {
    _t: tempfile::TempDir,
    dir: PathBuf,
    base: PathBuf,
    queries: PathBuf,
    index: PathBuf,
}

/// base.fbin (300 x 16), queries.fbin (5 x 16) and an index of base, built once.
fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let t = tmp();
        let dir = t.path().to_path_buf();
        let base = dir.join("base.fbin");
        let queries = dir.join("queries.fbin");
        quarry_formats::write_fbin(&base, DIM, &data(N, 1)).unwrap();
        quarry_formats::write_fbin(&queries, DIM, &data(5, 2)).unwrap();
        let index = dir.join("idx");
        succeeds(&quarry(&[
            "build",
            "--base",
            s(&base),
            "--out",
            s(&index),
            "--partitions",
            "4",
        ]));
        Shared {
            _t: t,
            dir,
            base,
            queries,
            index,
        }
    })
}

/// A private copy of the shared index, to damage.
fn index_copy(t: &tempfile::TempDir) -> PathBuf {
    let to = t.path().join("idx");
    std::fs::create_dir(&to).unwrap();
    for e in std::fs::read_dir(&shared().index).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
    to
}

fn search(index: &Path, queries: &Path, extra: &[&str]) -> Output {
    let mut a = vec!["search", "--index", s(index), "--queries", s(queries)];
    a.extend_from_slice(extra);
    quarry(&a)
}

fn build_args<'a>(base: &'a Path, out: &'a Path) -> [&'a str; 7] {
    [
        "build",
        "--base",
        s(base),
        "--out",
        s(out),
        "--partitions",
        "4",
    ]
}

fn build(base: &Path, out: &Path) -> Output {
    quarry(&build_args(base, out))
}

fn gt(base: &Path, queries: &Path, k: usize, out: &Path) -> Output {
    quarry(&[
        "gt",
        "--base",
        s(base),
        "--queries",
        s(queries),
        "--k",
        &k.to_string(),
        "--out",
        s(out),
    ])
}

/// A failed build leaves neither the index nor the writer's scratch directory.
fn nothing_left(out: &Path) {
    assert!(!out.exists(), "{} exists", out.display());
    let name = out.file_name().unwrap().to_str().unwrap();
    let prefix = format!(".{name}.");
    for e in std::fs::read_dir(out.parent().unwrap()).unwrap() {
        let f = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(
            !(f.starts_with(&prefix) && f.ends_with(".quarry-partial")),
            "{f} left behind"
        );
    }
}

fn fbin_with(rows: usize, bad_at: usize, value: f32, path: &Path) {
    let mut d = data(rows, 3);
    d[bad_at] = value;
    // write_fbin refuses non-finite values, as it should: write the bytes by hand.
    let mut b = Vec::new();
    b.extend_from_slice(&(rows as u32).to_le_bytes());
    b.extend_from_slice(&(DIM as u32).to_le_bytes());
    d.iter().for_each(|v| b.extend_from_slice(&v.to_le_bytes()));
    std::fs::write(path, b).unwrap();
}

// ---- dimensions ----

#[test]
fn gt_with_queries_of_another_dimension_than_the_base() {
    let sh = shared();
    let t = tmp();
    let q = t.path().join("q8.fbin");
    quarry_formats::write_fbin(&q, 8, &[1.0; 16]).unwrap();
    fails_with(
        &gt(&sh.base, &q, 5, &t.path().join("gt.ivecs")),
        &["queries have 8 dimensions, base vectors have 16"],
    );
    assert!(!t.path().join("gt.ivecs").exists());
}

// ---- NaN / Inf ----

#[test]
fn inf_in_queries_is_refused_by_search() {
    let t = tmp();
    let q = t.path().join("qinf.fbin");
    fbin_with(3, DIM + 7, f32::INFINITY, &q);
    fails_with(
        &search(&shared().index, &q, &[]),
        &[
            "qinf.fbin",
            "+Inf",
            "byte offset 100",
            "vector 1, component 7",
        ],
    );
}

#[test]
fn nan_in_base_is_refused_by_build_and_leaves_nothing() {
    let t = tmp();
    let base = t.path().join("bnan.fbin");
    fbin_with(N, 250 * DIM + 3, f32::NAN, &base);
    let out = t.path().join("idx");
    fails_with(
        &build(&base, &out),
        &["bnan.fbin", "NaN", "vector 250, component 3"],
    );
    nothing_left(&out);
}

#[test]
fn inf_in_base_is_refused_by_build_and_leaves_nothing() {
    let t = tmp();
    let base = t.path().join("binf.fbin");
    fbin_with(N, 17 * DIM, f32::NEG_INFINITY, &base);
    let out = t.path().join("idx");
    fails_with(
        &build(&base, &out),
        &["binf.fbin", "-Inf", "vector 17, component 0"],
    );
    nothing_left(&out);
}

#[test]
fn nan_in_base_or_queries_is_refused_by_gt() {
    let sh = shared();
    let t = tmp();
    let bad = t.path().join("bad.fbin");
    fbin_with(N, 299 * DIM + 15, f32::NAN, &bad);
    let out = t.path().join("gt.ivecs");
    fails_with(
        &gt(&bad, &sh.queries, 5, &out),
        &["bad.fbin", "NaN", "vector 299"],
    );
    fails_with(
        &gt(&sh.base, &bad, 5, &out),
        &["bad.fbin", "NaN", "vector 299"],
    );
    assert!(!out.exists());
}

// ---- empty files ----

#[test]
fn empty_files_are_refused_in_every_role() {
    let sh = shared();
    let t = tmp();
    let empty_f = t.path().join("empty.fbin");
    let empty_v = t.path().join("empty.fvecs");
    let empty_gt = t.path().join("empty.ivecs");
    for p in [&empty_f, &empty_v, &empty_gt] {
        std::fs::write(p, b"").unwrap();
    }
    let msg = "file is empty (0 bytes)";
    let out = t.path().join("idx");
    fails_with(&build(&empty_f, &out), &["empty.fbin", msg]);
    fails_with(&build(&empty_v, &out), &["empty.fvecs", msg]);
    nothing_left(&out);
    fails_with(&search(&sh.index, &empty_f, &[]), &["empty.fbin", msg]);
    fails_with(&search(&sh.index, &empty_v, &[]), &["empty.fvecs", msg]);
    fails_with(
        &search(&sh.index, &sh.queries, &["--gt", s(&empty_gt)]),
        &["empty.ivecs", msg],
    );
    let g = t.path().join("gt.ivecs");
    fails_with(&gt(&empty_f, &sh.queries, 1, &g), &["empty.fbin", msg]);
    fails_with(&gt(&sh.base, &empty_v, 1, &g), &["empty.fvecs", msg]);
    // A header-only file: zero vectors.
    let zero = t.path().join("zero.fbin");
    std::fs::write(&zero, [0u8, 0, 0, 0, 16, 0, 0, 0]).unwrap();
    fails_with(
        &search(&sh.index, &zero, &[]),
        &["zero.fbin", "contains no vectors"],
    );
    fails_with(&build(&zero, &out), &["partitions 4 for 0 vectors"]);
    nothing_left(&out);
}

// ---- headers promising more than the file holds ----

#[test]
fn headers_promising_billions_of_vectors_fail_fast_without_allocating() {
    let sh = shared();
    let t = tmp();
    let start = Instant::now();
    // .fbin / .u8bin: u32 n = 3e9, d = 128, then 64 bytes of data.
    let mut hdr = Vec::new();
    hdr.extend_from_slice(&3_000_000_000u32.to_le_bytes());
    hdr.extend_from_slice(&128u32.to_le_bytes());
    hdr.extend_from_slice(&[0u8; 64]);
    let big_f = t.path().join("big.fbin");
    let big_u8 = t.path().join("big.u8bin");
    std::fs::write(&big_f, &hdr).unwrap();
    std::fs::write(&big_u8, &hdr).unwrap();
    // .npy with shape (3000000000, 128).
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let mut h =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3000000000, 128), }".to_string();
    while !(10 + h.len() + 1).is_multiple_of(64) {
        h.push(' ');
    }
    h.push('\n');
    npy.extend_from_slice(&(h.len() as u16).to_le_bytes());
    npy.extend_from_slice(h.as_bytes());
    npy.extend_from_slice(&[0u8; 64]);
    let big_npy = t.path().join("big.npy");
    std::fs::write(&big_npy, &npy).unwrap();
    // .ibin ground truth claiming 3e9 rows of 100.
    let mut ib = Vec::new();
    ib.extend_from_slice(&3_000_000_000u32.to_le_bytes());
    ib.extend_from_slice(&100u32.to_le_bytes());
    ib.extend_from_slice(&[0u8; 400]);
    let big_gt = t.path().join("big.ibin");
    std::fs::write(&big_gt, &ib).unwrap();

    let promise = "header promises 3000000000 vectors of dimension";
    let out = t.path().join("idx");
    for p in [&big_f, &big_u8, &big_npy] {
        let name = p.file_name().unwrap().to_str().unwrap();
        fails_with(
            &quarry_limited(&build_args(p, &out)),
            &[name, promise, "is only"],
        );
        nothing_left(&out);
        fails_with(
            &quarry_limited(&["search", "--index", s(&sh.index), "--queries", s(p)]),
            &[name, promise],
        );
        let g = t.path().join("g.ivecs");
        let args = [
            "gt",
            "--base",
            s(p),
            "--queries",
            s(&sh.queries),
            "--k",
            "1",
            "--out",
            s(&g),
        ];
        fails_with(&quarry_limited(&args), &[name, promise]);
    }
    fails_with(
        &quarry_limited(&[
            "search",
            "--index",
            s(&sh.index),
            "--queries",
            s(&sh.queries),
            "--gt",
            s(&big_gt),
        ]),
        &[
            "big.ibin",
            "header promises 3000000000 vectors of dimension 100",
        ],
    );
    // 10 runs of the binary; each fails on the header alone.
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

// ---- k and nprobe ----

#[test]
fn gt_with_k_zero() {
    let sh = shared();
    let t = tmp();
    let out = t.path().join("gt.ivecs");
    // A flag out of its range is a usage error (exit 2) naming the range.
    let o = gt(&sh.base, &sh.queries, 0, &out);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--k") && err.contains("0 is out of range: use 1..=100000"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn gt_with_k_larger_than_the_base() {
    let sh = shared();
    let t = tmp();
    let out = t.path().join("gt.ivecs");
    fails_with(
        &gt(&sh.base, &sh.queries, N + 1, &out),
        &["k = 301 exceeds the 300 vectors in the base file"],
    );
    assert!(!out.exists());
    // k = n is fine.
    succeeds(&gt(&sh.base, &sh.queries, N, &out));
}

#[test]
fn search_asking_recall_at_k_beyond_the_ground_truth() {
    let sh = shared();
    let t = tmp();
    let g = t.path().join("gt5.ivecs");
    succeeds(&gt(&sh.base, &sh.queries, 5, &g));
    fails_with(
        &search(&sh.index, &sh.queries, &["--gt", s(&g), "--k", "10"]),
        &["ground truth holds top-5 but recall@10 was asked"],
    );
}

// ---- query dtype vs index dtype ----

#[test]
fn u8bin_and_i8bin_queries_against_an_f32_index_are_converted() {
    let sh = shared();
    let t = tmp();
    let qf = data(5, 2);
    let q8 = t.path().join("q.u8bin");
    let qi = t.path().join("q.i8bin");
    quarry_formats::write_u8bin(&q8, DIM, &qf.iter().map(|&v| v as u8).collect::<Vec<_>>())
        .unwrap();
    // i8 holds 0..=127; halve the values (exact) and compare against halved f32s.
    let halved: Vec<f32> = qf.iter().map(|&v| (v / 2.0).floor()).collect();
    quarry_formats::write_i8bin(
        &qi,
        DIM,
        &halved.iter().map(|&v| v as i8).collect::<Vec<_>>(),
    )
    .unwrap();
    let qh = t.path().join("qh.fbin");
    quarry_formats::write_fbin(&qh, DIM, &halved).unwrap();
    let g = t.path().join("gt.ivecs");
    let gh = t.path().join("gth.ivecs");
    succeeds(&gt(&sh.base, &sh.queries, 10, &g));
    succeeds(&gt(&sh.base, &qh, 10, &gh));
    for (q, g) in [(&q8, &g), (&qi, &gh)] {
        let out = succeeds(&search(
            &sh.index,
            q,
            &["--gt", s(g), "--k", "10", "--nprobe", "4", "--json"],
        ));
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["recall_at_k"].as_f64(), Some(1.0), "{}: {v}", q.display());
        assert_eq!(v["queries"], 5);
    }
    // The conversion is exact: the same rows as f32.
    let a = quarry_formats::read_queries(&q8).unwrap();
    assert_eq!(a.data, qf);
}

// ---- not an index / damaged index ----

#[test]
fn paths_that_are_not_an_index() {
    let sh = shared();
    let t = tmp();
    fails_with(
        &search(&sh.base, &sh.queries, &[]),
        &["base.fbin is not a Quarry index", "not a directory"],
    );
    let missing = t.path().join("nope");
    fails_with(
        &search(&missing, &sh.queries, &[]),
        &["nope is not a Quarry index", "does not exist"],
    );
    let foreign = t.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("manifest.json"), br#"{"name": "my-app"}"#).unwrap();
    fails_with(
        &search(&foreign, &sh.queries, &[]),
        &[
            "is not a Quarry index",
            "manifest.json does not describe a quarry-index",
        ],
    );
    std::fs::write(foreign.join("manifest.json"), b"\x00\x01binary").unwrap();
    fails_with(
        &search(&foreign, &sh.queries, &[]),
        &["index is corrupt", "manifest.json is not valid JSON"],
    );
    fails_with(
        &quarry(&["info", "--index", s(&missing)]),
        &["does not exist"],
    );
}

#[test]
fn an_index_missing_any_of_its_files() {
    let sh = shared();
    for f in ["manifest.json", "partitions.bin", "data.bin"] {
        let t = tmp();
        let idx = index_copy(&t);
        std::fs::remove_file(idx.join(f)).unwrap();
        fails_with(
            &search(&idx, &sh.queries, &[]),
            &["is not a Quarry index", &format!("{f} is missing")],
        );
        fails_with(
            &quarry(&["info", "--index", s(&idx)]),
            &[&format!("{f} is missing")],
        );
    }
}

#[test]
fn a_truncated_data_bin() {
    let sh = shared();
    let t = tmp();
    let idx = index_copy(&t);
    let data = idx.join("data.bin");
    let len = std::fs::metadata(&data).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&data).unwrap();
    f.set_len(len - 4096).unwrap();
    drop(f);
    let msg = format!("data.bin has {} bytes, the manifest says {len}", len - 4096);
    fails_with(
        &search(&idx, &sh.queries, &[]),
        &["index is corrupt", &msg, "rebuild the index"],
    );
    fails_with(&quarry(&["info", "--index", s(&idx)]), &[&msg]);
}

#[test]
fn a_manifest_edited_by_hand_is_corrupt() {
    let sh = shared();
    let t = tmp();
    let idx = index_copy(&t);
    let m = idx.join("manifest.json");
    let text = std::fs::read_to_string(&m).unwrap();
    // Still valid JSON, a plausible value: caught by the manifest's own checksum.
    std::fs::write(&m, text.replace("\"seed\": 42", "\"seed\": 43")).unwrap();
    fails_with(
        &search(&idx, &sh.queries, &[]),
        &["index is corrupt", "manifest.json fails its checksum"],
    );
}

#[test]
fn the_shared_fixture_sanity() {
    // The corpus above is only meaningful if the undamaged inputs work.
    let sh = shared();
    let out = succeeds(&search(
        &sh.index,
        &sh.queries,
        &["--nprobe", "4", "--json"],
    ));
    assert!(out.contains("\"queries\":5"), "{out}");
    assert!(sh.dir.join("base.fbin").exists());
}
