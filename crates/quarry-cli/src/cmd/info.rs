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
    /// Also read every partition once (direct I/O, --io-threads in flight) and report MiB/s.
    #[arg(long)]
    pub read_test: bool,
    #[arg(long, default_value_t = 8, value_parser = crate::bounds::io_threads)]
    pub io_threads: usize,
}

pub fn run(a: Args) -> Result<()> {
    // Without the read test, info reads no partitions: buffered open works on any file system.
    let io = if a.read_test {
        IoMode::Direct
    } else {
        IoMode::Buffered
    };
    let idx = Index::open(
        &a.index,
        OpenOptions {
            io,
            io_threads: a.io_threads,
            ..Default::default()
        },
    )?;
    let read = if a.read_test {
        Some(idx.read_all_partitions()?)
    } else {
        None
    };
    let read_mib_s = read.map(|(b, s)| b as f64 / (1 << 20) as f64 / s);
    let m = idx.manifest();
    let sizes = SizeStats::of(&idx.partition_sizes());
    let mem = idx.memory();
    let data_bytes = m.files.get("data.bin").map_or(0, |f| f.bytes);
    let snap = idx.snapshot();
    let filters = snap.metadata().map(|meta| {
        serde_json::json!({
            "labels": meta.labels().count(),
            "label_assignments": meta.labels().map(|l| l.1).sum::<u64>(),
            "attributes": meta.attribute_names(),
            "memory_bytes": mem.filters_bytes,
        })
    });
    // Learned routers trained before splits added partitions (see the policy in
    // the README): (router, partitions trained for).
    let stale = idx.stale_routers()?;
    if a.json {
        println!(
            "{}",
            serde_json::json!({
                "stale_routers": stale.iter().map(|(r, p)| serde_json::json!({"router": r, "trained_for_partitions": p})).collect::<Vec<_>>(),
                "dir": a.index, "format_version": m.format_version, "generation": m.generation, "applied_seq": m.applied_seq, "dim": m.dim, "dtype": m.dtype,
                "metric": m.metric, "num_vectors": idx.len(), "stored_vectors": idx.stored_vectors(), "num_partitions": m.num_partitions,
                "sizes": sizes, "data_bytes": data_bytes, "memory": mem, "build": m.build, "routers": m.routers,
                "direct_read_mib_per_s": read_mib_s, "graphs": idx.graph_memory(), "filters": filters,
                "writes": idx.live_stats(),
                "kernels": quarry_kernels::isa::active().name(),
                "kernels_supported": quarry_kernels::Isa::available().iter().map(|i| i.name()).collect::<Vec<_>>(),
            })
        );
    } else {
        println!("index      {}", a.index.display());
        println!("format     v{}", m.format_version);
        println!(
            "vectors    {} x {} {} ({})",
            idx.len(),
            m.dim,
            m.dtype,
            m.metric
        );
        if idx.stored_vectors() != idx.files_len() {
            println!(
                "copies     {} stored vectors ({:.1}% storage overhead)",
                idx.stored_vectors(),
                100.0 * (idx.stored_vectors() as f64 / idx.files_len().max(1) as f64 - 1.0)
            );
        }
        println!("partitions {sizes}");
        println!(
            "on disk    {:.1} MiB of partition extents",
            data_bytes as f64 / (1 << 20) as f64
        );
        println!(
            "RAM open   {:.2} MiB centroids + {:.3} MiB table + {:.2} MiB graphs + {:.2} MiB filters + up to {:.2} MiB read buffers = {:.2} MiB",
            mem.centroids_bytes as f64 / (1 << 20) as f64,
            mem.partition_table_bytes as f64 / (1 << 20) as f64,
            mem.graphs_bytes as f64 / (1 << 20) as f64,
            mem.filters_bytes as f64 / (1 << 20) as f64,
            mem.read_buffers_max_bytes as f64 / (1 << 20) as f64,
            mem.total_bytes as f64 / (1 << 20) as f64
        );
        match idx.graph_memory() {
            Some(g) => println!(
                "graphs     HNSW m {} ef_construction {} seed {}: {:.2} MiB RAM = {:.1} B/vector ({:.1} edges/vector), {:.1} KiB/partition mean, {:.1} KiB max; page checksums {:.2} MiB",
                g.m,
                g.ef_construction,
                g.seed,
                g.total_bytes as f64 / (1 << 20) as f64,
                g.bytes_per_vector,
                g.edges_per_vector,
                g.bytes_per_partition_mean / 1024.0,
                g.bytes_per_partition_max as f64 / 1024.0,
                g.page_crc_bytes as f64 / (1 << 20) as f64
            ),
            None => println!("graphs     none (build with `quarry graph-build --index {}`)", a.index.display()),
        }
        if let (Some((b, secs)), Some(r)) = (read, read_mib_s) {
            println!(
                "read test  {:.1} MiB in {:.3}s = {r:.0} MiB/s (direct I/O, {} reads in flight)",
                b as f64 / (1 << 20) as f64,
                secs,
                a.io_threads
            );
        }
        if let Some(l) = idx.live_stats() {
            println!(
                "writes     {} live: {} deleted since the files, {} in the in-memory delta ({:.2} MiB); log {:.2} MiB",
                l.live,
                l.deleted,
                l.delta,
                l.delta_bytes as f64 / (1 << 20) as f64,
                l.log_bytes as f64 / (1 << 20) as f64
            );
        }
        match &filters {
            Some(f) => println!(
                "filters    {} labels ({} assignments), attributes {}: {:.2} MiB RAM",
                f["labels"],
                f["label_assignments"],
                f["attributes"],
                mem.filters_bytes as f64 / (1 << 20) as f64
            ),
            None => println!("filters    none (build with --labels / --attr)"),
        }
        println!(
            "routers    {}",
            if m.routers.is_empty() {
                "centroid ranking (nprobe, SPANN rule)".to_string()
            } else {
                m.routers.join(", ")
            }
        );
        for (r, p) in &stale {
            println!(
                "           {r}: stale, trained for {p} partitions (the index has {}); {}",
                m.num_partitions,
                if *r == "mlp" {
                    "--router mlp ranks by centroid order until it is trained again"
                } else {
                    "its counts were learned on larger partitions; train it again"
                }
            );
        }
        println!(
            "{}",
            crate::kernels_line().replacen("kernels: ", "kernels    ", 1)
        );
    }
    Ok(())
}
