//! The command-line hint for a library error: the library says what is wrong, the
//! CLI says which command or flag fixes it.

use quarry_engine::EngineError;
use quarry_learn::LearnError;
use quarry_routing::RoutingError;
use quarry_storage::StorageError;

/// The hint for the first error in `e`'s chain that has one.
pub fn hint_for(e: &anyhow::Error) -> Option<String> {
    e.chain().find_map(|c| {
        if let Some(e) = c.downcast_ref::<EngineError>() {
            engine(e)
        } else if let Some(LearnError::Engine(e)) = c.downcast_ref::<LearnError>() {
            engine(e)
        } else {
            c.downcast_ref::<StorageError>().and_then(storage)
        }
    })
}

fn engine(e: &EngineError) -> Option<String> {
    Some(match e {
        EngineError::NoModel { router: "gbdt", dir } => format!(
            "train one with `quarry train-pruning --index {} --base BASE` (or build with --train-pruning)",
            dir.display()
        ),
        EngineError::NoModel { dir, .. } => format!(
            "train one with `quarry mlp-train --index {} --base BASE`",
            dir.display()
        ),
        EngineError::NoGraphs { dir, .. } => format!(
            "build them with `quarry graph-build --index {}` or search with --mode scan",
            dir.display()
        ),
        EngineError::Routing(RoutingError::BadTarget(_)) => "pass e.g. --target-recall 0.9".into(),
        EngineError::Routing(RoutingError::NotCalibrated { .. }) => {
            "retrain with `quarry train-pruning --label-k K`".into()
        }
        EngineError::Routing(RoutingError::TargetUnreachable { .. }) => {
            "or retrain with a larger `quarry train-pruning --max-nprobe`".into()
        }
        EngineError::Threads { .. } => "use fewer --io-threads".into(),
        EngineError::Storage(s) => return storage(s),
        _ => return None,
    })
}

fn storage(e: &StorageError) -> Option<String> {
    match e {
        StorageError::DirectUnsupported { .. } => Some("use --io buffered".into()),
        _ => None,
    }
}
