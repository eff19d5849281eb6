//! `quarry upsert` and `quarry delete`: writes to an existing index, in batches,
//! each durable in the index's write-ahead log before the next starts.

use crate::progress::Ui;
use anyhow::{bail, Context, Result};
use quarry_engine::{Index, OpenOptions, Progress, SyncMode, WriteOptions};
use quarry_formats::{open_vectors, read_ids};
use std::path::PathBuf;
use std::time::Instant;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Sync {
    /// fdatasync before a batch is acknowledged: survives a power loss.
    Always,
    /// Written to the OS before it is acknowledged: survives a crash of the process.
    Os,
}

#[derive(clap::Args)]
pub struct WriterArgs {
    #[arg(long)]
    pub index: PathBuf,
    /// Ids per write (one log record, one commit each).
    #[arg(long, default_value_t = 1000, value_parser = crate::bounds::batch_size)]
    pub batch: usize,
    #[arg(long, value_enum, default_value = "always")]
    pub sync: Sync,
    /// Memory the in-memory delta may hold, in MiB.
    #[arg(long, default_value_t = 1024)]
    pub delta_budget_mb: u64,
    #[arg(long)]
    pub json: bool,
    /// Print `ack SEQ FIRST COUNT` on stdout as each batch is acknowledged (durable):
    /// for tools and crash tests.
    #[arg(long)]
    pub acks: bool,
    /// Flush after the last batch (and after every N batches with --flush-every).
    #[arg(long)]
    pub flush: bool,
    /// Flush every N batches (the delta then stays small).
    #[arg(long)]
    pub flush_every: Option<u64>,
    /// A flush splits partitions holding more vectors than this (default: the
    /// build's partition size bound).
    #[arg(long)]
    pub split_above: Option<u64>,
    /// After a split, reassign the vectors of the N partitions nearest to the two
    /// new centroids (SPFresh's LIRE); 0: split only.
    #[arg(long, default_value_t = quarry_engine::updates::REASSIGN_NEIGHBOURS, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1024))]
    pub reassign_neighbours: usize,
    /// A flush merges away a partition it rewrites holding fewer vectors than this
    /// (default: a quarter of the split bound; 0: never).
    #[arg(long)]
    pub merge_below: Option<u64>,
}

impl WriterArgs {
    fn ack(&self, seq: u64, first: usize, count: usize) {
        if self.acks {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ack {seq} {first} {count}");
            let _ = out.flush();
        }
    }

    fn open(&self) -> Result<Index> {
        let w = WriteOptions {
            sync: match self.sync {
                Sync::Always => SyncMode::Always,
                Sync::Os => SyncMode::Os,
            },
            delta_budget_bytes: self.delta_budget_mb.saturating_mul(1 << 20),
            split_above: self.split_above,
            reassign_neighbours: self.reassign_neighbours,
            merge_below: self.merge_below,
        };
        Index::open_writer(&self.index, OpenOptions::default(), w)
            .with_context(|| format!("opening {} for writing", self.index.display()))
    }
}

#[derive(clap::Args)]
pub struct UpsertArgs {
    #[command(flatten)]
    pub w: WriterArgs,
    /// Vectors to insert or replace (any vector format; converted to the index's dtype).
    #[arg(long)]
    pub vectors: PathBuf,
    /// Their ids, one per row (.ivecs/.ibin, or .npy int64/uint64); without it, new
    /// ids continue after the largest id the index holds.
    #[arg(long)]
    pub ids: Option<PathBuf>,
    /// Labels and attribute values of the vectors, one row per vector (as `build`
    /// takes them); an index with attributes needs every one of them.
    #[command(flatten)]
    pub meta: super::meta::MetaArgs,
}

#[derive(clap::Args)]
pub struct FlushArgs {
    #[command(flatten)]
    pub w: WriterArgs,
    /// Also rewrite the partitions of data segments less than half in use, and
    /// remove those segments (reclaims the space of replaced extents).
    #[arg(long)]
    pub compact: bool,
}

#[derive(clap::Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub w: WriterArgs,
    /// Ids to delete (.ivecs/.ibin, or .npy int64/uint64).
    #[arg(long)]
    pub ids: PathBuf,
}

