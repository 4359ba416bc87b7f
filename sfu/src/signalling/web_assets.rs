//! The demo page and the browser client (`sfu/web/`), embedded in the binary so a running server
//! serves them without any files on disk: `GET /` is the demo page, `GET /client.js` the reusable
//! client module (signalling-proto/PROTOCOL.md speaks its protocol). Every answer carries
//! `Cache-Control: no-cache` so a browser revalidates after a server upgrade.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file and the path it is served at.
#[derive(Debug, Clone, Copy)]
pub struct WebAsset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static str,
}

const INDEX_HTML: &str = include_str!("../../web/index.html");

/// Every embedded file. `/` and `/index.html` are the same page.
pub const WEB_ASSETS: &[WebAsset] = &[
    WebAsset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: INDEX_HTML,
    },
    WebAsset {
        path: "/index.html",
        content_type: "text/html; charset=utf-8",
        body: INDEX_HTML,
    },
    WebAsset {
        path: "/client.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/client.js"),
    },
    WebAsset {
        path: "/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../../web/app.js"),
    },
    WebAsset {
        path: "/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../../web/style.css"),
    },
];

/// The routes of [`WEB_ASSETS`], to merge into the HTTP router.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    WEB_ASSETS.iter().fold(Router::new(), |router, asset| {
        router.route(asset.path, get(move || async move { serve(asset) }))
    })
}

fn serve(asset: &'static WebAsset) -> Response {
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        asset.body,
    )
        .into_response()
}
