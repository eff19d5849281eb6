//! `quarry graph-build`: per-partition HNSW graphs for an existing index.

use crate::progress::Ui;
use anyhow::{Context, Result};
use quarry_engine::{HnswParams, Index, IoMode, OpenOptions};
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    /// Links per node (upper levels; the base level keeps 2m).
    #[arg(long, default_value_t = 16)]
    pub m: usize,
    /// Candidates kept while inserting.
    #[arg(long, default_value_t = 100, value_parser = crate::bounds::ef)]
    pub ef_construction: usize,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Read partitions through the page cache instead of direct I/O.
    #[arg(long, default_value = "direct")]
    pub io: IoMode,
    #[arg(long)]
    pub json: bool,
    /// Also build an HNSW over the centroids when the index has at least this many
    /// partitions (routing then searches the graph instead of ranking every centroid).
    #[arg(long, default_value_t = quarry_routing::CENTROID_GRAPH_THRESHOLD)]
    pub centroid_graph_threshold: usize,
    /// Build only the centroid graph (whatever the partition count), not the
    /// per-partition graphs: what routing needs at 10^5 partitions, where graphs
    /// over every vector would take hours.
    #[arg(long)]
    pub centroids_only: bool,
}

pub fn run(a: Args, ui: &Ui) -> Result<()> {
    let p = HnswParams {
        m: a.m,
        ef_construction: a.ef_construction,
        seed: a.seed,
    };
    if a.centroids_only {
        let mut index = Index::open(
            &a.index,
            OpenOptions {
                io: a.io,
                ..Default::default()
            },
        )?;
        index.lock_writer()?;
        let secs = index.build_centroid_graph(p, quarry_engine::CENTROID_EF_DEFAULT, ui)?;
        ui.done();
        println!(
            "centroid graph {} : {} centroids, m {} ef_construction {} seed {} in {secs:.1}s",
            a.index.display(),
            index.num_partitions(),
            p.m,
            p.ef_construction,
            p.seed
        );
        return Ok(());
    }
    build_with(&a.index, p, a.io, ui, a.json, a.centroid_graph_threshold)
}

/// Builds and attaches the graphs of the index at `dir` (also used by `build --graphs`).
pub fn build(dir: &Path, p: HnswParams, ui: &Ui, json: bool) -> Result<()> {
    build_with(
        dir,
        p,
        IoMode::Direct,
        ui,
        json,
        quarry_routing::CENTROID_GRAPH_THRESHOLD,
    )
}

fn build_with(
    dir: &Path,
    p: HnswParams,
    io: IoMode,
    ui: &Ui,
    json: bool,
    centroid_threshold: usize,
) -> Result<()> {
    let mut index = Index::open(
        dir,
        OpenOptions {
            io,
            ..Default::default()
        },
    )?;
    // One writer: fail now, not after the graphs are built, if another holds the index.
    index.lock_writer()?;
    let r = index
        .build_graphs(p, ui)
        .with_context(|| format!("building graphs for {}", dir.display()))?;
    ui.done();
    if index.num_partitions() >= centroid_threshold {
        let secs = index.build_centroid_graph(p, quarry_engine::CENTROID_EF_DEFAULT, ui)?;
        ui.done();
        eprintln!(
            "centroid graph over {} centroids in {secs:.1}s",
            index.num_partitions()
        );
    }
    if json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "graphs {} : {} partitions, {} vectors, m {} ef_construction {} seed {} in {:.1}s",
            dir.display(),
            r.partitions,
            r.vectors,
            p.m,
            p.ef_construction,
            p.seed,
            r.seconds
        );
        println!(
            "graph RAM {:.2} MiB = {:.1} B/vector ({:.1} edges/vector), {:.1} KiB/partition mean, {:.1} KiB max; file {:.2} MiB",
            r.memory.total_bytes as f64 / (1 << 20) as f64,
            r.memory.bytes_per_vector,
            r.memory.edges_per_vector,
            r.memory.bytes_per_partition_mean / 1024.0,
            r.memory.bytes_per_partition_max as f64 / 1024.0,
            r.file_bytes as f64 / (1 << 20) as f64
        );
    }
    Ok(())
}
