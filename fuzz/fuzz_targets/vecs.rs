//! TEXMEX .fvecs / .bvecs: the first byte picks the format, the rest is the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let name = if sel & 1 == 0 { "in.fvecs" } else { "in.bvecs" };
    quarry_fuzz::exercise_vectors(&quarry_fuzz::write(name, body));
});
