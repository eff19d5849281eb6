//! `quarry synth` output is pinned: seeded data sets (and what is built and trained
//! from them) must not change when the sampler code moves. The hashes were taken
//! from the output before the Box-Muller sampler moved to `quarry_partition::sample`.

mod common;
use common::{ok, quarry, s, tmp};

/// FNV-1a, 64 bits: enough to notice any changed byte.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn check(args: &[&str], ext: &str, want: [(usize, u64); 2]) {
    let t = tmp();
    let (b, q) = (
        t.path().join(format!("b.{ext}")),
        t.path().join(format!("q.{ext}")),
    );
    let mut all = vec!["synth", "--out", s(&b), "--queries-out", s(&q)];
    all.extend_from_slice(args);
    ok(&quarry(&all));
    for (path, (len, hash)) in [b, q].iter().zip(want) {
        let bytes = std::fs::read(path).unwrap();
        assert_eq!(
            (bytes.len(), fnv1a(&bytes)),
            (len, hash),
            "{}",
            path.display()
        );
    }
}

const SMALL: &[&str] = &[
    "--n",
    "6",
    "--dim",
    "5",
    "--clusters",
    "3",
    "--queries",
    "3",
    "--seed",
    "7",
    "--spread",
    "0.1",
];
const LARGER: &[&str] = &[
    "--n",
    "3000",
    "--dim",
    "33",
    "--clusters",
    "20",
    "--queries",
    "100",
    "--seed",
    "3",
    "--spread",
    "0.25",
];

#[test]
fn synth_bytes_are_pinned() {
    check(
        SMALL,
        "fbin",
        [(128, 0xba38_8a14_f2a9_81c6), (68, 0x7afa_ac8d_4b87_53ce)],
    );
    check(
        SMALL,
        "u8bin",
        [(38, 0x4a6a_66ae_78bd_92d4), (23, 0x50fb_908a_a42d_5796)],
    );
    check(
        LARGER,
        "fbin",
        [
            (396_008, 0x0335_f28f_a37b_e97f),
            (13_208, 0xefb2_1b93_38a2_de26),
        ],
    );
    check(
        LARGER,
        "u8bin",
        [
            (99_008, 0xc0ae_b417_c8f2_6919),
            (3_308, 0x2774_6408_5372_968a),
        ],
    );
}
