//! The Elasticsearch test server itself behaves like a cluster for the calls the sink makes
//! (its own correctness is what makes the sink's tests mean anything).

#[path = "common/es_server/mod.rs"]
mod es_server;

use es_server::{EsServerOptions, EsTestServer};

async fn post(url: &str, path: &str, body: &str, content_type: &str) -> (u16, serde_json::Value) {
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    stream.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    let status: u16 = text[9..12].parse().unwrap();
    let body_start = text.find("\r\n\r\n").unwrap() + 4;
    let body = &text[body_start..];
    // Responses may be chunked; take the JSON object between the first '{' and last '}'.
    let json = match (body.find('{'), body.rfind('}')) {
        (Some(a), Some(b)) => serde_json::from_str(&body[a..=b]).unwrap_or(serde_json::Value::Null),
        _ => serde_json::Value::Null,
    };
    (status, json)
}

#[tokio::test]
async fn bulk_reports_per_item_results_and_conflicts() {
    let server = EsTestServer::start(EsServerOptions::default()).await;
    let body = "{\"create\":{\"_index\":\"app\",\"_id\":\"1\"}}\n{\"a\":1}\n{\"create\":{\"_index\":\"app\",\"_id\":\"1\"}}\n{\"a\":2}\n";
    let (status, resp) = post(&server.url(), "/_bulk", body, "application/x-ndjson").await;
    assert_eq!(status, 200);
    assert_eq!(resp["errors"], true);
    assert_eq!(resp["items"][0]["create"]["status"], 201);
    assert_eq!(resp["items"][1]["create"]["status"], 409);
    assert_eq!(
        resp["items"][1]["create"]["error"]["type"],
        "version_conflict_engine_exception"
    );
    assert_eq!(server.doc_count("app"), 1);
    // A body without the final newline is rejected as a real cluster does.
    let (status, _) = post(
        &server.url(),
        "/_bulk",
        "{\"create\":{\"_index\":\"app\"}}\n{\"a\":1}",
        "application/x-ndjson",
    )
    .await;
    assert_eq!(status, 400);
    // Item-level 429s are injected on demand.
    server.faults().set_item_429_ratio(1.0);
    let (_, resp) = post(
        &server.url(),
        "/_bulk",
        "{\"create\":{\"_index\":\"app\",\"_id\":\"2\"}}\n{\"a\":1}\n",
        "application/x-ndjson",
    )
    .await;
    assert_eq!(resp["items"][0]["create"]["status"], 429);
}
