//! Attaching a trained model to its index.

use super::{train, training_set, TrainConfig, Trained};
use crate::LearnError;
use quarry_engine::{Index, Progress, VectorSource};
use quarry_routing::mlp::{Mlp, CONFIG_FILE, ROUTER_KIND, WEIGHTS_FILE};

/// Attaches the model to `index` (replacing an earlier one).
pub fn save_router(
    index: &mut Index,
    model: &Mlp,
    training: serde_json::Value,
) -> Result<(), LearnError> {
    let (w, c) = model.to_bytes(training)?;
    // One commit: weights never meet another model's config.
    index.attach_files(&[(WEIGHTS_FILE, &w), (CONFIG_FILE, &c)], &[ROUTER_KIND])?;
    Ok(())
}

/// The whole job in one call: `queries` training queries drawn from `base` (the
/// index's own vectors; seeded by `cfg.seed`), labelled by brute force, a model
/// trained on them and attached to `index` under its writer lock. Learned copies
/// (`Trained::copies`, with `cfg.dup_every > 0`) take effect only in an index
/// rewritten with them (`quarry_engine::rewrite_with_copies`).
pub fn train_router(
    index: &mut Index,
    base: &dyn VectorSource,
    queries: usize,
    cfg: &TrainConfig,
    progress: &dyn Progress,
) -> Result<Trained, LearnError> {
    index.with_writer(|index| {
        index.check_base(base)?;
        let set = training_set(base, base, index.metric(), queries, cfg.seed, progress)?;
        let holders = index.holders()?;
        let trained = train(
            &set,
            &holders,
            index.num_partitions(),
            index.metric(),
            index.centroids().centroids(),
            cfg,
            progress,
            &mut |_| {},
        )?;
        let record = serde_json::json!({ "config": cfg, "training_queries": set.len() });
        save_router(index, &trained.model, record)?;
        Ok(trained)
    })
}
