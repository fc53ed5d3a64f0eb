//! The UI's static files, embedded in the binary: one stylesheet and one
//! small script. Linked with a content hash (`?v=`), so a browser may cache
//! them for a year and still never run a stale copy after an upgrade.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::http::error::ApiError;

/// An embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: [Asset; 2] = [
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../static/app.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../static/app.js"),
    },
];

/// A year: versioned links never change content.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unversioned links revalidate with the ETag.
const REVALIDATE: &str = "public, no-cache";

/// Each asset's hash (hex, 16 digits) and versioned link, computed once.
fn versions() -> &'static [(String, String); 2] {
    static VERSIONS: OnceLock<[(String, String); 2]> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        ASSETS.map(|asset| {
            let digest = ring::digest::digest(&ring::digest::SHA256, asset.body.as_bytes());
            let hash = servos_common::hex::lower(&digest.as_ref()[..8]);
            let href = format!("/static/{}?v={hash}", asset.name);
            (hash, href)
        })
    })
}

/// The versioned link of asset `name` (`/static/app.css?v=...`).
pub fn href(name: &str) -> &'static str {
    ASSETS
        .iter()
        .position(|a| a.name == name)
        .map_or("", |i| versions()[i].1.as_str())
}

/// `GET /static/{file}`: the file, with its ETag and cache lifetime.
pub async fn serve(req: HttpRequest, file: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let index = ASSETS
        .iter()
        .position(|a| a.name == file.as_str())
        .ok_or_else(ApiError::not_found)?;
    let (asset, (hash, _)) = (&ASSETS[index], &versions()[index]);
    let etag = format!("\"{hash}\"");
    let versioned = web::Query::<Vec<(String, String)>>::from_query(req.query_string())
        .is_ok_and(|q| q.iter().any(|(k, v)| k == "v" && v == hash));
    let cache = if versioned { IMMUTABLE } else { REVALIDATE };
    let not_modified = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, etag));
    if not_modified {
        return Ok(response.finish());
    }
    Ok(response.content_type(asset.content_type).body(asset.body))
}
