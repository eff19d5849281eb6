//! Fail early, fail clean (issue 14, defect 6): what can be checked is checked before
//! the expensive work, and a failure in a later step leaves nothing a rerun refuses.

mod common;
use common::*;
use std::path::Path;

fn build(out: &Path, extra: &[&str]) -> std::process::Output {
    let base = fixture("siftsmall_base.bvecs");
    let mut a = vec![
        "build",
        "--base",
        s(&base),
        "--out",
        s(out),
        "--partitions",
        "8",
    ];
    a.extend_from_slice(extra);
    quarry(&a)
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("quarry-partial") || n.contains("quarry-tmp"))
        .collect()
}

#[test]
fn an_existing_output_is_refused_before_any_work() {
    let t = tmp();
    let out = t.path().join("idx");
    std::fs::create_dir(&out).unwrap();
    // The bad partition count is never reached: --out is checked first.
    let base = fixture("siftsmall_base.bvecs");
    let o = quarry(&[
        "build",
        "--base",
        s(&base),
        "--out",
        s(&out),
        "--partitions",
        "20000",
    ]);
    fails_with(&o, "already exists");
}

#[test]
fn build_with_a_failing_training_step_leaves_no_index_and_reruns() {
    let t = tmp();
    let out = t.path().join("idx");
    // The training step fails (label k above the vector count) after the partitions
    // and the graphs were built: no index appears, nothing is left, a rerun works.
    let o = build(&out, &["--graphs", "--train-pruning", "--label-k", "20000"]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!out.exists(), "a half-made index was left at --out");
    assert_eq!(leftovers(t.path()), Vec::<String>::new());
    ok(&build(
        &out,
        &[
            "--graphs",
            "--train-pruning",
            "--label-k",
            "10",
            "--train-queries",
            "500",
        ],
    ));
    let idx = quarry_engine::Index::open(&out, Default::default()).unwrap();
    assert!(idx.has_graphs() && idx.has_file("pruning.model"));
    assert_eq!(leftovers(t.path()), Vec::<String>::new());
}

#[test]
fn router_training_refuses_another_base_before_training() {
    let t = tmp();
    let out = t.path().join("idx");
    ok(&build(&out, &[]));
    // Same shape, other vectors: the base's rows in another order.
    let base = quarry_formats::open_vectors(&fixture("siftsmall_base.bvecs")).unwrap();
    let quarry_formats::ChunkData::U8(v) = base.read_range(0, base.len()).unwrap() else {
        panic!("u8 fixture")
    };
    let shuffled: Vec<u8> = v.chunks(128).rev().flatten().copied().collect();
    let other = t.path().join("other.u8bin");
    quarry_formats::write_u8bin(&other, 128, &shuffled).unwrap();
    let smaller = t.path().join("smaller.u8bin");
    quarry_formats::write_u8bin(&smaller, 128, &v[..128 * 5000]).unwrap();
    for (file, why) in [(&other, "other vectors"), (&smaller, "holds 10000 x 128")] {
        for cmd in [
            vec![
                "mlp-train",
                "--index",
                s(&out),
                "--base",
                s(file),
                "--epochs",
                "1",
            ],
            vec!["train-pruning", "--index", s(&out), "--base", s(file)],
        ] {
            fails_with(&quarry(&cmd), why);
        }
    }
    // --dup-out onto an existing path: refused before training, the index's router
    // untouched.
    let taken = t.path().join("taken");
    let base_path = fixture("siftsmall_base.bvecs");
    std::fs::create_dir(&taken).unwrap();
    fails_with(
        &quarry(&[
            "mlp-train",
            "--index",
            s(&out),
            "--base",
            s(&base_path),
            "--epochs",
            "1",
            "--dup-out",
            s(&taken),
        ]),
        "already exists",
    );
    let idx = quarry_engine::Index::open(&out, Default::default()).unwrap();
    assert!(!idx.has_file("router.mlp.safetensors") && !idx.has_file("pruning.model"));
}

#[test]
fn split_refuses_one_path_for_two_outputs_and_writes_nothing() {
    // Issue 14, defect 7: two outputs on one path left a file whose header did not
    // match its size.
    let t = tmp();
    let input = fixture("siftsmall_base.bvecs");
    let a = t.path().join("a.fbin");
    let same = t.path().join(".").join("a.fbin");
    fails_with(
        &quarry(&[
            "split",
            "--input",
            s(&input),
            "--holdout",
            "100",
            "--queries-out",
            s(&a),
            "--base-out",
            s(&same),
        ]),
        "name the same file",
    );
    fails_with(
        &quarry(&[
            "split",
            "--input",
            s(&input),
            "--holdout",
            "100",
            "--queries-out",
            s(&input),
            "--base-out",
            s(&a),
        ]),
        "name the same file",
    );
    let left: Vec<_> = std::fs::read_dir(t.path()).unwrap().collect();
    assert!(left.is_empty(), "{left:?}");
}
