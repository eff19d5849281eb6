//! `quarry`: build, search and measure on-disk vector indexes.

mod bounds;
mod cmd;
mod hints;
mod progress;
mod rss;
mod terminate;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "quarry",
    version,
    about = "Vector search for collections larger than memory"
)]
struct Cli {
    /// Worker threads for compute (default: all cores; at most 4 x the cores).
    #[arg(long, global = true, value_parser = bounds::threads)]
    threads: Option<usize>,
    /// Hide progress bars.
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and search an index of the built-in SIFT10K set; print recall, QPS and bytes per query.
    Demo(cmd::demo::Args),
    /// Build an on-disk index from a vector file.
    Build(cmd::build::Args),
    /// Search an index with a query file; report recall, QPS, latency and I/O per query.
    Search(cmd::search::Args),
    /// Build per-partition HNSW graphs for an index (graph, auto and partial search modes).
    GraphBuild(cmd::graph_build::Args),
    /// Exact ground truth by brute force.
    Gt(cmd::gt::Args),
    /// Summarise an index and the RAM it holds when open.
    Info(cmd::info::Args),
    /// Check every file, checksum and invariant of an index (--repair removes a crashed writer's leftovers).
    Verify(cmd::verify::Args),
    /// Split a vector file into base / held-out queries / training sample.
    Split(cmd::split::Args),
    /// Generate a synthetic clustered data set (Gaussian blobs) and queries.
    Synth(cmd::synth::Args),
    /// Generate per-vector labels (.spmat) for filtered-search benchmarks: zipf or clustered.
    Labels(cmd::labels::Args),
    /// Insert or replace vectors of an index by id (durable in its write-ahead log, searchable at once).
    Upsert(cmd::write::UpsertArgs),
    /// Delete vectors of an index by id.
    Delete(cmd::write::DeleteArgs),
    /// Move acknowledged writes from the log and memory into new index files.
    Flush(cmd::write::FlushArgs),
    /// Sweep nprobe (and batch sizes) over an index; append results to OUT/results.jsonl and .csv.
    Bench(cmd::bench::Args),
    /// Train the learned-pruning model (GBDT probe counts) of an index and attach it.
    TrainPruning(cmd::train_pruning::Args),
    /// Train the MLP router of an index (learned duplication; --dup-out writes the duplicated index).
    MlpTrain(cmd::mlp_train::Args),
    /// Train an index's learned routers again on the vectors it holds now (after
    /// writes, splits and merges).
    Retrain(cmd::retrain::Args),
    /// Experiments behind the engine's constants (not needed to use Quarry).
    #[command(subcommand)]
    Dev(DevCommand),
    /// Plot benchmark results (JSON lines) as PNG and SVG: recall vs QPS, bytes and vectors per query.
    Plot(cmd::plot::Args),
    /// Serve an index over HTTP: search (live batching), upsert, delete, flush, metrics.
    Serve(cmd::serve::Args),
}

#[derive(Subcommand)]
enum DevCommand {
    /// Centroid tier benchmark: HNSW over many synthetic centroids vs exact GEMM routing.
    CentroidBench(cmd::centroid_bench::Args),
    /// Time scan vs graph search per partition for growing query counts, fit the
    /// cost model of the auto strategy (--save attaches it to the index).
    GraphCalibrate(cmd::graph_calibrate::Args),
    /// Search QPS while upserts stream in vs idle, upsert rate and memory, on one writer handle.
    WriteBench(cmd::write_bench::Args),
}

/// "kernels: avx2 (this CPU: portable, avx2, avx512)".
pub(crate) fn kernels_line() -> String {
    use quarry_kernels::{isa, Isa};
    let have: Vec<_> = Isa::available().iter().map(|i| i.name()).collect();
    format!("kernels: {} (this CPU: {})", isa::active(), have.join(", "))
}

