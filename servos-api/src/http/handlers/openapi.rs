//! Serves the OpenAPI document generated from the code.

use std::sync::LazyLock;

use actix_web::HttpResponse;

use crate::http::openapi;

static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    openapi::json()
        .map(|doc| doc.to_string())
        .unwrap_or_else(|_| "{}".into())
});

/// The OpenAPI 3.1 description of this API.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "OpenAPI document")))]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(DOCUMENT.as_str())
}
