//! The demo page and the browser client are embedded in the binary and served over real HTTP on
//! 127.0.0.1 (`sfu/web/`, served by `sfu::signalling::web_assets`): right content types, no
//! caching, and the same bytes as the files in the repository. The page itself is exercised in
//! real browsers by `scripts/browser-test`.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use sfu::signalling::web_assets::WEB_ASSETS;
use sfu::Config;
use tokio::sync::oneshot;

struct Answer {
    status: u16,
    content_type: String,
    cache_control: String,
    body: String,
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri = format!("http://{addr}{path}").parse().expect("a valid URI");
    let response = client.get(uri).await.expect("GET answered");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().expect("ASCII header").to_owned())
            .unwrap_or_default()
    };
    let (status, content_type, cache_control) = (
        response.status().as_u16(),
        header("content-type"),
        header("cache-control"),
    );
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body read")
        .to_bytes();
    Answer {
        status,
        content_type,
        cache_control,
        body: String::from_utf8(body.to_vec()).expect("UTF-8 body"),
    }
}

/// Runs `check` against a server on an ephemeral port, then shuts the server down.
async fn with_server<F: std::future::Future<Output = ()>>(check: impl FnOnce(SocketAddr) -> F) {
    let config = Config::ephemeral();
    let (listener, addr) = sfu::bind(&config).await.expect("bind 127.0.0.1:0");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(sfu::run(config, listener, async move {
        let _ = stopped.await;
    }));
    check(addr).await;
    let _ = stop.send(());
    task.await.expect("server task").expect("server ran");
}

// `GET /` is the demo page, which loads the client module.
#[tokio::test]
async fn root_serves_the_demo_page() {
    with_server(|addr| async move {
        let page = get(addr, "/").await;
        assert_eq!(page.status, 200);
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert_eq!(page.cache_control, "no-cache");
        assert!(
            page.body.starts_with("<!doctype html>"),
            "{}",
            &page.body[..40]
        );
        assert!(page.body.contains(r#"src="/app.js""#));
        assert_eq!(get(addr, "/index.html").await.body, page.body);
    })
    .await;
}

// `GET /client.js` is the client module, as JavaScript, byte for byte the file in sfu/web/.
#[tokio::test]
async fn client_module_is_served_as_javascript() {
    with_server(|addr| async move {
        let client = get(addr, "/client.js").await;
        assert_eq!(client.status, 200);
        assert_eq!(client.content_type, "text/javascript; charset=utf-8");
        assert_eq!(client.cache_control, "no-cache");
        assert!(client.body.contains("export class SfuClient"));
        let on_disk =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/web/client.js"))
                .expect("sfu/web/client.js");
        assert_eq!(client.body, on_disk);
    })
    .await;
}

// Every embedded asset answers 200 with its content type; an unknown path is still 404.
#[tokio::test]
async fn every_asset_is_served_and_unknown_paths_are_not_found() {
    with_server(|addr| async move {
        for asset in WEB_ASSETS {
            let answer = get(addr, asset.path).await;
            assert_eq!(answer.status, 200, "{}", asset.path);
            assert_eq!(answer.content_type, asset.content_type, "{}", asset.path);
            assert_eq!(answer.body, asset.body, "{}", asset.path);
        }
        let css = get(addr, "/style.css").await;
        assert_eq!(css.content_type, "text/css; charset=utf-8");
        assert_eq!(get(addr, "/no-such-file.js").await.status, 404);
    })
    .await;
}
