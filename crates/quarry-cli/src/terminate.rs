//! SIGTERM, SIGINT and SIGHUP end a command cleanly: this process's scratch
//! directories and temp files in the directories it writes are removed (and, when
//! it holds an index's writer lock, the generation files no manifest names), then it
//! exits with 128 + the signal. SIGKILL cannot be caught: what it leaves is removed
//! by the next writer or `quarry verify --repair`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

static WATCHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
static TERMINATING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether a signal is ending the process: the command's own error (a refused file
/// creation, say) is then not reported; the signal thread exits with its code.
pub fn in_progress() -> bool {
    TERMINATING.load(std::sync::atomic::Ordering::SeqCst)
}

/// Directories this command writes scratch files into (an index directory, or the
/// directory a new index is built in).
pub fn watch(dir: &Path) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    if let Ok(mut w) = WATCHED.lock() {
        w.push(dir.to_path_buf());
    }
}

/// The parent directory of a path a command creates.
pub fn watch_parent_of(path: &Path) {
    watch(path.parent().unwrap_or(Path::new(".")));
}

/// Starts the signal thread (once, at startup).
pub fn install() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) else {
        return; // no handler: the default action (no cleanup) stays
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // No file is created from now on; a create already under way finishes
            // within the grace period, and then every temp file can be found.
            TERMINATING.store(true, std::sync::atomic::Ordering::SeqCst);
            quarry_storage::refuse_new_files();
            quarry_formats::refuse_new_files();
            std::thread::sleep(std::time::Duration::from_millis(20));
            let removed = cleanup();
            let name = match sig {
                SIGTERM => "SIGTERM",
                SIGINT => "SIGINT",
                _ => "SIGHUP",
            };
            eprintln!("error: interrupted by {name}; {removed} temporary file(s) removed");
            std::process::exit(128 + sig);
        }
    });
}

fn cleanup() -> usize {
    let pid = std::process::id();
    let (partial, tmp) = (
        format!(".{pid}.quarry-partial"),
        format!(".{pid}.quarry-tmp"),
    );
    let dirs = WATCHED.lock().map(|w| w.clone()).unwrap_or_default();
    let mut removed = 0;
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let gone = if name.ends_with(&partial) {
                std::fs::remove_dir_all(e.path()).is_ok()
            } else if name.ends_with(&tmp) {
                std::fs::remove_file(e.path()).is_ok()
            } else {
                false
            };
            removed += gone as usize;
        }
        // Holding the index's writer lock: its uncommitted generations are ours.
        let holder = std::fs::read_to_string(dir.join(quarry_storage::LOCK_FILE))
            .ok()
            .and_then(|t| t.trim().parse::<u32>().ok());
        if holder == Some(pid) {
            if let Ok(m) = quarry_storage::Manifest::load(&dir) {
                removed += quarry_storage::sweep(&dir, &m).len();
            }
        }
    }
    removed
}
