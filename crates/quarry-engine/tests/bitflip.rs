//! Bit-flip detection: 1,000 seeded trials on a small index. Each trial flips one bit
//! of one index file, opens the index and searches with every partition probed; the
//! trial must end in an error (at open or at search), never in results and never in
//! a panic. The bit is restored after each trial.
//!
//! Which file: chosen uniformly among manifest.json, centroids.bin, partitions.bin
//! and data.bin (not weighted by size: data.bin is ~95% of the bytes, and the small
//! files, whose checks differ, would otherwise get a few dozen trials); which bit:
//! uniform over the chosen file. I/O mode alternates between direct and buffered.

use quarry_engine::{
    build_index, BuildConfig, Index, IoMode, Metric, NoProgress, OpenOptions, SearchParams,
};
use quarry_formats::write_fbin;
use quarry_storage::files;
use rand::{Rng, SeedableRng};
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

const N: usize = 400;
const DIM: usize = 12;
const PARTS: usize = 5;
const TRIALS: usize = 1000;
const FILES: [&str; 4] = [files::MANIFEST, files::CENTROIDS, files::TABLE, files::DATA];

fn flip(path: &Path, offset: u64, bit: u8) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 1 << bit;
    f.write_all_at(&b, offset).unwrap();
}

#[derive(Debug, PartialEq)]
enum Outcome {
    ErrAtOpen,
    ErrAtSearch,
    Results,
    Panic,
}

fn trial(dir: &Path, queries: &[f32], io: IoMode) -> Outcome {
    let run = || {
        let opts = OpenOptions {
            io,
            io_threads: 2,
            read_ahead: 2,
            ..Default::default()
        };
        let Ok(idx) = Index::open(dir, opts) else {
            return Outcome::ErrAtOpen;
        };
        match idx.search_batch(queries, &SearchParams::new(10).nprobe(PARTS)) {
            Ok(_) => Outcome::Results,
            Err(_) => Outcome::ErrAtSearch,
        }
    };
    catch_unwind(AssertUnwindSafe(run)).unwrap_or(Outcome::Panic)
}

#[test]
fn a_thousand_random_bit_flips_are_all_detected() {
    let t = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0xB17F_11B5);
    let data: Vec<f32> = (0..N * DIM)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect();
    let base = t.path().join("base.fbin");
    write_fbin(&base, DIM, &data).unwrap();
    let dir = t.path().join("idx");
    build_index(
        &base,
        &dir,
        &BuildConfig::new(PARTS, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let queries: Vec<f32> = data[..20 * DIM].to_vec();

    // The undamaged index answers (otherwise "detected" would mean nothing).
    for io in [IoMode::Direct, IoMode::Buffered] {
        assert_eq!(trial(&dir, &queries, io), Outcome::Results);
    }
    let sizes: Vec<u64> = FILES
        .iter()
        .map(|f| std::fs::metadata(dir.join(f)).unwrap().len())
        .collect();
    let originals: Vec<Vec<u8>> = FILES
        .iter()
        .map(|f| std::fs::read(dir.join(f)).unwrap())
        .collect();

    // Panics are counted, not printed 1000 times.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut per_file = [[0usize; 4]; 4]; // [file][outcome]
    let mut failures = Vec::new();
    for i in 0..TRIALS {
        let fi = rng.random_range(0..FILES.len());
        let offset = rng.random_range(0..sizes[fi]);
        let bit = rng.random_range(0..8u8);
        let path = dir.join(FILES[fi]);
        flip(&path, offset, bit);
        let io = if i % 2 == 0 {
            IoMode::Direct
        } else {
            IoMode::Buffered
        };
        let out = trial(&dir, &queries, io);
        flip(&path, offset, bit);
        let slot = match out {
            Outcome::ErrAtOpen => 0,
            Outcome::ErrAtSearch => 1,
            Outcome::Results => 2,
            Outcome::Panic => 3,
        };
        per_file[fi][slot] += 1;
        if slot >= 2 {
            failures.push(format!(
                "trial {i}: {} byte {offset} bit {bit} ({io:?}): {out:?}",
                FILES[fi]
            ));
        }
    }
    std::panic::set_hook(hook);

    for (f, orig) in FILES.iter().zip(&originals) {
        assert_eq!(
            &std::fs::read(dir.join(f)).unwrap(),
            orig,
            "{f} not restored"
        );
    }
    let detected: usize = per_file.iter().map(|o| o[0] + o[1]).sum();
    println!("bit flips detected: {detected}/{TRIALS}");
    for (f, o) in FILES.iter().zip(&per_file) {
        println!(
            "  {f:<15} {:>4} trials: {:>4} at open, {:>4} at search, {} results, {} panics",
            o.iter().sum::<usize>(),
            o[0],
            o[1],
            o[2],
            o[3]
        );
    }
    assert!(
        failures.is_empty(),
        "{} undetected flips:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(detected, TRIALS);
}
