use quarry_engine::EngineError;
use quarry_formats::FormatError;
use quarry_routing::mlp::MlpError;
use quarry_routing::RoutingError;

#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error(transparent)]
    Routing(#[from] RoutingError),
    #[error(transparent)]
    Mlp(#[from] MlpError),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("invalid training setting: {0}")]
    BadConfig(String),
}
