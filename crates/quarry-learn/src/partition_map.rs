//! Which partition(s) hold each vector id: read once from the partition extents.

use quarry_engine::{EngineError, Index};
use std::collections::HashMap;

/// id -> partitions holding it. Nearly every id sits in exactly one partition
/// (`primary`); replicas, if an index has any, go to `extra`.
#[derive(Debug, Clone, Default)]
pub struct PartitionMap {
    primary: Vec<u32>,
    extra: HashMap<u64, Vec<u32>>,
}

const NONE: u32 = u32::MAX;

impl PartitionMap {
    /// From explicit (id, partition) pairs (tests, small sets).
    pub fn from_pairs(n: usize, pairs: impl IntoIterator<Item = (u64, u32)>) -> Self {
        let mut m = PartitionMap {
            primary: vec![NONE; n],
            extra: HashMap::new(),
        };
        for (id, p) in pairs {
            m.insert(id, p);
        }
        m
    }

    fn insert(&mut self, id: u64, p: u32) {
        match self.primary.get_mut(id as usize) {
            Some(slot) if *slot == NONE => *slot = p,
            _ => self.extra.entry(id).or_default().push(p),
        }
    }

    /// Calls `f` for every partition holding `id`.
    pub fn for_each(&self, id: u64, mut f: impl FnMut(u32)) {
        if let Some(&p) = self.primary.get(id as usize) {
            if p != NONE {
                f(p);
            }
        }
        if let Some(v) = self.extra.get(&id) {
            v.iter().for_each(|&p| f(p));
        }
    }

    /// Reads every partition of `index` (verified, through its I/O pool).
    pub fn of_index(index: &Index) -> Result<Self, EngineError> {
        let mut m = PartitionMap {
            primary: vec![NONE; index.len() as usize],
            extra: HashMap::new(),
        };
        index.for_each_stored_id(|id, pid| {
            m.insert(id, pid);
            Ok(())
        })?;
        Ok(m)
    }
}
