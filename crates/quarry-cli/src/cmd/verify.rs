//! `quarry verify`: checks every file, checksum and invariant of an index and
//! reports exactly what is wrong; `--repair` removes what a crashed writer left
//! (temp files, unreferenced generations), never data.

use anyhow::{bail, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub index: PathBuf,
    /// Remove a crashed writer's leftovers first (takes the writer lock).
    #[arg(long)]
    pub repair: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<()> {
    let removed = if a.repair {
        quarry_engine::repair(&a.index)?
    } else {
        Vec::new()
    };
    let r = quarry_engine::verify(&a.index)?;
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        v["removed"] = serde_json::to_value(&removed)?;
        println!("{v}");
    } else {
        println!(
            "{}: {} partitions ({} bytes) and {} attached files checked",
            a.index.display(),
            r.partitions_checked,
            r.bytes_checked,
            r.files_checked.len()
        );
        for f in &removed {
            println!("removed leftover {f}");
        }
        for f in &r.leftovers {
            println!("leftover {f} (harmless; `quarry verify --repair` removes it)");
        }
        for f in &r.unknown_files {
            println!("unknown file {f} (not part of the index; left alone)");
        }
        for p in &r.problems {
            println!("PROBLEM: {p}");
        }
    }
    if !r.is_ok() {
        bail!(
            "{} has {} problem(s); see above",
            a.index.display(),
            r.problems.len()
        );
    }
    if !a.json {
        println!("ok");
    }
    Ok(())
}
