//! Online writes: `upsert` and `delete` by the user's u64 ids on an open index.
//!
//! A write is validated, placed (each new vector goes to its nearest kept
//! centroid, `Index::assign`'s rule), appended to the write-ahead log and
//! committed (one `fdatasync` per batch with `SyncMode::Always`) before it is
//! applied in memory and acknowledged; the next search sees it. New vectors live
//! in a per-partition delta, searched with the partition's extent by the same
//! scan; a stored vector superseded by an upsert or deleted becomes a tombstone
//! (a roaring bitmap), skipped inside the scan before any distance. One writer
//! per index (the writer lock); any process opening the index replays the log's
//! acknowledged records, so readers see every acknowledged write too.
//!
//! `Index::flush` moves the delta and the tombstones into new extents (see
//! `flush`), splitting partitions past the size bound. Upserts may carry labels
//! and attribute values (`upsert_with`); they live beside the delta rows and are
//! folded into `filters.bin` at flush. Indexes with stored copies (replication,
//! learned duplication) refuse writes with a message saying so.

mod flush;
pub(crate) mod live;
pub(crate) mod record;
mod split;

use crate::{EngineError, Index, OpenOptions};
pub use flush::FlushReport;
use live::{LiveState, StoredIds};
use quarry_filter::RowMeta;
use quarry_kernels::DType;
use quarry_storage::wal::{SyncMode, Wal};
use record::Write;
use std::path::Path;

/// How a writer commits and how much memory its delta may take.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub sync: SyncMode,
    /// Memory the writes may hold (delta chunks as allocated, the id map, the
    /// tombstones, the stored-id map); a write beyond it is refused
    /// (`EngineError::DeltaFull`).
    pub delta_budget_bytes: u64,
    /// A flush splits a partition holding more vectors than this in two
    /// (balanced 2-means); `None`: the build's partition size bound, when it
    /// recorded one.
    pub split_above: Option<u64>,
    /// After a split, the partitions nearest to the two new centroids whose
    /// vectors are reassigned (see `split`); 0 turns the reassignment off.
    pub reassign_neighbours: usize,
    /// A flush merges away a partition it rewrites that holds fewer vectors than
    /// this; `None`: a quarter of the build's partition size bound (no merges
    /// when the build recorded none). `Some(0)` turns merges off.
    pub merge_below: Option<u64>,
}

impl WriteOptions {
    /// The merge bound in effect (see `merge_below`).
    pub fn merge_below(&self) -> Option<u64> {
        self.merge_below.filter(|&b| b > 0)
    }
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            sync: SyncMode::Always,
            delta_budget_bytes: 1 << 30,
            split_above: None,
            reassign_neighbours: REASSIGN_NEIGHBOURS,
            merge_below: None,
        }
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct WriteReceipt {
    /// The log sequence number of the write (durable when returned).
    pub seq: u64,
    /// Ids in the batch.
    pub ids: u64,
    /// Of them, ids that were live before (replaced, or deleted).
    pub existed: u64,
}

/// Counts of a live index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    pub live: u64,
    /// Stored vectors superseded or deleted since the files were written.
    pub deleted: u64,
    /// Live vectors in the in-memory delta.
    pub delta: u64,
    pub delta_bytes: u64,
    /// Bytes of the write-ahead log.
    pub log_bytes: u64,
}

/// Partitions around a split whose vectors are reassigned, by default.
/// 32: GloVe growth recall gap 0.0098 at nprobe 32 (16: 0.0122, 8: 0.016, 0: 0.031).
pub const REASSIGN_NEIGHBOURS: usize = 32;

/// Most ids in one write (bounds one log record and its memory).
pub const MAX_WRITE_BATCH: usize = 1 << 20;

