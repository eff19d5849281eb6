//! big-ann-benchmarks .fbin / .u8bin / .i8bin: the first byte picks the format.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let name = ["in.fbin", "in.u8bin", "in.i8bin"][*sel as usize % 3];
    quarry_fuzz::exercise_vectors(&quarry_fuzz::write(name, body));
});
