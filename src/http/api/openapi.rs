//! `GET /api/v1/openapi.json`: the API described for CRM developers, an
//! OpenAPI 3.1 document kept beside the code and compiled into the binary.

use axum::{http::header, response::IntoResponse};

/// The document itself (`src/http/api/openapi.json`).
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}
