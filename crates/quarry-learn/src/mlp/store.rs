//! Attaching a trained model to its index.

use crate::LearnError;
use quarry_engine::Index;
use quarry_routing::mlp::{Mlp, CONFIG_FILE, ROUTER_KIND, WEIGHTS_FILE};

/// Attaches the model to `index` (replacing an earlier one).
pub fn save_router(
    index: &mut Index,
    model: &Mlp,
    training: serde_json::Value,
) -> Result<(), LearnError> {
    let (w, c) = model.to_bytes(training)?;
    index.attach_file(WEIGHTS_FILE, &w, Some(ROUTER_KIND))?;
    index.attach_file(CONFIG_FILE, &c, Some(ROUTER_KIND))?;
    Ok(())
}
