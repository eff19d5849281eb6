//! Micro-benchmarks of the search path on the SIFT10K fixture: one partition read
//! (direct and buffered, checksum included), a partition scan inside a batch, and
//! single-query search. `cargo bench -p quarry-engine`.

use criterion::{criterion_group, criterion_main, Criterion};
use quarry_engine::{
    build_index, BuildConfig, Index, IoMode, Metric, NoProgress, OpenOptions, SearchParams,
};
use quarry_formats::read_queries;
use quarry_storage::{open_store, AlignedBuf, IndexFiles};
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/siftsmall")
        .join(name)
}

fn benches(c: &mut Criterion) {
    let tmp = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
    let dir = tmp.path().join("sift.quarry");
    build_index(
        &fixture("siftsmall_base.bvecs"),
        &dir,
        &BuildConfig::new(16, Metric::L2),
        &NoProgress,
    )
    .unwrap();
    let files = IndexFiles::open(&dir).unwrap();
    for mode in [IoMode::Direct, IoMode::Buffered] {
        let store = open_store(&files, mode).unwrap();
        let mut buf = AlignedBuf::new();
        c.bench_function(
            &format!(
                "read_partition/{}/{}KiB",
                mode.name(),
                files.table[0].length / 1024
            ),
            |b| b.iter(|| store.read_into(0, &mut buf).unwrap()),
        );
    }
    let q = read_queries(&fixture("siftsmall_query.fvecs")).unwrap();
    let idx = Index::open(
        &dir,
        OpenOptions {
            io: IoMode::Buffered,
            ..Default::default()
        },
    )
    .unwrap();
    // Every query probes every partition: 16 reads, each scanned for 100 queries.
    c.bench_function("search_batch/100q_all_partitions_k10", |b| {
        b.iter(|| {
            idx.search_batch(&q.data, &SearchParams::new(10).nprobe(16))
                .unwrap()
        })
    });
    c.bench_function("search/1q_nprobe4_k10", |b| {
        b.iter(|| {
            idx.search(q.row(0), &SearchParams::new(10).nprobe(4))
                .unwrap()
        })
    });
}

criterion_group! {
    name = engine;
    config = Criterion::default().sample_size(20).warm_up_time(std::time::Duration::from_secs(1)).measurement_time(std::time::Duration::from_secs(3));
    targets = benches
}
criterion_main!(engine);
