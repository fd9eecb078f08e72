//! `ApiJson<T>`: axum's `Json`, but every way a body can be unreadable
//! (wrong content type, too large, bad JSON, a missing or mistyped field)
//! becomes an `ApiError`, never axum's plain-text rejection.

use std::collections::BTreeMap;

use axum::{
    Json,
    body::Bytes,
    extract::{FromRequest, Request},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Serialize, de::DeserializeOwned};

use super::ApiError;

/// A JSON request body (as an extractor) or a JSON answer (as a response).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        // `Bytes` honours the route's `DefaultBodyLimit`, so a chunked body
        // without Content-Length is refused at the same size.
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::bad_field("body", "could not be read")
            }
        })?;
        parse(&bytes).map(ApiJson)
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}

/// `application/json` or any `application/*+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Deserialises, naming the field at fault: `{"login": "missing"}`,
/// `{"totp": "invalid type: integer `1`, expected a string"}`, or `body`
/// when the JSON itself is broken.
fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer)
        .map_err(|error| field_error(error.path(), error.inner()))?;
    deserializer.end().map_err(|error| syntax_error(&error))?;
    Ok(value)
}

fn syntax_error(error: &serde_json::Error) -> ApiError {
    ApiError::BadRequest {
        message: "the body is not valid JSON".into(),
        fields: BTreeMap::from([("body".into(), format!("not valid JSON: {error}"))]),
    }
}

fn field_error(path: &serde_path_to_error::Path, error: &serde_json::Error) -> ApiError {
    if !error.is_data() {
        return syntax_error(error);
    }
    // serde_json appends the position; the field name says more to a client.
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    let reason = full.strip_suffix(&position).unwrap_or(&full);
    let at = |name: &str| match path.iter().next() {
        None => name.to_owned(),
        Some(_) => format!("{path}.{name}"),
    };
    // A missing field is reported at its parent (an unknown one at itself).
    let (field, reason) = if let Some(name) = backticked(reason, "missing field `") {
        (at(name), "missing".to_owned())
    } else if reason.starts_with("unknown field `") {
        (path.to_string(), "unknown field".to_owned())
    } else if path.iter().next().is_none() {
        ("body".to_owned(), reason.to_owned())
    } else {
        (path.to_string(), reason.to_owned())
    };
    ApiError::bad_field(field, reason)
}

fn backticked<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    text.strip_prefix(prefix)?.split('`').next()
}

#[cfg(test)]
mod tests {
    //! A test-only route proves the mapping without a public endpoint.

    use axum::{
        Router,
        body::Body,
        extract::DefaultBodyLimit,
        http::{Request, StatusCode},
        routing::post,
    };
    use serde::Deserialize;
    use serde_json::{Value, json};
    use tower::ServiceExt;

    use super::*;

    #[derive(Deserialize, Serialize)]
    #[serde(deny_unknown_fields)]
    struct Login {
        login: String,
        password: String,
        totp: Option<String>,
        #[serde(default)]
        device: Option<Device>,
    }

    #[derive(Deserialize, Serialize)]
    struct Device {
        name: String,
    }

    async fn echo(ApiJson(login): ApiJson<Login>) -> ApiJson<Login> {
        ApiJson(login)
    }

    async fn send(content_type: Option<&str>, body: impl Into<Body>) -> (StatusCode, Value) {
        let app = Router::new()
            .route("/echo", post(echo))
            .layer(DefaultBodyLimit::max(super::super::BODY_LIMIT));
        let mut request = Request::post("/echo");
        if let Some(content_type) = content_type {
            request = request.header(header::CONTENT_TYPE, content_type);
        }
        let response = app.oneshot(request.body(body.into()).unwrap()).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, serde_json::from_slice(&bytes).expect("a JSON answer"))
    }

    const JSON: Option<&str> = Some("application/json");

    #[tokio::test]
    async fn a_good_body_is_read() {
        let (status, body) =
            send(Some("application/json; charset=utf-8"), r#"{"login":"a","password":"b"}"#).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["login"], "a");
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_about_the_body() {
        for broken in ["{\"login\":", "not json", "", r#"{"login":"a","password":"b"} trailing"#] {
            let (status, body) = send(JSON, broken).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{broken:?}");
            assert_eq!(body["error"], "bad_request");
            let reason = body["fields"]["body"].as_str().expect("fields.body");
            assert!(reason.starts_with("not valid JSON"), "{reason}");
        }
    }

    #[tokio::test]
    async fn missing_mistyped_and_unknown_fields_are_named() {
        let cases = [
            (json!({"login": "a"}), "password", "missing"),
            (json!({"login": 1, "password": "b"}), "login", "invalid type"),
            (json!({"login": "a", "password": "b", "extra": 1}), "extra", "unknown field"),
            (json!({"login": "a", "password": "b", "device": {}}), "device.name", "missing"),
            (json!("just a string"), "body", "invalid type"),
        ];
        for (sent, field, reason) in cases {
            let (status, body) = send(JSON, sent.to_string()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{sent}");
            assert_eq!(body["error"], "bad_request");
            let fields = body["fields"].as_object().expect("fields");
            assert_eq!(fields.len(), 1, "{body}");
            let got = fields.get(field).and_then(Value::as_str);
            let got = got.unwrap_or_else(|| panic!("{field} in {body}"));
            assert!(got.starts_with(reason), "{field}: {got}");
            assert!(!got.contains(" at line "), "{got}");
        }
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_a_415() {
        for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
            let (status, body) = send(content_type, r#"{"login":"a","password":"b"}"#).await;
            assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type:?}");
            assert_eq!(body["error"], "unsupported_media_type");
            assert!(body.get("fields").is_none());
        }
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_limit_is_a_413() {
        // No Content-Length: only reading the body can find it too large.
        let chunks = (0..20).map(|_| Ok::<_, std::io::Error>(vec![b' '; 1024]));
        let body = Body::from_stream(futures::stream::iter(chunks));
        let (status, body) = send(JSON, body).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"], "payload_too_large");
    }
}
