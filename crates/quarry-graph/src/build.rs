//! Building an HNSW graph (Malkov & Yashunin), single-threaded and seeded: node
//! levels come from a ChaCha8 stream in id order, nodes are inserted in id order and
//! every tie breaks by id, so the same vectors and parameters give the same graph,
//! byte for byte. Parallelism belongs one level up (one graph per partition).

use crate::hnsw::{search_layer, Adjacency, Cand, Graph, Layer, SearchScratch, UPPER_EF};
use crate::{GraphError, SliceVectors, VectorAccess, MAX_EF};
use quarry_kernels::{squared_norms, Element, Metric};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on upper levels; the base level allows `2 m`.
    pub m: usize,
    /// Candidates kept while inserting (build quality vs time).
    pub ef_construction: usize,
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            m: 16,
            ef_construction: 100,
            seed: 42,
        }
    }
}

impl HnswParams {
    pub fn validate(&self) -> Result<(), GraphError> {
        if !(2..=128).contains(&self.m) {
            return Err(GraphError::BadParam(format!(
                "m = {} is outside 2..=128 (16 is typical)",
                self.m
            )));
        }
        if self.ef_construction < self.m {
            return Err(GraphError::BadParam(format!(
                "ef_construction = {} must be at least m = {}",
                self.ef_construction, self.m
            )));
        }
        if self.ef_construction > MAX_EF {
            return Err(GraphError::BadParam(format!(
                "ef_construction = {} exceeds {MAX_EF} (100..400 is typical)",
                self.ef_construction
            )));
        }
        Ok(())
    }
}

struct Builder {
    /// links[node][level]
    links: Vec<Vec<Vec<u32>>>,
}

impl Adjacency for Builder {
    fn neighbors(&self, level: usize, node: u32) -> &[u32] {
        self.links[node as usize]
            .get(level)
            .map_or(&[][..], |v| v.as_slice())
    }
    fn len(&self) -> usize {
        self.links.len()
    }
}

/// Builds the graph of all rows of `vecs`. `on_inserted(done)` is called every 1024
/// insertions and at the end (progress reporting).
pub fn build_graph<T: Element>(
    vecs: &SliceVectors<'_, T>,
    params: &HnswParams,
    on_inserted: &dyn Fn(usize),
) -> Result<Graph, GraphError> {
    params.validate()?;
    let n = vecs.len();
    if n > u32::MAX as usize {
        return Err(GraphError::BadParam(format!(
            "{n} vectors exceed a graph's u32 ids"
        )));
    }
    let norms = (vecs.metric == Metric::Cosine).then(|| squared_norms(vecs.data, vecs.dim));
    let mut access = SliceVectors {
        data: vecs.data,
        dim: vecs.dim,
        metric: vecs.metric,
        norms: norms.as_deref(),
    };
    let (m, m0) = (params.m, 2 * params.m);
    let ml = 1.0 / (m as f64).ln();
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let levels: Vec<usize> = (0..n)
        .map(|_| {
            let u: f64 = rng.random::<f64>();
            // 1 - u is in (0, 1]: ln never sees 0.
            ((-(1.0 - u).ln() * ml) as usize).min(15)
        })
        .collect();
    let mut b = Builder {
        links: levels.iter().map(|&l| vec![Vec::new(); l + 1]).collect(),
    };
    let mut s = SearchScratch::default();
    let mut entry = 0u32;
    let mut max_level = levels.first().copied().unwrap_or(0);
    let mut q = Vec::with_capacity(vecs.dim);
    let mut one = Vec::with_capacity(1);
    for (i, &li) in levels.iter().enumerate().skip(1) {
        q.clear();
        q.extend(access.row(i).iter().map(|x| x.to_f32()));
        one.clear();
        access.distances(&q, &[entry], &mut one)?;
        let mut ep = vec![Cand(one[0], entry)];
        // As in search: a few candidates per upper level, so an insert on clustered
        // data starts its base-level search in its own cluster.
        for level in (li + 1..=max_level).rev() {
            ep = search_layer(&b, &mut access, &q, &ep, UPPER_EF, level, &mut s)?;
        }
        for level in (0..=li.min(max_level)).rev() {
            let found = search_layer(
                &b,
                &mut access,
                &q,
                &ep,
                params.ef_construction,
                level,
                &mut s,
            )?;
            let chosen = select_heuristic(&mut access, &found, m, true)?;
            b.links[i][level] = chosen.iter().map(|c| c.1).collect();
            let cap = if level == 0 { m0 } else { m };
            for c in &chosen {
                let list = &mut b.links[c.1 as usize][level];
                list.push(i as u32);
                if list.len() > cap {
                    shrink(&mut b, &mut access, c.1, level, cap)?;
                }
            }
            ep = found;
        }
        if li > max_level {
            max_level = li;
            entry = i as u32;
        }
        if i % 1024 == 0 {
            on_inserted(i);
        }
    }
    on_inserted(n);
    Ok(finish(b, entry, max_level, n, norms))
}

