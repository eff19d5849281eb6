//! partitions.bin decoding, through `IndexFiles::open` on a directory the harness
//! builds: a manifest (sealed, listing every file with its real size and crc32c, so
//! the checks reach the table) with fuzzed counts and dimension, fuzzed
//! partitions.bin bytes, zero centroids and a sparse zero data.bin. Decoded entries
//! are then read through the buffered store and parsed as extents.
//!
//! Input: mode u8, partitions u64, dim u64, dtype u8, data pages u8, vectors u64,
//! then the table bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_kernels::{DType, Metric};
use quarry_storage::{
    files, open_store, AlignedBuf, FileEntry, IndexFiles, IoMode, Manifest, PartitionView,
    FORMAT_NAME, FORMAT_VERSION,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

fn u64_at(d: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(d[o..o + 8].try_into().unwrap())
}

fuzz_target!(|data: &[u8]| {
    const HDR: usize = 1 + 8 + 8 + 1 + 1 + 8;
    if data.len() < HDR {
        return;
    }
    let mode = data[0];
    let table = &data[HDR..];
    let num_partitions = if mode & 1 == 0 {
        table.len() / 32
    } else {
        u64_at(data, 1) as usize
    };
    let dim = if mode & 2 == 0 {
        (u64_at(data, 9) % 64 + 1) as usize
    } else {
        u64_at(data, 9) as usize
    };
    let dtype = [DType::F32, DType::U8, DType::I8][data[17] as usize % 3];
    let data_len = u64::from(data[18] % 33) * 4096;
    let num_vectors = if mode & 4 == 0 {
        // The sum of the table's counts, so that check passes too.
        table
            .chunks_exact(32)
            .map(|r| u64_at(r, 16))
            .fold(0u64, u64::wrapping_add)
    } else {
        u64_at(data, 19)
    };
    let centroids_len = num_partitions
        .checked_mul(dim)
        .and_then(|x| x.checked_mul(4))
        .filter(|&x| x <= 1 << 16)
        .unwrap_or(16);
    let centroids = vec![0u8; centroids_len];

    let dir = quarry_fuzz::scratch().join("table");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(files::TABLE), table).unwrap();
    // Centroids and data.bin are all zeros: rewrite them only when their size changes.
    static SIZES: Mutex<(usize, u64)> = Mutex::new((usize::MAX, u64::MAX));
    let mut sizes = SIZES.lock().unwrap();
    if sizes.0 != centroids.len() {
        std::fs::write(dir.join(files::CENTROIDS), &centroids).unwrap();
        sizes.0 = centroids.len();
    }
    if sizes.1 != data_len {
        let f = std::fs::File::create(dir.join(files::DATA)).unwrap();
        f.set_len(data_len).unwrap();
        sizes.1 = data_len;
    }
    drop(sizes);
    let mut listed = BTreeMap::new();
    let entry = |b: &[u8]| FileEntry {
        bytes: b.len() as u64,
        crc32c: Some(crc32c(b)),
        stored_as: None,
    };
    listed.insert(files::TABLE.to_string(), entry(table));
    listed.insert(files::CENTROIDS.to_string(), entry(&centroids));
    listed.insert(
        files::DATA.to_string(),
        FileEntry {
            bytes: data_len,
            crc32c: None,
            stored_as: None,
        },
    );
    let m = Manifest {
        format: FORMAT_NAME.into(),
        format_version: FORMAT_VERSION,
        dim,
        dtype,
        metric: Metric::L2,
        num_vectors,
        distinct_vectors: None,
        num_partitions,
        build: serde_json::json!({}),
        routers: vec![],
        files: listed,
        generation: 0,
    };
    std::fs::write(dir.join(files::MANIFEST), m.to_bytes()).unwrap();

    let Ok(index) = IndexFiles::open(&dir) else {
        return;
    };
    assert_eq!(index.table.len(), num_partitions);
    let store = open_store(&index, IoMode::Buffered).unwrap();
    let mut buf = AlignedBuf::new();
    for (pid, e) in index.table.iter().enumerate().take(64) {
        assert!(u128::from(e.offset) + u128::from(e.length) <= u128::from(data_len));
        if store.read_into(pid as u32, &mut buf).is_ok() {
            check_view(buf.as_slice(), e.count, dim, dtype);
        }
        // Whatever the checksum says, parsing never trusts the count blindly.
        buf.resize(e.length as usize);
        buf.as_mut_slice().fill(0);
        check_view(buf.as_slice(), e.count, dim, dtype);
    }
});

fn check_view(extent: &[u8], count: u64, dim: usize, dtype: DType) {
    let Ok(count) = usize::try_from(count) else {
        return;
    };
    if let Ok(v) = PartitionView::parse(extent, count, dim, dtype) {
        assert_eq!(v.ids().count(), count);
        assert_eq!(
            v.vector_bytes().len() as u128,
            count as u128 * dim as u128 * dtype.size() as u128
        );
    }
}

/// crc32c (Castagnoli), bitwise: the harness's own, independent of the library's.
fn crc32c(b: &[u8]) -> u32 {
    let mut c = !0u32;
    for &x in b {
        c ^= u32::from(x);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                (c >> 1) ^ 0x82F6_3B78
            } else {
                c >> 1
            };
        }
    }
    !c
}