pub fn flush(a: FlushArgs) -> Result<()> {
    let index = a.w.open()?;
    let r = if a.compact {
        index.compact()?
    } else {
        index.flush()?
    };
    if a.w.json {
        println!(
            "{}",
            serde_json::json!({"flush": r, "live": index.live_stats()})
        );
    } else {
        eprintln!(
            "flushed {} partitions ({} split, {} vectors reassigned, {} merged away), ({} vectors, {} removed, {:.1} MiB written, {:.1} MiB reclaimed) in {:.2}s; files hold the log up to record {}",
            r.partitions,
            r.splits,
            r.reassigned,
            r.merges,
            r.vectors,
            r.removed,
            r.bytes_written as f64 / (1 << 20) as f64,
            r.reclaimed_bytes as f64 / (1 << 20) as f64,
            r.secs,
            r.applied_seq
        );
    }
    Ok(())
}

/// After batch number `batches`: flush when --flush-every says so.
fn maybe_flush(index: &mut Index, w: &WriterArgs, batches: u64) -> Result<()> {
    if w.flush_every
        .is_some_and(|n| n > 0 && batches.is_multiple_of(n))
    {
        index.flush().context("flushing")?;
    }
    Ok(())
}

pub fn upsert(a: UpsertArgs, ui: &Ui) -> Result<()> {
    let src = open_vectors(&a.vectors)?;
    let mut index = a.w.open()?;
    if src.dim() != index.dim() {
        bail!(
            "{} has {} dimensions, the index {}",
            a.vectors.display(),
            src.dim(),
            index.dim()
        );
    }
    let n = src.len();
    let ids: Vec<u64> = match &a.ids {
        Some(p) => {
            let ids = read_ids(p)?;
            if ids.len() != n {
                bail!("{} holds {} ids for {n} vectors", p.display(), ids.len());
            }
            ids
        }
        None => {
            let first = index.max_id()?.map_or(0, |m| m + 1);
            (first..first + n as u64).collect()
        }
    };
    let rows = a.meta.load_rows(n as u64)?;
    let t = Instant::now();
    let (mut replaced, mut batches) = (0u64, 0u64);
    ui.stage("upsert", n as u64);
    for s in (0..n).step_by(a.w.batch) {
        let cnt = a.w.batch.min(n - s);
        let v = src.read_range(s, cnt)?.to_f32();
        let m = rows.as_ref().map_or(Vec::new(), |r| r.rows(s, cnt));
        let r = index
            .upsert_with(&ids[s..s + cnt], &v, &m)
            .with_context(|| format!("upserting rows {s}..{}", s + cnt))?;
        a.w.ack(r.seq, s, cnt);
        replaced += r.existed;
        batches += 1;
        maybe_flush(&mut index, &a.w, batches)?;
        ui.advance(cnt as u64);
    }
    if a.w.flush {
        index.flush().context("flushing")?;
    }
    ui.done();
    report(
        &index,
        &a.w,
        "upserted",
        n as u64,
        replaced,
        batches,
        t.elapsed().as_secs_f64(),
    )
}

pub fn delete(a: DeleteArgs, ui: &Ui) -> Result<()> {
    let ids = read_ids(&a.ids)?;
    let mut index = a.w.open()?;
    let t = Instant::now();
    let (mut found, mut batches) = (0u64, 0u64);
    ui.stage("delete", ids.len() as u64);
    for (i, chunk) in ids.chunks(a.w.batch).enumerate() {
        let r = index.delete(chunk)?;
        a.w.ack(r.seq, i * a.w.batch, chunk.len());
        found += r.existed;
        batches += 1;
        maybe_flush(&mut index, &a.w, batches)?;
        ui.advance(chunk.len() as u64);
    }
    if a.w.flush {
        index.flush().context("flushing")?;
    }
    ui.done();
    report(
        &index,
        &a.w,
        "deleted",
        ids.len() as u64,
        found,
        batches,
        t.elapsed().as_secs_f64(),
    )
}

fn report(
    index: &Index,
    w: &WriterArgs,
    what: &str,
    n: u64,
    existed: u64,
    batches: u64,
    secs: f64,
) -> Result<()> {
    let live = index.live_stats();
    if w.json {
        println!(
            "{}",
            serde_json::json!({
                "op": what, "ids": n, "existed": existed, "batches": batches, "secs": secs,
                "ids_per_s": n as f64 / secs.max(1e-9), "live": live,
            })
        );
    } else {
        eprintln!(
            "{what} {n} ids ({existed} existed) in {batches} batches, {secs:.2}s = {:.0} ids/s; {}",
            n as f64 / secs.max(1e-9),
            live.map_or(String::new(), |l| format!(
                "index: {} live, {} deleted, {} in the delta, log {:.1} MiB",
                l.live,
                l.deleted,
                l.delta,
                l.log_bytes as f64 / (1 << 20) as f64
            ))
        );
    }
    Ok(())
}
