//! The command-line hint for a library error: the library says what is wrong, the
//! CLI says which command or flag fixes it.

use quarry_engine::EngineError;

/// `e` with the flag or command that resolves it, when there is one.
pub fn with_hint(e: EngineError) -> anyhow::Error {
    let hint = match &e {
        EngineError::NoModel { router: "gbdt", dir } => Some(format!(
            "train one with `quarry train-pruning --index {} --base BASE` (or build with --train-pruning)",
            dir.display()
        )),
        EngineError::NoModel { router, dir } => Some(format!(
            "train one with `quarry mlp-train --index {} --base BASE` (no {router} model yet)",
            dir.display()
        )),
        EngineError::NoGraphs { dir, .. } => Some(format!(
            "build them with `quarry graph-build --index {}` or search with --mode scan",
            dir.display()
        )),
        EngineError::Routing(quarry_routing::RoutingError::BadTarget(_)) => {
            Some("pass e.g. --target-recall 0.9".into())
        }
        EngineError::Routing(quarry_routing::RoutingError::NotCalibrated { .. }) => {
            Some("retrain with `quarry train-pruning --label-k K`".into())
        }
        EngineError::Routing(quarry_routing::RoutingError::TargetUnreachable { .. }) => {
            Some("or retrain with a larger `quarry train-pruning --max-nprobe`".into())
        }
        EngineError::Threads { .. } => Some("use fewer --io-threads".into()),
        _ => None,
    };
    match hint {
        Some(h) => anyhow::anyhow!("{e}; {h}"),
        None => anyhow::Error::new(e),
    }
}
