//! Build an index from vectors already in memory (no file), then search one query.
//!
//! cargo run --release -p quarry-learn --example build_from_memory

use quarry_engine::{
    build_index_from, BuildConfig, Index, MemorySource, Metric, NoProgress, OpenOptions,
    SearchParams,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (n, dim) = (20_000, 32);
    let data: Vec<f32> = (0..n * dim)
        .map(|j| ((j as u64 * 2654435761) % 10_007) as f32 / 10_007.0)
        .collect();
    let base = MemorySource::f32(&data, dim)?;
    let dir = std::path::Path::new("example-memory.quarry");
    build_index_from(
        &base,
        dir,
        &BuildConfig::new(64, Metric::Cosine),
        &NoProgress,
    )?;
    let index = Index::open(dir, OpenOptions::default())?;
    let found = index.search(&data[..dim], &SearchParams::new(5).nprobe(8))?;
    println!("nearest to vector 0: {:?}", found.neighbors);
    Ok(())
}