impl Index {
    /// Opens the index at `dir` as its one writer: takes the writer lock, opens
    /// the write-ahead log (cutting a torn tail) and replays it.
    pub fn open_writer(
        dir: &Path,
        opts: OpenOptions,
        w: WriteOptions,
    ) -> Result<Index, EngineError> {
        let mut index = Index::open(dir, opts)?;
        index.check_writable()?;
        index.lock_writer()?;
        if index.snapshot().members.is_none() {
            // An index built before members.bin: read them once from the extents.
            let members = std::sync::Arc::new(index.scan_members()?);
            index.files_mut().members = Some(members);
        }
        let applied_seq = index.snapshot().manifest.applied_seq;
        let (wal, replay) = Wal::open(dir, applied_seq, w.sync)?;
        let mut w = w;
        let capacity = index
            .build_info()
            .ok()
            .map(|b| b.capacity)
            .filter(|&c| c > 0);
        if w.split_above.is_none() {
            w.split_above = capacity;
        }
        if w.merge_below.is_none() {
            w.merge_below = capacity.map(|c| c / 4);
        }
        let mut live = index.new_live(wal.next_seq())?;
        live.next_seq = applied_seq;
        for r in &replay.records {
            index.apply_record(&mut live, r)?;
        }
        live.next_seq = wal.next_seq();
        index.state_mut().live = Some(live);
        index.wal = std::sync::Mutex::new(Some((wal, w)));
        Ok(index)
    }

    /// Replays the log's acknowledged records read-only (any process opening the
    /// index), when there are any past the files' state.
    pub(crate) fn replay_for_reader(&self) -> Result<(), EngineError> {
        let replay = Wal::read(&self.dir)?;
        let applied = self.snapshot().manifest.applied_seq;
        if !replay.records.iter().any(|r| r.seq >= applied) {
            return Ok(());
        }
        let mut live = self.new_live(applied)?;
        for r in &replay.records {
            self.apply_record(&mut live, r)?;
        }
        self.state_mut().live = Some(live);
        Ok(())
    }

    fn new_live(&self, next_seq: u64) -> Result<LiveState, EngineError> {
        let snap = self.snapshot();
        let stored = match &snap.members {
            Some(m) => StoredIds::from_members(m),
            None => StoredIds::from_members(&self.scan_members()?),
        };
        let row = self.dim() * self.dtype().size();
        let schema = snap
            .filters
            .as_ref()
            .map_or_else(quarry_filter::Metadata::default, |f| f.meta.schema());
        Ok(LiveState::new(
            stored,
            snap.num_partitions(),
            row,
            next_seq,
            schema,
        ))
    }

    fn apply_record(
        &self,
        live: &mut LiveState,
        r: &quarry_storage::wal::Record,
    ) -> Result<(), EngineError> {
        if r.seq < self.snapshot().manifest.applied_seq {
            return Ok(()); // already in the files (a crash before the log was cut)
        }
        let w = record::decode(
            r.kind,
            &r.payload,
            self.dim(),
            self.dtype(),
            self.num_partitions(),
        )
        .map_err(|what| quarry_storage::StorageError::Corrupt {
            file: self.dir.join(quarry_storage::wal::WAL_FILE),
            what: format!("record {}: {what}", r.seq),
        })?;
        live.apply(&w)
            .map_err(|what| quarry_storage::StorageError::Corrupt {
                file: self.dir.join(quarry_storage::wal::WAL_FILE),
                what: format!("record {}: {what}", r.seq),
            })?;
        live.next_seq = r.seq + 1;
        Ok(())
    }

    /// Each partition's ids, read from the extents (indexes built before
    /// `members.bin` was written).
    fn scan_members(&self) -> Result<Vec<roaring::RoaringTreemap>, EngineError> {
        let mut buf = quarry_storage::AlignedBuf::new();
        let snap = self.snapshot();
        let mut out = Vec::with_capacity(snap.num_partitions());
        for pid in 0..snap.num_partitions() as u32 {
            snap.store.read_into(pid, &mut buf)?;
            let e = &snap.table[pid as usize];
            let v = quarry_storage::PartitionView::parse(
                buf.as_slice(),
                e.count as usize,
                self.dim(),
                self.dtype(),
            )?;
            out.push(v.ids().collect());
        }
        Ok(out)
    }

