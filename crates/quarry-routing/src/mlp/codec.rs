//! The model as two index files: weights as safetensors, shape as JSON (the engine
//! attaches and reads them, crc32c-checked).

use super::model::check_config;
use super::{Mlp, MlpConfig, MlpError};
use candle_core::{Device, Var};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

pub const WEIGHTS_FILE: &str = "router.mlp.safetensors";
pub const CONFIG_FILE: &str = "router.mlp.json";
pub const ROUTER_KIND: &str = "mlp";

const NAMES: [&str; 6] = ["w1", "b1", "w2", "b2", "w3", "b3"];

#[derive(Serialize, Deserialize)]
struct StoredConfig {
    format: String,
    version: u32,
    model: MlpConfig,
    scale: f32,
    /// Anything the trainer wants on record (settings, figures).
    training: serde_json::Value,
}

impl Mlp {
    /// (weights as safetensors, config as JSON).
    pub fn to_bytes(&self, training: serde_json::Value) -> Result<(Vec<u8>, Vec<u8>), MlpError> {
        let mut tensors: Vec<(String, candle_core::Tensor)> = NAMES
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| (n.to_string(), v.as_tensor().clone()))
            .collect();
        if let Some((c, _)) = &self.prior {
            tensors.push(("centroids".into(), c.clone()));
            tensors.push(("log_beta".into(), self.vars[6].as_tensor().clone()));
        }
        tensors.push((
            "mean".into(),
            candle_core::Tensor::from_slice(&self.mean, self.mean.len(), &Device::Cpu)?,
        ));
        let weights = safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), None)
            .map_err(|e| MlpError::BadModel(format!("cannot serialise weights: {e}")))?;
        let cfg = StoredConfig {
            format: "quarry-mlp-router".into(),
            version: 1,
            model: self.cfg.clone(),
            scale: self.scale,
            training,
        };
        let json = serde_json::to_vec_pretty(&cfg)
            .map_err(|e| MlpError::BadModel(format!("cannot serialise config: {e}")))?;
        Ok((weights, json))
    }

    pub fn from_bytes(weights: &[u8], config: &[u8]) -> Result<Mlp, MlpError> {
        let cfg: StoredConfig = serde_json::from_slice(config)
            .map_err(|e| MlpError::BadModel(format!("{CONFIG_FILE}: {e}")))?;
        if cfg.format != "quarry-mlp-router" || cfg.version != 1 {
            return Err(MlpError::BadModel(format!(
                "{CONFIG_FILE}: format {:?} version {} is not quarry-mlp-router version 1",
                cfg.format, cfg.version
            )));
        }
        check_config(&cfg.model)?;
        let m = &cfg.model;
        let mut t: HashMap<String, candle_core::Tensor> =
            candle_core::safetensors::load_buffer(weights, &Device::Cpu)
                .map_err(|e| MlpError::BadModel(format!("{WEIGHTS_FILE}: {e}")))?;
        let dims = [m.dim, m.hidden, m.hidden, m.partitions];
        let mut vars = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let want: Vec<usize> = if i % 2 == 0 {
                vec![dims[i / 2 + 1], dims[i / 2]]
            } else {
                vec![dims[i / 2 + 1]]
            };
            let ten = t.remove(*name).ok_or_else(|| {
                MlpError::BadModel(format!("{WEIGHTS_FILE}: tensor {name} missing"))
            })?;
            if ten.dims() != want.as_slice() || ten.dtype() != candle_core::DType::F32 {
                return Err(MlpError::BadModel(format!(
                    "{WEIGHTS_FILE}: tensor {name} is {:?} {:?}, expected {want:?} f32",
                    ten.dtype(),
                    ten.dims()
                )));
            }
            vars.push(Var::from_tensor(&ten)?);
        }
        let mean = t
            .get("mean")
            .cloned()
            .ok_or_else(|| MlpError::BadModel(format!("{WEIGHTS_FILE}: tensor mean missing")))?;
        if mean.dims() != [m.dim] {
            return Err(MlpError::BadModel(format!(
                "{WEIGHTS_FILE}: mean has shape {:?}, expected [{}]",
                mean.dims(),
                m.dim
            )));
        }
        let mean = mean.to_vec1::<f32>()?;
        if !(cfg.scale.is_finite() && cfg.scale > 0.0) {
            return Err(MlpError::BadModel(format!(
                "{CONFIG_FILE}: scale {}",
                cfg.scale
            )));
        }
        let prior = if m.centroid_prior {
            let get = |name: &str, want: &[usize]| -> Result<candle_core::Tensor, MlpError> {
                let t = t.get(name).ok_or_else(|| {
                    MlpError::BadModel(format!("{WEIGHTS_FILE}: tensor {name} missing"))
                })?;
                if t.dims() != want || t.dtype() != candle_core::DType::F32 {
                    return Err(MlpError::BadModel(format!(
                        "{WEIGHTS_FILE}: tensor {name} is {:?} {:?}, expected {want:?} f32",
                        t.dtype(),
                        t.dims()
                    )));
                }
                Ok(t.clone())
            };
            let c = get("centroids", &[m.partitions, m.dim])?;
            vars.push(Var::from_tensor(&get("log_beta", &[1])?)?);
            let flat = c.flatten_all()?.to_vec1::<f32>()?;
            Some(super::model::prior_tensors(flat, m.partitions, m.dim)?)
        } else {
            None
        };
        Ok(Mlp {
            cfg: cfg.model,
            mean,
            scale: cfg.scale,
            vars,
            prior,
        })
    }
}
