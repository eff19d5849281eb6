//! Progress bars for long steps (indicatif), behind the library's `Progress` trait.

use indicatif::{ProgressBar, ProgressStyle};
use quarry_engine::Progress;
use std::sync::Mutex;

pub struct Ui {
    enabled: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Ui {
    pub fn new(enabled: bool) -> Ui {
        Ui {
            enabled,
            bar: Mutex::new(None),
        }
    }

    /// A line of text above the bar (training loss, say).
    pub fn note(&self, msg: &str) {
        match self.bar.lock().expect("progress lock").as_ref() {
            // A hidden bar (stderr not a terminal) drops println: write directly.
            Some(b) if self.enabled && !b.is_hidden() => b.println(msg),
            _ => eprintln!("{msg}"),
        }
    }

    pub fn done(&self) {
        if let Some(b) = self.bar.lock().expect("progress lock").take() {
            b.finish_and_clear();
        }
    }
}

impl Progress for Ui {
    fn stage(&self, name: &str, total: u64) {
        if !self.enabled {
            return;
        }
        let mut g = self.bar.lock().expect("progress lock");
        if let Some(b) = g.take() {
            b.finish_and_clear();
        }
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template("{msg:>18} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        b.set_message(name.to_string());
        *g = Some(b);
    }

    fn advance(&self, n: u64) {
        if let Some(b) = self.bar.lock().expect("progress lock").as_ref() {
            b.inc(n);
        }
    }
}