    fn check_writable(&self) -> Result<(), EngineError> {
        let why = if self.stored_vectors()
            != self
                .snapshot()
                .manifest
                .distinct_vectors
                .unwrap_or(self.stored_vectors())
        {
            Some("it stores copies of vectors (replication or learned duplication)")
        } else {
            None
        };
        match why {
            Some(why) => Err(EngineError::NotWritable {
                dir: self.dir.clone(),
                why,
            }),
            None => Ok(()),
        }
    }

    /// Inserts or replaces vectors (`vectors` row-major, `ids.len()` rows): durable
    /// in the log when this returns, and visible to the next search. An id that
    /// exists is replaced (a search never returns two versions of one id).
    pub fn upsert(&self, ids: &[u64], vectors: &[f32]) -> Result<WriteReceipt, EngineError> {
        self.upsert_with(ids, vectors, &[])
    }

    /// `upsert` with labels and attribute values, one [`RowMeta`] per id (empty:
    /// none; an index with attributes needs them). The new version of an id
    /// carries only what this write gives it.
    pub fn upsert_with(
        &self,
        ids: &[u64],
        vectors: &[f32],
        meta: &[RowMeta],
    ) -> Result<WriteReceipt, EngineError> {
        let dim = self.dim();
        check_batch(ids)?;
        self.check_meta(ids, meta)?;
        if vectors.len() != ids.len() * dim {
            return Err(EngineError::BadWrite(format!(
                "{} values for {} ids of {dim} dimensions; give one row per id",
                vectors.len(),
                ids.len()
            )));
        }
        if let Some(p) = vectors.iter().position(|v| !v.is_finite()) {
            return Err(EngineError::BadWrite(format!(
                "row {} has a non-finite value at component {}",
                p / dim,
                p % dim
            )));
        }
        let data = to_stored(vectors, dim, self.dtype())?;
        // Placed before the log is taken (the GEMM overlaps another write's
        // commit); placed again if a flush renumbered partitions meanwhile.
        let place = |snap: &crate::Snapshot| -> Result<Vec<u32>, EngineError> {
            Ok(snap
                .centroids
                .rank(vectors, 1)?
                .per_query
                .iter()
                .map(|r| r[0].0)
                .collect())
        };
        let placed_on = self.snapshot();
        let early = place(&placed_on)?;
        // Rows' metadata costs about 8 bytes per label and attribute value.
        let meta_bytes: usize = meta
            .iter()
            .map(|m| 8 * (m.labels.len() + m.attrs.len()))
            .sum();
        self.write(
            (ids.len() * (dim * self.dtype().size() + 40) + meta_bytes) as u64,
            |snap| {
                let parts = if std::sync::Arc::ptr_eq(snap, &placed_on) {
                    early
                } else {
                    place(snap)?
                };
                let mut payload = record::encode_upsert(ids, &parts, dim, self.dtype(), &data);
                let kind = if meta.is_empty() {
                    record::UPSERT
                } else {
                    record::encode_meta(&mut payload, meta);
                    record::UPSERT_META
                };
                let w = Write::Upsert {
                    ids: ids.to_vec(),
                    parts,
                    data,
                    meta: (!meta.is_empty()).then(|| meta.to_vec()),
                };
                Ok((kind, payload, w))
            },
        )
        .map(|(seq, existed)| WriteReceipt {
            seq,
            ids: ids.len() as u64,
            existed,
        })
    }

