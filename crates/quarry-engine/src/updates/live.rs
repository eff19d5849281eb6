//! What acknowledged writes changed since the files were written, in memory:
//! new vectors per partition (the delta) and the stored ids they superseded or
//! deleted (tombstones). Searches read it under a read lock; the writer changes
//! it under the write lock after the log has made the change durable.

use super::record::Write;
use roaring::RoaringTreemap;
use std::collections::HashMap;

/// Rows per delta chunk: the unit a write copies when a search still shares it.
/// A partition's first chunk is small, so a delta spread thinly over many
/// partitions does not reserve a full chunk in each.
const CHUNK_ROWS: usize = 256;
const FIRST_CHUNK_ROWS: usize = 16;

/// (chunk, row in chunk) of delta row `r`.
fn chunk_of(r: usize) -> (usize, usize) {
    if r < FIRST_CHUNK_ROWS {
        (0, r)
    } else {
        let r = r - FIRST_CHUNK_ROWS;
        (1 + r / CHUNK_ROWS, r % CHUNK_ROWS)
    }
}

/// Up to `CHUNK_ROWS` delta rows. Allocated whole (and cloned whole), so
/// appending never reallocates: growing many buffers step by step fragmented
/// the heap (resident memory grew several times the delta).
#[derive(Debug, Default)]
pub struct Chunk {
    pub ids: Vec<u64>,
    /// Row-major vectors in the index's stored dtype.
    pub data: Vec<u8>,
    pub alive: Vec<bool>,
}

impl Chunk {
    fn with_rows(rows: usize, row_bytes: usize) -> Chunk {
        Chunk {
            ids: Vec::with_capacity(rows),
            data: Vec::with_capacity(rows * row_bytes),
            alive: Vec::with_capacity(rows),
        }
    }

    /// Bytes allocated.
    fn capacity_bytes(&self) -> usize {
        self.ids.capacity() * 8 + self.data.capacity() + self.alive.capacity()
    }
}

impl Clone for Chunk {
    fn clone(&self) -> Chunk {
        let mut c = Chunk {
            ids: Vec::with_capacity(self.ids.capacity()),
            data: Vec::with_capacity(self.data.capacity()),
            alive: Vec::with_capacity(self.alive.capacity()),
        };
        c.ids.extend_from_slice(&self.ids);
        c.data.extend_from_slice(&self.data);
        c.alive.extend_from_slice(&self.alive);
        c
    }
}

/// New vectors of one partition: rows appended in write order, in shared chunks
/// (a search's snapshot is a clone of the chunk pointers; a write copies only a
/// chunk a snapshot still shares). A row replaced by a later upsert or deleted is
/// marked dead, not moved.
#[derive(Debug, Clone, Default)]
pub struct DeltaPart {
    pub chunks: Vec<std::sync::Arc<Chunk>>,
    /// Rows ever appended (dead ones included).
    pub rows: usize,
    pub live: usize,
}

impl DeltaPart {
    fn push(&mut self, id: u64, row: &[u8]) -> u32 {
        if chunk_of(self.rows).1 == 0 {
            let rows = if self.rows == 0 {
                FIRST_CHUNK_ROWS
            } else {
                CHUNK_ROWS
            };
            self.chunks
                .push(std::sync::Arc::new(Chunk::with_rows(rows, row.len())));
        }
        let c = std::sync::Arc::make_mut(self.chunks.last_mut().expect("a chunk"));
        c.ids.push(id);
        c.data.extend_from_slice(row);
        c.alive.push(true);
        self.rows += 1;
        self.live += 1;
        (self.rows - 1) as u32
    }

    fn kill(&mut self, row: u32) {
        let (c, r) = chunk_of(row as usize);
        std::sync::Arc::make_mut(&mut self.chunks[c]).alive[r] = false;
        self.live -= 1;
    }

    /// The live rows: (id, vector bytes of `row_bytes`).
    pub fn live_rows(&self, row_bytes: usize) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.chunks.iter().flat_map(move |c| {
            c.ids
                .iter()
                .enumerate()
                .filter(|&(i, _)| c.alive[i])
                .map(move |(i, &id)| (id, &c.data[i * row_bytes..(i + 1) * row_bytes]))
        })
    }
}

/// Where each stored (on-disk) id lives: the partition of each id, densely for
/// ids below the stored count (as a build numbers them), in a map otherwise.
#[derive(Debug, Clone, Default)]
pub struct StoredIds {
    dense: Vec<u32>,
    sparse: HashMap<u64, u32>,
    count: u64,
}

const ABSENT: u32 = u32::MAX;

impl StoredIds {
    pub fn from_members(members: &[RoaringTreemap]) -> StoredIds {
        let count: u64 = members.iter().map(|m| m.len()).sum();
        let mut s = StoredIds {
            dense: vec![ABSENT; count as usize],
            sparse: HashMap::new(),
            count,
        };
        for (p, m) in members.iter().enumerate() {
            for id in m.iter() {
                match s.dense.get_mut(id as usize) {
                    Some(slot) => *slot = p as u32,
                    None => {
                        s.sparse.insert(id, p as u32);
                    }
                }
            }
        }
        s
    }

