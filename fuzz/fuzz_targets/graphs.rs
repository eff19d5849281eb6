//! graphs.bin and centroid-graph.bin through `quarry_graph::decode_graphs`: the input
//! is the file. A decoded set re-encodes to a file that decodes to the same set (byte
//! for byte the input when its first offset is 0, as the encoder writes it), and every
//! graph in it can be searched over vectors of its size without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_graph::{decode_graphs, encode_graphs, SearchScratch, SliceVectors};
use quarry_kernels::Metric;

fuzz_target!(|data: &[u8]| {
    let set = match decode_graphs(data, "graphs.bin") {
        Ok(s) => s,
        Err(e) => return quarry_fuzz::note(format_args!("error: {e}")),
    };
    quarry_fuzz::note(format_args!("{} graphs", set.graphs.len()));
    let again = encode_graphs(&set);
    // Header (32 bytes) then u64 offsets[graphs + 1] then the graphs, which the
    // decoder requires to be contiguous and to end the file.
    assert!(again.len() <= data.len());
    if data[32..40] == [0u8; 8] {
        assert_eq!(again, data, "a canonical file re-encodes byte for byte");
    }
    let back = decode_graphs(&again, "re-encoded").expect("a re-encoded set decodes");
    assert_eq!(encode_graphs(&back), again);
    assert_eq!(back.graphs.len(), set.graphs.len());
    assert_eq!(back.params, set.params);

    let mut scratch = SearchScratch::default();
    for g in set.graphs.iter().take(16) {
        let n = g.len();
        assert!((1..=16).contains(&g.levels()));
        if let Some(norms) = g.norms() {
            assert_eq!(norms.len(), n);
        }
        assert!(g.memory_bytes() >= 4 * (n + 1) + 4 * g.edges());
        // Every 4 bytes of memory are 4 bytes of the input.
        assert!(g.memory_bytes() <= data.len());
        if n > 1 << 14 {
            continue;
        }
        const DIM: usize = 2;
        let vecs: Vec<f32> = (0..n * DIM).map(|i| ((i * 7919) % 113) as f32).collect();
        let (metric, norms) = match g.norms() {
            Some(nm) => (Metric::Cosine, Some(nm)),
            None => (Metric::L2, None),
        };
        let mut access = SliceVectors {
            data: &vecs,
            dim: DIM,
            metric,
            norms,
        };
        for (k, ef) in [(1usize, 1usize), (5, 16)] {
            let found = g
                .search(&mut access, &[3.0, 50.0], k, ef, &mut scratch)
                .expect("in-memory vectors of the graph's size");
            assert!(found.len() <= k.min(n));
            assert!(found.iter().all(|&(_, id)| (id as usize) < n));
            assert!(found.windows(2).all(|w| w[0].0.total_cmp(&w[1].0).is_le()));
            let mut ids: Vec<u32> = found.iter().map(|f| f.1).collect();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), found.len(), "a result id appears twice");
        }
    }
});
