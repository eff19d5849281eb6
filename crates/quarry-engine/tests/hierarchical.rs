//! Two-level clustering (issue [scale]) on the real SIFT10K fixture: recall
//! against the shipped exact ground truth, balance, determinism, and a build
//! resumed from its phase checkpoints giving the same index bytes.

mod common;
use common::{fixture, tmp};
use quarry_engine::{
    build_index, checkpoint_dir, BuildConfig, Clustering, Index, Metric, NoProgress, OpenOptions,
    SearchParams,
};
use quarry_formats::{read_ground_truth, read_queries};
use std::path::Path;

// One test per process touches QUARRY_FAILPOINT: the tests below share it, so
// they run one after the other (`SERIAL`).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const PARTS: usize = 64;

fn config() -> BuildConfig {
    let mut c = BuildConfig::new(PARTS, Metric::L2);
    c.clustering = Clustering::Hierarchical {
        coarse: 8,
        probe: 2,
    };
    c.sample_per_centroid = 64;
    c.checkpoints = Some(true);
    c
}

fn recall_at_10(dir: &Path, nprobe: usize) -> f64 {
    let idx = Index::open(dir, OpenOptions::default()).unwrap();
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let gt = read_ground_truth(&fixture("siftsmall_groundtruth.ivecs")).unwrap();
    let res = idx
        .search_batch(&q.data, &SearchParams::new(10).nprobe(nprobe))
        .unwrap();
    let mut hits = 0;
    for i in 0..q.n {
        let truth = &gt.row(i)[..10];
        hits += res.neighbors[i]
            .iter()
            .filter(|n| truth.contains(&(n.id as u32)))
            .count();
    }
    hits as f64 / (10 * q.n) as f64
}

fn tree_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn two_level_build_is_balanced_exact_at_full_probe_and_recalls_like_flat() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let (h, f) = (t.path().join("h"), t.path().join("f"));
    let r = build_index(&base, &h, &config(), &NoProgress).unwrap();
    build_index(&base, &f, &BuildConfig::new(PARTS, Metric::L2), &NoProgress).unwrap();
    let cap = (1.1f64 * 10_000.0 / PARTS as f64).ceil() as u64;
    assert!(r.sizes.max <= cap, "size bound kept: {:?}", r.sizes);
    assert_eq!(
        recall_at_10(&h, PARTS),
        1.0,
        "every partition probed is exact"
    );
    let (rh, rf) = (recall_at_10(&h, 8), recall_at_10(&f, 8));
    assert!(
        rh >= rf - 0.03,
        "two-level recall@10 {rh} vs flat {rf} at nprobe 8"
    );
    let info = Index::open(&h, OpenOptions::default())
        .unwrap()
        .build_info()
        .unwrap();
    assert!(
        info.clustering.starts_with("two-level"),
        "{}",
        info.clustering
    );
    assert!(
        !checkpoint_dir(&h).exists(),
        "checkpoints removed once the index is whole"
    );
}

#[test]
fn a_build_resumed_from_checkpoints_writes_the_same_bytes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let t = tmp();
    let base = fixture("siftsmall_base.bvecs");
    let whole = t.path().join("whole");
    let r = build_index(&base, &whole, &config(), &NoProgress).unwrap();
    assert!(r.resumed.is_empty());

    // Killed after assignment (the fault point stops it there): no index, the
    // train and assign checkpoints left beside it.
    let resumed = t.path().join("resumed");
    std::env::set_var("QUARRY_FAILPOINT", "build-after-assign");
    let e = build_index(&base, &resumed, &config(), &NoProgress).unwrap_err();
    std::env::remove_var("QUARRY_FAILPOINT");
    assert!(e.to_string().contains("build-after-assign"), "{e}");
    assert!(!resumed.exists());
    assert!(checkpoint_dir(&resumed).join("assign.ckpt").exists());

    // Another setting (seed) does not use them...
    let mut other = config();
    other.seed = 7;
    let o = t.path().join("other");
    std::fs::rename(checkpoint_dir(&resumed), checkpoint_dir(&o)).unwrap();
    let r = build_index(&base, &o, &other, &NoProgress).unwrap();
    assert!(
        r.resumed.is_empty(),
        "checkpoints of another seed are not used"
    );
    // ...the same build resumes from them, and writes the same bytes.
    std::env::set_var("QUARRY_FAILPOINT", "build-after-assign");
    build_index(&base, &resumed, &config(), &NoProgress).unwrap_err();
    std::env::remove_var("QUARRY_FAILPOINT");
    let r = build_index(&base, &resumed, &config(), &NoProgress).unwrap();
    assert_eq!(r.resumed, vec!["train", "assign"]);
    assert_eq!(tree_bytes(&whole), tree_bytes(&resumed));
    assert!(!checkpoint_dir(&resumed).exists());

    // A damaged checkpoint is ignored: the phase runs again.
    std::env::set_var("QUARRY_FAILPOINT", "build-after-assign");
    let again = t.path().join("again");
    build_index(&base, &again, &config(), &NoProgress).unwrap_err();
    std::env::remove_var("QUARRY_FAILPOINT");
    let ck = checkpoint_dir(&again).join("assign.ckpt");
    let mut b = std::fs::read(&ck).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 1;
    std::fs::write(&ck, &b).unwrap();
    let r = build_index(&base, &again, &config(), &NoProgress).unwrap();
    assert_eq!(r.resumed, vec!["train"]);
    assert_eq!(tree_bytes(&whole), tree_bytes(&again));
}