    pub fn partition_of(&self, id: u64) -> Option<u32> {
        match self.dense.get(id as usize) {
            Some(&p) if p != ABSENT => Some(p),
            Some(_) => None,
            None => self.sparse.get(&id).copied(),
        }
    }

    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn max_id(&self) -> Option<u64> {
        let d = self
            .dense
            .iter()
            .rposition(|&p| p != ABSENT)
            .map(|i| i as u64);
        let s = self.sparse.keys().max().copied();
        d.max(s)
    }

    pub fn memory_bytes(&self) -> u64 {
        (self.dense.len() * 4 + self.sparse.len() * 16) as u64
    }
}

/// What one search batch needs of the writes, taken under the read lock and then
/// used without it (a writer waits for the pointer copies, not for the batch):
/// the tombstones and the delta chunks of the partitions the batch probes, both
/// shared, and copied by the writer only where it changes what a search holds.
pub struct LiveSlice {
    pub dead: std::sync::Arc<RoaringTreemap>,
    /// Per partition: holds tombstones.
    pub has_dead: Vec<bool>,
    /// Per partition: its live delta rows, for the probed partitions that have any.
    pub parts: Vec<Option<DeltaPart>>,
}

impl LiveSlice {
    /// Shares (does not copy) the chunks of the probed partitions' deltas.
    pub fn of(live: &LiveState, pids: &[u32]) -> LiveSlice {
        let mut parts: Vec<Option<DeltaPart>> = vec![None; live.parts.len()];
        for &p in pids {
            let d = &live.parts[p as usize];
            if d.live > 0 {
                parts[p as usize] = Some(d.clone());
            }
        }
        LiveSlice {
            dead: live.dead.clone(),
            has_dead: live.dead_in.iter().map(|&n| n > 0).collect(),
            parts,
        }
    }
}

/// The in-memory state of acknowledged writes.
#[derive(Debug, Default)]
pub struct LiveState {
    /// Stored ids superseded by an upsert or deleted (a subset of the stored ids);
    /// shared with the searches that copied it, cloned on the next change.
    pub dead: std::sync::Arc<RoaringTreemap>,
    /// Tombstones per partition (stored ids in `dead` that the partition holds).
    pub dead_in: Vec<u64>,
    pub parts: Vec<DeltaPart>,
    /// Delta id -> (partition, row).
    pub loc: HashMap<u64, (u32, u32)>,
    pub stored: StoredIds,
    /// Bytes of vector data in the delta (dead rows included until a flush).
    pub delta_bytes: u64,
    /// Log records applied (the next sequence number to apply).
    pub next_seq: u64,
    /// Labels and attributes of the delta's rows.
    pub meta: LiveMeta,
    row_bytes: usize,
}

/// Labels and attributes written with the delta's rows: one row ("slot") per
/// upserted vector, in write order, shaped like the index's metadata; a slot
/// counts while it is its id's latest and the id is live in the delta.
#[derive(Debug, Default)]
pub struct LiveMeta {
    pub added: quarry_filter::Metadata,
    pub slot_ids: Vec<u64>,
    pub slot_of: HashMap<u64, u64>,
    /// Some row carried a label (an index without metadata then gets some).
    pub any_labels: bool,
}

impl LiveMeta {
    fn push(&mut self, id: u64, row: Option<&quarry_filter::RowMeta>) -> Result<(), String> {
        let (labels, attrs) = match row {
            Some(r) => (&r.labels[..], r.attr_refs()),
            None => (&[][..], Vec::new()),
        };
        let slot = self.added.push(labels, &attrs).map_err(|e| e.to_string())?;
        self.any_labels |= !labels.is_empty();
        self.slot_ids.push(id);
        self.slot_of.insert(id, slot);
        Ok(())
    }

    /// The delta ids among `slots` (rows of `added`) that are still current.
    pub fn ids_of(&self, slots: &roaring::RoaringTreemap) -> Vec<u64> {
        slots
            .iter()
            .filter_map(|s| {
                let id = self.slot_ids[s as usize];
                (self.slot_of.get(&id) == Some(&s)).then_some(id)
            })
            .collect()
    }

    /// `(id, slot)` of every current row, ascending by id (what a flush folds in).
    pub fn rows(&self) -> Vec<(u64, u64)> {
        let mut r: Vec<(u64, u64)> = self.slot_of.iter().map(|(&i, &s)| (i, s)).collect();
        r.sort_unstable();
        r
    }

    fn memory_bytes(&self) -> u64 {
        self.added.memory_bytes()
            + self.slot_ids.capacity() as u64 * 8
            + self.slot_of.capacity() as u64 * 17
    }
}

