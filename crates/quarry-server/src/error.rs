//! Errors as HTTP answers: a status and `{"error": "...", "status": N}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quarry_engine::EngineError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Seconds for `Retry-After` (503s).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
    pub fn unavailable(message: impl Into<String>, retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }
    pub fn overloaded(queue: usize) -> ApiError {
        ApiError::unavailable(
            format!("server busy: {queue} requests are already queued or running; retry later"),
            1,
        )
    }
    pub fn starting() -> ApiError {
        ApiError::unavailable(
            "starting: the index is being opened and its write-ahead log replayed",
            1,
        )
    }
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> ApiError {
        use EngineError as E;
        let status = match &e {
            E::DeltaFull { .. } => {
                return ApiError::unavailable(format!("{e} (POST /flush, then retry)"), 5);
            }
            E::NotWriter { .. } | E::NotWritable { .. } => StatusCode::CONFLICT,
            E::Filter(quarry_engine::filtered::FilterError::Syntax { .. })
            | E::Filter(quarry_engine::filtered::FilterError::UnknownAttribute { .. })
            | E::Filter(quarry_engine::filtered::FilterError::Invalid(_))
            | E::Filter(quarry_engine::filtered::FilterError::IdOutOfRange { .. })
            | E::BadWrite(_)
            | E::NoMetadata { .. }
            | E::QueryDim { .. }
            | E::BatchShape { .. }
            | E::NonFinite { .. }
            | E::EmptyBatch
            | E::ZeroK
            | E::KTooLarge { .. }
            | E::NoModel { .. }
            | E::NoGraphs { .. }
            | E::BadSearch(_)
            | E::OutOfRange { .. }
            | E::Routing(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "status": self.status.as_u16() });
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}