    /// Checks written rows' labels and attributes against the index's attributes.
    fn check_meta(&self, ids: &[u64], meta: &[RowMeta]) -> Result<(), EngineError> {
        let state = self.state();
        let Some(live) = state.live.as_ref() else {
            return Err(EngineError::NotWriter {
                dir: self.dir.clone(),
            });
        };
        let schema = &live.meta.added;
        if meta.is_empty() {
            let names = schema.attribute_names();
            if !names.is_empty() {
                return Err(EngineError::BadWrite(format!(
                    "this index has attributes {}: give each upserted vector its values",
                    names.join(", ")
                )));
            }
            return Ok(());
        }
        if meta.len() != ids.len() {
            return Err(EngineError::BadWrite(format!(
                "{} label/attribute rows for {} ids; give one per id",
                meta.len(),
                ids.len()
            )));
        }
        for (m, &id) in meta.iter().zip(ids) {
            schema
                .check_row(id, &m.attr_refs())
                .map_err(|e| EngineError::BadWrite(e.to_string()))?;
        }
        Ok(())
    }

    /// Deletes ids (absent ones are ignored and not counted; an id given twice
    /// is deleted once, so a search's answers can be passed as they are).
    pub fn delete(&self, ids: &[u64]) -> Result<WriteReceipt, EngineError> {
        let mut distinct = ids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let ids = &distinct[..];
        check_batch(ids)?;
        self.write(0, |_| {
            Ok((
                record::DELETE,
                record::encode_delete(ids),
                Write::Delete { ids: ids.to_vec() },
            ))
        })
        .map(|(seq, existed)| WriteReceipt {
            seq,
            ids: ids.len() as u64,
            existed,
        })
    }

    /// Logs, commits, then applies one write, in log order. `record` makes the
    /// log record (kind, payload) and the write from the snapshot the write
    /// applies to; it runs holding the log, so no flush changes that snapshot
    /// until the write is applied.
    fn write(
        &self,
        new_bytes: u64,
        record: impl FnOnce(
            &std::sync::Arc<crate::Snapshot>,
        ) -> Result<(u8, Vec<u8>, Write), EngineError>,
    ) -> Result<(u64, u64), EngineError> {
        let mut guard = self.wal.lock().unwrap_or_else(|e| e.into_inner());
        let Some((wal, opts)) = guard.as_mut() else {
            return Err(EngineError::NotWriter {
                dir: self.dir.clone(),
            });
        };
        let snap = {
            let state = self.state();
            // Everything the writes hold in memory counts, not only vector bytes.
            let used = state.live.as_ref().map_or(0, |l| l.memory_bytes());
            if used + new_bytes > opts.delta_budget_bytes {
                return Err(EngineError::DeltaFull {
                    used,
                    budget: opts.delta_budget_bytes,
                });
            }
            state.files.clone()
        };
        let (kind, payload, w) = record(&snap)?;
        let seq = wal.append(kind, &payload)?;
        wal.commit()?;
        let mut state = self.state_mut();
        let live = state.live.as_mut().expect("a writer has live state");
        // Checked before logging, so this cannot fail for a write this writer took.
        let existed = live.apply(&w).map_err(EngineError::BadWrite)?;
        live.next_seq = seq + 1;
        Ok((seq, existed))
    }

    /// Live, deleted and delta counts and the log's size (`None`: no write since
    /// the files were written and no log).
    pub fn live_stats(&self) -> Option<LiveStats> {
        let state = self.state();
        let l = state.live.as_ref()?;
        let log_bytes =
            std::fs::metadata(self.dir.join(quarry_storage::wal::WAL_FILE)).map_or(0, |m| m.len());
        Some(LiveStats {
            live: l.live_count(),
            deleted: l.dead.len(),
            delta: l.delta_live(),
            delta_bytes: l.delta_bytes,
            log_bytes,
        })
    }

    /// Whether `id` is live: stored and not superseded or deleted, or in the delta
    /// (a reader of an index without `members.bin` and without writes answers false).
    pub fn contains(&self, id: u64) -> bool {
        let state = self.state();
        if let Some(l) = state.live.as_ref() {
            return l.loc.contains_key(&id)
                || (l.stored.partition_of(id).is_some() && !l.dead.contains(id));
        }
        match &state.files.members {
            Some(m) => m.iter().any(|b| b.contains(id)),
            None => false,
        }
    }