impl LiveState {
    /// `schema`: the index's attributes (`Metadata::schema`), which written rows
    /// carry.
    pub fn new(
        stored: StoredIds,
        partitions: usize,
        row_bytes: usize,
        next_seq: u64,
        schema: quarry_filter::Metadata,
    ) -> Self {
        LiveState {
            meta: LiveMeta {
                added: schema,
                ..Default::default()
            },
            dead: Default::default(),
            dead_in: vec![0; partitions],
            parts: vec![DeltaPart::default(); partitions],
            loc: HashMap::new(),
            stored,
            delta_bytes: 0,
            next_seq,
            row_bytes,
        }
    }

    /// No write applied since the files were written.
    pub fn is_clean(&self) -> bool {
        self.dead.is_empty() && self.parts.iter().all(|p| p.rows == 0)
    }

    /// Live vectors: stored ones not superseded or deleted, plus the delta's.
    pub fn live_count(&self) -> u64 {
        self.stored.len() - self.dead.len() + self.loc.len() as u64
    }

    pub fn delta_live(&self) -> u64 {
        self.loc.len() as u64
    }

    /// The largest id ever live in the index (None when empty).
    pub fn max_id(&self) -> Option<u64> {
        self.stored.max_id().max(self.loc.keys().max().copied())
    }

    /// Removes `id` wherever it lives; true when it was live.
    fn kill(&mut self, id: u64) -> bool {
        let mut was = false;
        if let Some((p, r)) = self.loc.remove(&id) {
            self.parts[p as usize].kill(r);
            self.meta.slot_of.remove(&id);
            was = true;
        }
        if let Some(p) = self.stored.partition_of(id) {
            if !self.dead.contains(id) && std::sync::Arc::make_mut(&mut self.dead).insert(id) {
                self.dead_in[p as usize] += 1;
                was = true;
            }
        }
        was
    }

    /// Applies one logged write (already durable). Returns how many ids were live
    /// before it (replaced by an upsert, removed by a delete). A write whose
    /// labels or attributes do not fit the index's is refused before it changes
    /// anything (the writer checks them before logging: only a damaged log has one).
    pub fn apply(&mut self, w: &Write) -> Result<u64, String> {
        Ok(match w {
            Write::Upsert {
                ids,
                parts,
                data,
                meta,
            } => {
                if let Some(m) = meta {
                    for (r, &id) in m.iter().zip(ids) {
                        self.meta
                            .added
                            .check_row(id, &r.attr_refs())
                            .map_err(|e| e.to_string())?;
                    }
                } else if !self.meta.added.attribute_names().is_empty() {
                    return Err("an upsert without the index's attributes".into());
                }
                let mut replaced = 0;
                for (i, (&id, &p)) in ids.iter().zip(parts).enumerate() {
                    replaced += self.kill(id) as u64;
                    let row = self.parts[p as usize]
                        .push(id, &data[i * self.row_bytes..(i + 1) * self.row_bytes]);
                    self.loc.insert(id, (p, row));
                    self.delta_bytes += self.row_bytes as u64;
                    self.meta.push(id, meta.as_ref().map(|m| &m[i]))?;
                }
                replaced
            }
            Write::Delete { ids } => ids.iter().map(|&id| self.kill(id) as u64).sum(),
        })
    }

    /// RAM held: delta chunks as allocated, the id map, tombstones, the
    /// stored-id map.
    pub fn memory_bytes(&self) -> u64 {
        self.parts
            .iter()
            .flat_map(|p| &p.chunks)
            .map(|c| c.capacity_bytes() as u64)
            .sum::<u64>()
            + self.loc.capacity() as u64 * 17
            + self.dead.serialized_size() as u64
            + self.stored.memory_bytes()
            + self.meta.memory_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_shared_by_snapshots_and_copied_on_write() {
        let mut d = DeltaPart::default();
        for id in 0..1000u64 {
            assert_eq!(d.push(id, &[id as u8, 1]), id as u32);
        }
        d.kill(3);
        let snap = d.clone();
        d.kill(700);
        d.push(5000, &[9, 9]);
        let ids = |p: &DeltaPart| p.live_rows(2).map(|r| r.0).collect::<Vec<_>>();
        let s = ids(&snap);
        assert_eq!(s.len(), 999);
        assert!(!s.contains(&3) && s.contains(&700) && !s.contains(&5000));
        let now = ids(&d);
        assert_eq!(now.len(), 999);
        assert!(!now.contains(&700) && now.contains(&5000));
        assert_eq!(d.live, 999);
        assert_eq!(d.live_rows(2).find(|r| r.0 == 999).unwrap().1, &[231, 1]);
        // Untouched chunks are the same allocation in both.
        assert!(std::sync::Arc::ptr_eq(&d.chunks[1], &snap.chunks[1]));
        let c = chunk_of(700).0;
        assert!(c > 1 && !std::sync::Arc::ptr_eq(&d.chunks[c], &snap.chunks[c]));
        assert_eq!(d.chunks[0].ids.len(), FIRST_CHUNK_ROWS);
    }
}