/// HNSW's neighbour-selection heuristic: walk candidates nearest first, keep one only
/// if it is closer to the base than to every kept neighbour (spreads links around the
/// base instead of packing them into one direction). With `fill` (a new node's own
/// links: the paper's keepPrunedConnections), pruned candidates top the list up to
/// `m`: on clustered data the heuristic alone left nodes with so few links that
/// clusters lost their way to each other.
fn select_heuristic<T: Element>(
    access: &mut SliceVectors<'_, T>,
    sorted: &[Cand],
    m: usize,
    fill: bool,
) -> Result<Vec<Cand>, GraphError> {
    let mut kept: Vec<Cand> = Vec::with_capacity(m);
    let mut pruned: Vec<Cand> = Vec::new();
    let mut cv = Vec::with_capacity(access.dim);
    let mut ids = Vec::with_capacity(m);
    let mut d = Vec::with_capacity(m);
    for &c in sorted {
        if kept.len() >= m {
            break;
        }
        cv.clear();
        cv.extend(access.row(c.1 as usize).iter().map(|x| x.to_f32()));
        ids.clear();
        ids.extend(kept.iter().map(|k| k.1));
        d.clear();
        access.distances(&cv, &ids, &mut d)?;
        if d.iter().all(|&dk| dk >= c.0) {
            kept.push(c);
        } else if fill {
            pruned.push(c);
        }
    }
    if fill {
        let room = m.saturating_sub(kept.len());
        kept.extend(pruned.into_iter().take(room));
    }
    Ok(kept)
}

/// Re-selects `node`'s list at `level` down to `cap` with the heuristic.
fn shrink<T: Element>(
    b: &mut Builder,
    access: &mut SliceVectors<'_, T>,
    node: u32,
    level: usize,
    cap: usize,
) -> Result<(), GraphError> {
    let nv: Vec<f32> = access
        .row(node as usize)
        .iter()
        .map(|x| x.to_f32())
        .collect();
    let list = std::mem::take(&mut b.links[node as usize][level]);
    let mut d = Vec::with_capacity(list.len());
    access.distances(&nv, &list, &mut d)?;
    let mut cands: Vec<Cand> = d.iter().zip(&list).map(|(&d, &i)| Cand(d, i)).collect();
    cands.sort_unstable();
    let kept = select_heuristic(access, &cands, cap, false)?;
    b.links[node as usize][level] = kept.iter().map(|c| c.1).collect();
    Ok(())
}

fn finish(b: Builder, entry: u32, max_level: usize, n: usize, norms: Option<Vec<f32>>) -> Graph {
    let mut layers = Vec::with_capacity(max_level + 1);
    for level in 0..=max_level {
        let mut layer = Layer::default();
        layer.offsets.push(0);
        for (node, links) in b.links.iter().enumerate() {
            if let Some(list) = links.get(level) {
                if level > 0 {
                    layer.nodes.push(node as u32);
                }
                layer.neigh.extend_from_slice(list);
                layer.offsets.push(layer.neigh.len() as u32);
            }
        }
        layers.push(layer);
    }
    Graph {
        n: n as u32,
        entry,
        layers,
        norms,
    }
}
