//! manifest.json through `Manifest::load`. First byte even: the rest is the file as
//! is (exercises the checksum seal); odd: the rest is a body that the harness seals
//! with a correct checksum, so the parser and the schema checks behind it are reached.
#![no_main]
use libfuzzer_sys::fuzz_target;
use quarry_storage::Manifest;

fuzz_target!(|data: &[u8]| {
    let Some((sel, body)) = data.split_first() else {
        return;
    };
    let bytes = if sel & 1 == 0 {
        body.to_vec()
    } else {
        Manifest::seal(body)
    };
    let dir = quarry_fuzz::scratch().join("manifest");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), &bytes).unwrap();
    if let Ok(m) = Manifest::load(&dir) {
        assert!(m.dim > 0 && m.num_partitions > 0);
        // What loads re-serialises to a manifest that loads to the same value.
        std::fs::write(dir.join("manifest.json"), m.to_bytes()).unwrap();
        let again = Manifest::load(&dir).expect("a re-serialised manifest loads");
        // `build` is free-form JSON: serde_json's default float parsing may move a
        // long decimal by an ulp on the way through, so it is compared as present.
        let strip = |m: &Manifest| Manifest {
            build: serde_json::Value::Null,
            ..m.clone()
        };
        assert_eq!(strip(&again), strip(&m));
        assert_eq!(again.build.is_null(), m.build.is_null());
    }
});
