//! `GET /api/v1/ping`: lets the CRM check its base URL and token.

use serde::Serialize;

use super::ApiJson;

#[derive(Serialize)]
pub struct Pong {
    ok: bool,
}

pub async fn ping() -> ApiJson<Pong> {
    ApiJson(Pong { ok: true })
}