    /// The index's vectors in id order, as the row-major bytes of its stored
    /// dtype: the base a router is trained on after writes (row i must be id i,
    /// so the ids must be exactly 0..n; unflushed writes must be flushed first).
    pub fn export_vectors(&self) -> Result<Vec<u8>, EngineError> {
        let snap = {
            let state = self.state();
            if state.live.as_ref().is_some_and(|l| !l.is_clean()) {
                return Err(EngineError::BadWrite(
                    "the index has unflushed writes: flush first".into(),
                ));
            }
            state.files.clone()
        };
        let n = snap.manifest.num_vectors;
        let row = self.dim() * self.dtype().size();
        let mut out = vec![0u8; (n as usize).saturating_mul(row)];
        let mut seen = roaring::RoaringTreemap::new();
        let mut buf = quarry_storage::AlignedBuf::new();
        for pid in 0..snap.num_partitions() as u32 {
            let e = snap.table[pid as usize];
            if e.count == 0 {
                continue;
            }
            snap.store.read_into(pid, &mut buf)?;
            let v = quarry_storage::PartitionView::parse(
                buf.as_slice(),
                e.count as usize,
                self.dim(),
                self.dtype(),
            )?;
            let bytes = v.vector_bytes();
            for (i, id) in v.ids().enumerate() {
                if id >= n || !seen.insert(id) {
                    return Err(EngineError::BadWrite(format!(
                        "id {id}: exporting needs ids exactly 0..{n} (one row per id)"
                    )));
                }
                out[id as usize * row..(id as usize + 1) * row]
                    .copy_from_slice(&bytes[i * row..(i + 1) * row]);
            }
        }
        Ok(out)
    }

    /// The largest id the index holds or held (new ids without `--ids` continue
    /// after it, as a build numbers its input rows).
    pub fn max_id(&self) -> Result<Option<u64>, EngineError> {
        if let Some(l) = self.state().live.as_ref() {
            return Ok(l.max_id());
        }
        Ok(match &self.snapshot().members {
            Some(m) => m.iter().filter_map(|b| b.max()).max(),
            None => self.scan_members()?.iter().filter_map(|b| b.max()).max(),
        })
    }
}

fn check_batch(ids: &[u64]) -> Result<(), EngineError> {
    if ids.is_empty() {
        return Err(EngineError::BadWrite(
            "empty batch: give at least one id".into(),
        ));
    }
    if ids.len() > MAX_WRITE_BATCH {
        return Err(EngineError::BadWrite(format!(
            "{} ids in one write; at most {MAX_WRITE_BATCH}",
            ids.len()
        )));
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    if let Some(d) = ids.iter().find(|&&i| !seen.insert(i)) {
        return Err(EngineError::BadWrite(format!(
            "id {d} appears twice in one batch"
        )));
    }
    Ok(())
}

/// `vectors` in the index's stored dtype; a value a u8/i8 index cannot hold
/// exactly is an error (nothing is rounded silently).
fn to_stored(vectors: &[f32], dim: usize, dtype: DType) -> Result<Vec<u8>, EngineError> {
    let bad = |p: usize, v: f32, what: &str| {
        EngineError::BadWrite(format!(
            "row {} component {}: {v} is not {what}; this index stores {dtype}",
            p / dim,
            p % dim
        ))
    };
    Ok(match dtype {
        DType::F32 => bytemuck::cast_slice(vectors).to_vec(),
        DType::U8 => vectors
            .iter()
            .enumerate()
            .map(|(p, &v)| {
                if v.fract() == 0.0 && (0.0..=255.0).contains(&v) {
                    Ok(v as u8)
                } else {
                    Err(bad(p, v, "an integer in 0..=255"))
                }
            })
            .collect::<Result<_, _>>()?,
        DType::I8 => vectors
            .iter()
            .enumerate()
            .map(|(p, &v)| {
                if v.fract() == 0.0 && (-128.0..=127.0).contains(&v) {
                    Ok(v as i8 as u8)
                } else {
                    Err(bad(p, v, "an integer in -128..=127"))
                }
            })
            .collect::<Result<_, _>>()?,
    })
}