fn main() {
    // Like other Unix tools, end quietly when stdout is closed early (`quarry ... | head`)
    // instead of panicking on a failed print.
    // SAFETY: called before any thread starts; restores the default disposition.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    // The kernel path is decided before anything computes; a bad QUARRY_KERNELS
    // value is a clean error, not a panic inside a kernel.
    if let Err(e) = quarry_kernels::isa::configure_from_env() {
        eprintln!("error: {}: {e}", quarry_kernels::isa::ENV);
        std::process::exit(1);
    }
    // clap wants a 'static string; one small leak for the process's lifetime.
    let version: &'static str =
        Box::leak(format!("{} ({})", env!("CARGO_PKG_VERSION"), kernels_line()).into_boxed_str());
    let matches = Cli::command()
        .version(version)
        .long_version(version)
        .get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("QUARRY_LOG"))
        .with_writer(std::io::stderr)
        .init();
    if let Some(t) = cli.threads {
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build_global()
        {
            eprintln!("error: cannot set up {t} threads: {e}");
            std::process::exit(2);
        }
    }
    let ui = progress::Ui::new(!cli.quiet);
    // The server drains and flushes on SIGTERM/SIGINT itself.
    if !matches!(cli.command, Command::Serve(_)) {
        terminate::install();
    }
    match &cli.command {
        Command::Build(a) => terminate::watch_parent_of(&a.out),
        Command::GraphBuild(a) => terminate::watch(&a.index),
        Command::TrainPruning(a) => terminate::watch(&a.index),
        Command::Retrain(a) => terminate::watch(&a.index),
        Command::MlpTrain(a) => {
            terminate::watch(&a.index);
            if let Some(d) = &a.dup_out {
                terminate::watch_parent_of(d);
            }
        }
        Command::Dev(DevCommand::GraphCalibrate(a)) => terminate::watch(&a.index),
        Command::Verify(a) => terminate::watch(&a.index),
        Command::Upsert(a) => terminate::watch(&a.w.index),
        Command::Delete(a) => terminate::watch(&a.w.index),
        Command::Flush(a) => terminate::watch(&a.w.index),
        Command::Split(a) => {
            terminate::watch_parent_of(&a.queries_out);
            terminate::watch_parent_of(&a.base_out);
            if let Some(l) = &a.learn_out {
                terminate::watch_parent_of(l);
            }
        }
        _ => {}
    }
    // Commands run on a worker of the compute pool, so the thread that issues a
    // search takes part in it (as the master thread of an OpenMP team does)
    // instead of handing every query to the pool and sleeping until it is done:
    // one wake-up less per single-query search. The server keeps its own threads.
    let serve = matches!(cli.command, Command::Serve(_));
    let pool = (!serve).then(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(cli.threads.unwrap_or(0))
            .stack_size(8 << 20)
            .thread_name(|i| format!("quarry-{i}"))
            .build()
    });
    // The outcome is reported by the thread that ran the command.
    match pool {
        Some(Ok(pool)) => pool.install(|| report(run(cli.command, &ui))),
        Some(Err(e)) => {
            eprintln!("error: cannot set up the compute threads: {e}");
            std::process::exit(2);
        }
        None => report(run(cli.command, &ui)),
    }
}

/// Exits 1 with the error's chain of causes (and a hint) on one line.
fn report(res: anyhow::Result<()>) {
    if res.is_err() && terminate::in_progress() {
        // The signal thread removes the scratch and exits with 128 + the signal.
        loop {
            std::thread::park();
        }
    }
    if let Err(e) = res {
        // One line: the chain of causes, outermost first.
        let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
        // A failing stderr (a full disk it is redirected to) must not turn the
        // error into a panic: the exit status still says what happened.
        use std::io::Write;
        let _ = match hints::hint_for(&e) {
            Some(h) => writeln!(std::io::stderr(), "error: {}; {h}", msg.join(": ")),
            None => writeln!(std::io::stderr(), "error: {}", msg.join(": ")),
        };
        std::process::exit(1);
    }
}

fn run(command: Command, ui: &progress::Ui) -> anyhow::Result<()> {
    match command {
        Command::Demo(a) => cmd::demo::run(a, ui),
        Command::Build(a) => cmd::build::run(a, ui),
        Command::Search(a) => cmd::search::run(a, ui),
        Command::Dev(DevCommand::CentroidBench(a)) => cmd::centroid_bench::run(a, ui),
        Command::Dev(DevCommand::GraphCalibrate(a)) => cmd::graph_calibrate::run(a),
        Command::Dev(DevCommand::WriteBench(a)) => cmd::write_bench::run(a, ui),
        Command::GraphBuild(a) => cmd::graph_build::run(a, ui),
        Command::Gt(a) => cmd::gt::run(a, ui),
        Command::Info(a) => cmd::info::run(a),
        Command::Verify(a) => cmd::verify::run(a),
        Command::Split(a) => cmd::split::run(a, ui),
        Command::Synth(a) => cmd::synth::run(a, ui),
        Command::Labels(a) => cmd::labels::run(a, ui),
        Command::Upsert(a) => cmd::write::upsert(a, ui),
        Command::Delete(a) => cmd::write::delete(a, ui),
        Command::Flush(a) => cmd::write::flush(a),
        Command::Bench(a) => cmd::bench::run(a, ui),
        Command::TrainPruning(a) => cmd::train_pruning::run(a, ui),
        Command::Plot(a) => cmd::plot::run(a),
        Command::MlpTrain(a) => cmd::mlp_train::run(a, ui),
        Command::Retrain(a) => cmd::retrain::run(a, ui),
        Command::Serve(a) => cmd::serve::run(a),
    }
}
