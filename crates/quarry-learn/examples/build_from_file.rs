//! Build an index from a vector file and search it with a query file.
//!
//! cargo run --release -p quarry-learn --example build_from_file -- BASE QUERIES DIR
//! (defaults: the SIFT10K fixture and ./example-file.quarry)

use quarry_engine::{
    build_index, BuildConfig, Index, Metric, NoProgress, OpenOptions, SearchParams,
};
use quarry_formats::read_queries;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/siftsmall");
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .map_or(fixtures.join("siftsmall_base.bvecs"), PathBuf::from);
    let queries = args
        .next()
        .map_or(fixtures.join("siftsmall_query.fvecs"), PathBuf::from);
    let dir = args
        .next()
        .map_or(PathBuf::from("example-file.quarry"), PathBuf::from);

    let report = build_index(&base, &dir, &BuildConfig::new(32, Metric::L2), &NoProgress)?;
    println!("built {} in {:.2}s", dir.display(), report.total_secs);
    let index = Index::open(&dir, OpenOptions::default())?;
    let q = read_queries(&queries)?;
    let result = index.search_batch(&q.data, &SearchParams::new(10).nprobe(4))?;
    for (i, found) in result.neighbors.iter().take(3).enumerate() {
        let ids: Vec<u64> = found.iter().map(|n| n.id).collect();
        println!("query {i}: {ids:?}");
    }
    Ok(())
}
