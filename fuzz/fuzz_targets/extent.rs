//! One partition extent through `PartitionView::parse` and its accessors, as the
//! executor uses them. Input: count u64, dim u32, dtype u8, then the extent bytes
//! (copied into a 4 KiB-aligned buffer, as the stores read them).
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_kernels::DType;
use quarry_storage::{AlignedBuf, PartitionView};

fuzz_target!(|data: &[u8]| {
    if data.len() < 13 {
        return;
    }
    let Ok(count) = usize::try_from(u64::from_le_bytes(data[..8].try_into().unwrap())) else {
        return;
    };
    let dim = u32::from_le_bytes(data[8..12].try_into().unwrap()) as usize;
    let dtype = [DType::F32, DType::U8, DType::I8][data[12] as usize % 3];
    let bytes = &data[13..];
    let mut buf = AlignedBuf::new();
    buf.resize(bytes.len());
    buf.as_mut_slice().copy_from_slice(bytes);
    let Ok(v) = PartitionView::parse(buf.as_slice(), count, dim, dtype) else {
        return;
    };
    assert_eq!(v.count, count);
    assert!((count as u128) * 8 <= bytes.len() as u128);
    let ids: u64 = v.ids().fold(0u64, u64::wrapping_add);
    if count > 0 {
        let _ = ids.wrapping_add(v.id(count - 1));
    }
    let n = match dtype {
        DType::F32 => v.vectors::<f32>().len(),
        DType::U8 => v.vectors::<u8>().len(),
        DType::I8 => v.vectors::<i8>().len(),
    };
    assert_eq!(n as u128, count as u128 * dim as u128);
});
