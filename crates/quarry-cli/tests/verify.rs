//! `quarry verify` (issue 14, scope 6): a sound index passes; a flipped byte in an
//! extent or in an attached file is reported by name; a crashed writer's leftovers
//! are reported and `--repair` removes them (and nothing else).

mod common;
use common::*;

fn verify(idx: &std::path::Path, extra: &[&str]) -> (bool, serde_json::Value) {
    let mut args = vec!["verify", "--index", s(idx), "--json"];
    args.extend_from_slice(extra);
    let o = quarry(&args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.success(), v)
}

#[test]
fn verify_reports_exactly_what_is_wrong_and_repair_removes_leftovers() {
    let t = tmp();
    let idx = t.path().join("idx");
    ok(&quarry(&[
        "build",
        "--base",
        s(&fixture("siftsmall_base.bvecs")),
        "--out",
        s(&idx),
        "--partitions",
        "8",
    ]));
    ok(&quarry(&[
        "graph-build",
        "--index",
        s(&idx),
        "--m",
        "8",
        "--ef-construction",
        "16",
    ]));
    let (good, v) = verify(&idx, &[]);
    assert!(good, "{v}");
    assert_eq!(v["partitions_checked"], 8);
    assert_eq!(v["files_checked"].as_array().unwrap().len(), 3, "{v}");

    // Leftovers of a killed writer, and a file that is not the index's.
    std::fs::write(idx.join("graphs.bin.g9"), b"half").unwrap();
    std::fs::write(idx.join("manifest.json.77.quarry-tmp"), b"{").unwrap();
    std::fs::write(idx.join("notes.txt"), b"mine").unwrap();
    let (good, v) = verify(&idx, &[]);
    assert!(good, "leftovers are not problems: {v}");
    assert_eq!(
        v["leftovers"],
        serde_json::json!(["graphs.bin.g9", "manifest.json.77.quarry-tmp"])
    );
    assert_eq!(v["unknown_files"], serde_json::json!(["notes.txt"]));
    let (good, v) = verify(&idx, &["--repair"]);
    assert!(good, "{v}");
    assert_eq!(v["removed"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["leftovers"], serde_json::json!([]));
    assert!(
        idx.join("notes.txt").exists(),
        "repair never removes what is not a writer's"
    );

    // One flipped byte in each of two extents, and one in the graphs file: three
    // problems, each named.
    let data = idx.join("data.bin");
    let table = quarry_storage::IndexFiles::open(&idx).unwrap().table;
    let mut bytes = std::fs::read(&data).unwrap();
    for pid in [2usize, 5] {
        let e = &table[pid];
        bytes[(e.offset + e.length / 2) as usize] ^= 0x20;
    }
    std::fs::write(&data, &bytes).unwrap();
    let m = quarry_storage::Manifest::load(&idx).unwrap();
    let g = m.path_of(&idx, "graphs.bin").unwrap();
    let mut gb = std::fs::read(&g).unwrap();
    let mid = gb.len() / 2;
    gb[mid] ^= 1;
    std::fs::write(&g, &gb).unwrap();
    let o = quarry(&["verify", "--index", s(&idx)]);
    assert_eq!(o.status.code(), Some(1));
    let out = String::from_utf8_lossy(&o.stdout);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("problem"), "{err}");
    // Opening fails on the graphs file (loaded at open), so fix it and look again at
    // the extents: both bad partitions are named.
    assert!(out.contains("graphs.bin"), "{out}");
    gb[mid] ^= 1;
    std::fs::write(&g, &gb).unwrap();
    let (good, v) = verify(&idx, &[]);
    assert!(!good);
    let problems: Vec<String> = v["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].starts_with("partition 2:") && problems[1].starts_with("partition 5:"));
}
