//! NumPy .npy (versions 1-3, C and Fortran order): the input is the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    quarry_fuzz::exercise_vectors(&quarry_fuzz::write("in.npy", data));
});
