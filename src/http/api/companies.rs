//! `PUT /api/v1/companies/{name}`: the licence end of a company, shared by
//! every account whose `company` is that name (URL-encoded in the path).

use std::collections::BTreeMap;

use axum::extract::{Path, State, rejection::PathRejection};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ApiError, ApiJson, accounts::present};
use crate::{
    domain::{Company, CompanyName, parse_licence_end},
    http::HttpState,
};

/// `{"license_expires_at": "2026-12-31" | "2026-12-31T10:00:00+03:00" | null}`;
/// the field is required, `null` meaning "no end on file".
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompanyBody {
    #[serde(default, deserialize_with = "present")]
    license_expires_at: Option<Option<String>>,
}

#[derive(Debug, Serialize)]
pub struct CompanyView {
    name: String,
    license_expires_at: Option<DateTime<Utc>>,
}

impl From<Company> for CompanyView {
    fn from(company: Company) -> Self {
        Self { name: company.name.to_string(), license_expires_at: company.license_expires_at }
    }
}

/// 200 with the company as stored.
pub async fn put(
    State(state): State<HttpState>,
    name: Result<Path<String>, PathRejection>,
    ApiJson(body): ApiJson<CompanyBody>,
) -> Result<ApiJson<CompanyView>, ApiError> {
    let mut fields = BTreeMap::new();
    let name = name
        .map_err(|_| "not a valid path segment")
        .and_then(|Path(raw)| CompanyName::parse(&raw))
        .map_err(|reason| fields.insert("name".to_owned(), reason.to_owned()))
        .ok();
    let end = match body.license_expires_at {
        None => Err("missing".to_owned()),
        Some(None) => Ok(None),
        Some(Some(raw)) => parse_licence_end(&raw).map(Some).map_err(|e| format!("{raw:?} is {e}")),
    }
    .map_err(|reason| fields.insert("license_expires_at".to_owned(), reason))
    .ok();
    let (Some(name), Some(end)) = (name, end) else {
        return Err(super::accounts::invalid(fields));
    };
    let company =
        state.recovery.set_company_licence(&name, end).await.map_err(ApiError::internal)?;
    Ok(ApiJson(company.into()))
}
