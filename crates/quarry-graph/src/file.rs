//! The graph file: every partition's graph in one file, behind an offsets table.
//!
//! ```text
//! "QGRAPHS1" | u32 version | u32 graphs | u32 m | u32 ef_construction | u64 seed
//! u64 offsets[graphs + 1]   (byte offsets of each graph, relative to the end of the table)
//! per graph: u32 n | u32 entry | u32 levels | u32 has_norms | f32 norms[n if has_norms]
//!   per level: u32 nodes | u32 node_ids[nodes] (level >= 1) | u32 edges
//!              u32 offsets[slots + 1] | u32 neighbours[edges]     (slots = n at level 0)
//! ```
//! All little-endian. Decoding checks every count, offset and id, so a damaged file
//! (beyond what the manifest's crc32c already catches) is an error, never a panic.

use crate::hnsw::{Graph, Layer};
use crate::{GraphError, HnswParams};

const MAGIC: &[u8; 8] = b"QGRAPHS1";
const VERSION: u32 = 1;
const MAX_LEVELS: u32 = 16;

/// One graph per partition, in partition order, and the parameters that built them.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSet {
    pub params: HnswParams,
    pub graphs: Vec<Graph>,
}

impl GraphSet {
    pub fn memory_bytes(&self) -> usize {
        self.graphs.iter().map(|g| g.memory_bytes()).sum()
    }
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn encode_graph(g: &Graph, out: &mut Vec<u8>) {
    put32(out, g.n);
    put32(out, g.entry);
    put32(out, g.layers.len() as u32);
    put32(out, g.norms.is_some() as u32);
    if let Some(n) = &g.norms {
        n.iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    }
    for (level, l) in g.layers.iter().enumerate() {
        put32(out, if level == 0 { 0 } else { l.nodes.len() as u32 });
        if level > 0 {
            l.nodes.iter().for_each(|&v| put32(out, v));
        }
        put32(out, l.neigh.len() as u32);
        l.offsets.iter().for_each(|&v| put32(out, v));
        l.neigh.iter().for_each(|&v| put32(out, v));
    }
}

pub fn encode_graphs(set: &GraphSet) -> Vec<u8> {
    let blobs: Vec<Vec<u8>> = set
        .graphs
        .iter()
        .map(|g| {
            let mut b = Vec::new();
            encode_graph(g, &mut b);
            b
        })
        .collect();
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    put32(&mut out, VERSION);
    put32(&mut out, set.graphs.len() as u32);
    put32(&mut out, set.params.m as u32);
    put32(&mut out, set.params.ef_construction as u32);
    out.extend_from_slice(&set.params.seed.to_le_bytes());
    let mut off = 0u64;
    out.extend_from_slice(&off.to_le_bytes());
    for b in &blobs {
        off += b.len() as u64;
        out.extend_from_slice(&off.to_le_bytes());
    }
    blobs.iter().for_each(|b| out.extend_from_slice(b));
    out
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    what: String,
}

impl Reader<'_> {
    fn err(&self, msg: &str) -> GraphError {
        GraphError::Corrupt(format!("{}: {msg} (at byte {})", self.what, self.pos))
    }
    fn bytes(&mut self, len: usize) -> Result<&[u8], GraphError> {
        match self.pos.checked_add(len) {
            Some(end) if end <= self.buf.len() => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(self.err("ends early")),
        }
    }
    fn u32(&mut self) -> Result<u32, GraphError> {
        Ok(u32::from_le_bytes(self.bytes(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64, GraphError> {
        Ok(u64::from_le_bytes(self.bytes(8)?.try_into().expect("8")))
    }
    fn u32s(&mut self, count: usize) -> Result<Vec<u32>, GraphError> {
        let b = self.bytes(count.checked_mul(4).ok_or_else(|| self.err("huge count"))?)?;
        Ok(b.chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4")))
            .collect())
    }
}

fn decode_graph(r: &mut Reader<'_>) -> Result<Graph, GraphError> {
    let n = r.u32()?;
    let entry = r.u32()?;
    let levels = r.u32()?;
    let has_norms = r.u32()?;
    if levels == 0 || levels > MAX_LEVELS || has_norms > 1 || (n > 0 && entry >= n) {
        return Err(r.err(&format!(
            "bad graph header (n {n}, entry {entry}, levels {levels}, norms flag {has_norms})"
        )));
    }
    let norms = if has_norms == 1 {
        Some(
            r.u32s(n as usize)?
                .into_iter()
                .map(f32::from_bits)
                .collect::<Vec<f32>>(),
        )
    } else {
        None
    };
    let mut layers = Vec::with_capacity(levels as usize);
    for level in 0..levels as usize {
        let nodes_len = r.u32()? as usize;
        if level == 0 && nodes_len != 0 || nodes_len > n as usize {
            return Err(r.err("bad node count of a level"));
        }
        let nodes = r.u32s(nodes_len)?;
        if nodes.windows(2).any(|w| w[0] >= w[1]) || nodes.iter().any(|&v| v >= n) {
            return Err(r.err("level nodes not sorted or out of range"));
        }
        let edges = r.u32()? as usize;
        let slots = if level == 0 { n as usize } else { nodes_len };
        let offsets = r.u32s(slots + 1)?;
        if offsets[0] != 0
            || offsets.windows(2).any(|w| w[0] > w[1])
            || offsets[slots] as usize != edges
        {
            return Err(r.err("bad adjacency offsets"));
        }
        let neigh = r.u32s(edges)?;
        if neigh.iter().any(|&v| v >= n) {
            return Err(r.err("neighbour id out of range"));
        }
        layers.push(Layer {
            nodes,
            offsets,
            neigh,
        });
    }
    Ok(Graph {
        n,
        entry,
        layers,
        norms,
    })
}

/// Parses a graph file; `source` names it in errors.
pub fn decode_graphs(buf: &[u8], source: &str) -> Result<GraphSet, GraphError> {
    let mut r = Reader {
        buf,
        pos: 0,
        what: source.to_string(),
    };
    if r.bytes(8)? != MAGIC {
        return Err(r.err("not a Quarry graph file (bad magic)"));
    }
    let version = r.u32()?;
    if version != VERSION {
        return Err(r.err(&format!("unsupported graph file version {version}")));
    }
    let count = r.u32()? as usize;
    let m = r.u32()? as usize;
    let ef_construction = r.u32()? as usize;
    let seed = r.u64()?;
    let mut offsets = Vec::with_capacity(count.min(1 << 20) + 1);
    for _ in 0..=count {
        offsets.push(r.u64()?);
    }
    let base = r.pos;
    let mut graphs = Vec::with_capacity(count);
    for i in 0..count {
        let (a, b) = (offsets[i], offsets[i + 1]);
        let range = (base as u64)
            .checked_add(a)
            .zip((base as u64).checked_add(b));
        let Some((start, end)) = range.filter(|&(s, e)| s <= e && e <= buf.len() as u64) else {
            return Err(r.err(&format!("offsets of graph {i} out of range")));
        };
        let mut gr = Reader {
            buf: &buf[..end as usize],
            pos: start as usize,
            what: format!("{source} graph {i}"),
        };
        graphs.push(decode_graph(&mut gr)?);
        if gr.pos != end as usize {
            return Err(gr.err("graph shorter than its offsets say"));
        }
    }
    if (base as u64).checked_add(offsets[count]) != Some(buf.len() as u64) {
        return Err(r.err("trailing bytes after the last graph"));
    }
    Ok(GraphSet {
        params: HnswParams {
            m,
            ef_construction,
            seed,
        },
        graphs,
    })
}

#[cfg(test)]
mod fuzz_regressions {
    /// Found by fuzzing (fuzz/corpus/graphs/regress-offset-overflow): an offset
    /// near u64::MAX overflowed the bounds arithmetic.
    #[test]
    fn a_huge_graph_offset_is_an_error() {
        let bytes = include_bytes!("../../../fuzz/corpus/graphs/regress-offset-overflow");
        assert!(super::decode_graphs(bytes, "graphs.bin").is_err());
        // No graphs, and a final offset near u64::MAX (the end-of-file check).
        let mut b = b"QGRAPHS1".to_vec();
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&0u32.to_le_bytes());
        b.extend_from_slice(&16u32.to_le_bytes());
        b.extend_from_slice(&100u32.to_le_bytes());
        b.extend_from_slice(&42u64.to_le_bytes());
        b.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(super::decode_graphs(&b, "graphs.bin").is_err());
    }
}
