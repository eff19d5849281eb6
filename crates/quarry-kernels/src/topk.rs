//! Bounded top-k selection with a total order on (distance, id), so results do not
//! depend on the order candidates arrive in (partitions run in parallel).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Neighbor {
    pub id: u64,
    pub dist: f32,
}

impl Neighbor {
    #[inline]
    fn key_cmp(&self, other: &Self) -> Ordering {
        self.dist
            .total_cmp(&other.dist)
            .then(self.id.cmp(&other.id))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry(Neighbor);
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.key_cmp(&other.0)
    }
}

/// Keeps the `k` smallest (distance, id) pairs seen. Max-heap on the key, so the
/// current worst is at the top; its distance is cached in `worst` so the common
/// case, a candidate farther than all kept ones, costs one load and one compare.
#[derive(Debug, Clone)]
pub struct TopK {
    k: usize,
    heap: BinaryHeap<Entry>,
    /// Distance of the top entry once the heap is full, +infinity before.
    worst: f32,
}

impl TopK {
    pub fn new(k: usize) -> Self {
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            worst: f32::INFINITY,
        }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Distance a candidate must beat to enter (infinity until the heap is full).
    #[inline]
    pub fn threshold(&self) -> f32 {
        self.worst
    }

    #[inline]
    pub fn push(&mut self, id: u64, dist: f32) {
        // Strictly farther than the worst kept: cannot enter (equal distances go on
        // to the id tie-break; NaN goes on to the total order).
        if dist > self.worst || self.k == 0 {
            return;
        }
        let cand = Entry(Neighbor { id, dist });
        if self.heap.len() < self.k {
            self.heap.push(cand);
        } else {
            match self.heap.peek_mut() {
                Some(mut top) if cand < *top => *top = cand,
                _ => return,
            }
        }
        if self.heap.len() == self.k {
            self.worst = self.heap.peek().map_or(f32::INFINITY, |e| e.0.dist);
        }
    }

    pub fn extend(&mut self, items: impl IntoIterator<Item = Neighbor>) {
        for n in items {
            self.push(n.id, n.dist);
        }
    }

    /// Results nearest first.
    pub fn into_sorted(self) -> Vec<Neighbor> {
        let mut v: Vec<Neighbor> = self.heap.into_iter().map(|e| e.0).collect();
        v.sort_by(|a, b| a.key_cmp(b));
        v
    }
}
