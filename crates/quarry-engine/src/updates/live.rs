//! What acknowledged writes changed since the files were written, in memory:
//! new vectors per partition (the delta) and the stored ids they superseded or
//! deleted (tombstones). Searches read it under a read lock; the writer changes
//! it under the write lock after the log has made the change durable.

use super::record::Write;
use roaring::RoaringTreemap;
use std::collections::HashMap;

/// New vectors of one partition: rows appended in write order; a row replaced
/// by a later upsert or deleted is marked dead, not moved.
#[derive(Debug, Clone, Default)]
pub struct DeltaPart {
    pub ids: Vec<u64>,
    /// Row-major vectors in the index's stored dtype.
    pub data: Vec<u8>,
    pub alive: Vec<bool>,
    pub live: usize,
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

/// The in-memory state of acknowledged writes.
#[derive(Debug, Default)]
pub struct LiveState {
    /// Stored ids superseded by an upsert or deleted (a subset of the stored ids).
    pub dead: RoaringTreemap,
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
    row_bytes: usize,
}

impl LiveState {
    pub fn new(stored: StoredIds, partitions: usize, row_bytes: usize, next_seq: u64) -> Self {
        LiveState {
            dead: RoaringTreemap::new(),
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
        self.dead.is_empty() && self.parts.iter().all(|p| p.ids.is_empty())
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
            let part = &mut self.parts[p as usize];
            part.alive[r as usize] = false;
            part.live -= 1;
            was = true;
        }
        if let Some(p) = self.stored.partition_of(id) {
            if self.dead.insert(id) {
                self.dead_in[p as usize] += 1;
                was = true;
            }
        }
        was
    }

    /// Applies one logged write (already durable). Returns how many ids were live
    /// before it (replaced by an upsert, removed by a delete).
    pub fn apply(&mut self, w: &Write) -> u64 {
        match w {
            Write::Upsert { ids, parts, data } => {
                let mut replaced = 0;
                for (i, (&id, &p)) in ids.iter().zip(parts).enumerate() {
                    replaced += self.kill(id) as u64;
                    let part = &mut self.parts[p as usize];
                    let row = part.ids.len() as u32;
                    part.ids.push(id);
                    part.data
                        .extend_from_slice(&data[i * self.row_bytes..(i + 1) * self.row_bytes]);
                    part.alive.push(true);
                    part.live += 1;
                    self.loc.insert(id, (p, row));
                    self.delta_bytes += self.row_bytes as u64;
                }
                replaced
            }
            Write::Delete { ids } => ids.iter().map(|&id| self.kill(id) as u64).sum(),
        }
    }

    /// RAM held beyond the stored-id map: delta rows, ids, flags, tombstones.
    pub fn memory_bytes(&self) -> u64 {
        self.delta_bytes
            + self
                .parts
                .iter()
                .map(|p| p.ids.len() as u64 * 9)
                .sum::<u64>()
            + self.loc.len() as u64 * 24
            + self.dead.serialized_size() as u64
            + self.stored.memory_bytes()
    }
}
