//! What a search cost: per batch and per query (bytes, vectors, partitions, time).
//!
//! cargo run --release -p quarry-learn --example stats

use quarry_engine::{
    build_index, BuildConfig, Index, Metric, NoProgress, OpenOptions, SearchParams,
};
use quarry_formats::read_queries;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let fx = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/siftsmall");
    let dir = PathBuf::from("example-stats.quarry");
    build_index(
        &fx.join("siftsmall_base.bvecs"),
        &dir,
        &BuildConfig::new(32, Metric::L2),
        &NoProgress,
    )?;
    let index = Index::open(&dir, OpenOptions::default())?;
    let q = read_queries(&fx.join("siftsmall_query.fvecs"))?;
    let r = index.search_batch(&q.data, &SearchParams::new(10).nprobe(8))?;
    let s = &r.stats;
    println!(
        "{} queries: {} partitions read once each, {} bytes in {} requests, {} distances",
        s.queries, s.partitions_read, s.bytes_read, s.io_requests, s.distance_computations
    );
    println!(
        "time: route {:?} (select {:?}), io wait {:?}, compute {:?}, merge {:?}, wall {:?}",
        s.route, s.select, s.io_wait, s.compute, s.merge, s.wall
    );
    let q0 = &r.per_query[0];
    println!(
        "query 0: {} partitions, {} vectors compared, {:.0} bytes (its share of shared reads)",
        q0.partitions, q0.vectors, q0.bytes
    );
    let one = index.search(q.row(0), &SearchParams::new(10).nprobe(8))?;
    println!(
        "query 0 alone: {:.0} bytes, {:?}",
        one.stats.bytes, one.wall
    );
    let m = index.memory();
    println!(
        "RAM held open: {} bytes ({} centroids, {} table)",
        m.total_bytes, m.centroids_bytes, m.partition_table_bytes
    );
    Ok(())
}
