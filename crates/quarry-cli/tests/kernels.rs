//! QUARRY_KERNELS: every supported path can be forced and is reported by
//! `--version`; an unknown or unsupported path is a clean error before any work.

use quarry_kernels::Isa;
use std::process::{Command, Output};

fn version_with(path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_quarry"))
        .arg("--version")
        .env("QUARRY_KERNELS", path)
        .output()
        .unwrap()
}

#[test]
fn forced_paths_are_used_and_reported() {
    for isa in Isa::ALL {
        let o = version_with(isa.name());
        let (out, err) = (
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr),
        );
        if isa.supported() {
            assert!(o.status.success(), "{isa}: {err}");
            assert!(out.contains(&format!("kernels: {isa} ")), "{isa}: {out}");
        } else {
            assert_eq!(o.status.code(), Some(1), "{isa}: {out}{err}");
            assert!(
                err.starts_with("error: QUARRY_KERNELS: kernel path"),
                "{err}"
            );
            assert!(err.contains("not supported by this CPU"), "{err}");
        }
    }
    let auto = version_with("auto");
    let best = Isa::best();
    assert!(String::from_utf8_lossy(&auto.stdout).contains(&format!("kernels: {best} ")));
}

#[test]
fn unknown_path_is_a_one_line_error() {
    let o = version_with("avx9000");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("unknown kernel path \"avx9000\""), "{err}");
}
