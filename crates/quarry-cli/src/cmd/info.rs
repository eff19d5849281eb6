use anyhow::Result;
use quarry_engine::{Index, IoMode, OpenOptions};
use quarry_partition::SizeStats;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
    // Info never reads partitions; buffered open works on any file system.
    let idx = Index::open(
        &a.index,
        OpenOptions {
            io: IoMode::Buffered,
            ..Default::default()
        },
    )?;
    let m = idx.manifest();
    let sizes = SizeStats::of(&idx.partition_sizes());
    let mem = idx.memory();
    let data_bytes = m.files.get("data.bin").map_or(0, |f| f.bytes);
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "dir": a.index, "format_version": m.format_version, "dim": m.dim, "dtype": m.dtype,
                "metric": m.metric, "num_vectors": m.num_vectors, "num_partitions": m.num_partitions,
                "sizes": sizes, "data_bytes": data_bytes, "memory": mem, "build": m.build, "routers": m.routers,
            })
        );
    } else {
        println!("index      {}", a.index.display());
        println!("format     v{}", m.format_version);
        println!(
            "vectors    {} x {} {} ({})",
            m.num_vectors, m.dim, m.dtype, m.metric
        );
        println!("partitions {sizes}");
        println!(
            "on disk    {:.1} MiB of partition extents",
            data_bytes as f64 / (1 << 20) as f64
        );
        println!(
            "RAM open   {:.2} MiB centroids + {:.3} MiB table + up to {:.2} MiB read buffers = {:.2} MiB",
            mem.centroids_bytes as f64 / (1 << 20) as f64,
            mem.partition_table_bytes as f64 / (1 << 20) as f64,
            mem.read_buffers_max_bytes as f64 / (1 << 20) as f64,
            mem.total_bytes as f64 / (1 << 20) as f64
        );
        println!(
            "routers    {}",
            if m.routers.is_empty() {
                "centroid ranking (nprobe, SPANN rule)".to_string()
            } else {
                m.routers.join(", ")
            }
        );
    }
    Ok(())
}
