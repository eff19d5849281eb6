use serde::{Deserialize, Serialize};

/// Similarity measure of an index. All are turned into "smaller is closer" distances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Metric {
    /// Squared Euclidean distance.
    #[serde(rename = "l2")]
    L2,
    /// Negated inner product (maximum inner product search).
    #[serde(rename = "ip")]
    InnerProduct,
    /// `1 - cos(q, x)`; a zero vector is at distance 1 from everything.
    #[serde(rename = "cosine")]
    Cosine,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Metric {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Ok(Metric::L2),
            "ip" | "inner_product" | "dot" => Ok(Metric::InnerProduct),
            "cosine" | "angular" => Ok(Metric::Cosine),
            other => Err(format!("unknown metric '{other}': use l2, ip or cosine")),
        }
    }
}

/// Cosine distance from a dot product and the two squared norms.
#[inline]
pub fn cosine_from_parts(dot: f32, q_norm_sq: f32, x_norm_sq: f32) -> f32 {
    let denom = (q_norm_sq * x_norm_sq).sqrt();
    if denom > 0.0 {
        1.0 - dot / denom
    } else {
        1.0
    }
}
