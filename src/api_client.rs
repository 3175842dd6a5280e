//! A minimal client of logweir's own HTTP API, for `logweir top` and `logweir tap`: one GET
//! per connection over hyper's HTTP/1 client, the body read whole or chunk by chunk.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::Request;
use tokio::net::TcpStream;

/// Why a request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {address}: {source}")]
    Connect {
        address: String,
        source: std::io::Error,
    },
    #[error("{address}: {source}")]
    Http {
        address: String,
        source: hyper::Error,
    },
    #[error("{address}: invalid request: {message}")]
    Request { address: String, message: String },
    #[error("{address}: no answer within {seconds} s")]
    Timeout { address: String, seconds: u64 },
}

/// How long connecting and receiving the response head may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Sends `GET path` to `address` (`host:port`) and returns the status and the response,
/// whose body the caller reads.
pub async fn get(address: &str, path: &str) -> Result<(u16, Incoming), ClientError> {
    let timeout = |_| ClientError::Timeout {
        address: address.to_string(),
        seconds: TIMEOUT.as_secs(),
    };
    let stream = tokio::time::timeout(TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(timeout)?
        .map_err(|source| ClientError::Connect {
            address: address.to_string(),
            source,
        })?;
    let http = |source| ClientError::Http {
        address: address.to_string(),
        source,
    };
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(http)?;
    tokio::spawn(connection);
    let request = Request::get(path)
        .header(hyper::header::HOST, address)
        .body(Empty::<Bytes>::new())
        .map_err(|e| ClientError::Request {
            address: address.to_string(),
            message: e.to_string(),
        })?;
    let response = tokio::time::timeout(TIMEOUT, sender.send_request(request))
        .await
        .map_err(timeout)?
        .map_err(http)?;
    Ok((response.status().as_u16(), response.into_body()))
}

/// Sends `GET path` and reads the whole body.
pub async fn get_text(address: &str, path: &str) -> Result<(u16, String), ClientError> {
    let (status, body) = get(address, path).await?;
    let bytes = tokio::time::timeout(TIMEOUT, body.collect())
        .await
        .map_err(|_| ClientError::Timeout {
            address: address.to_string(),
            seconds: TIMEOUT.as_secs(),
        })?
        .map_err(|source| ClientError::Http {
            address: address.to_string(),
            source,
        })?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

/// The next data chunk of a streamed body, `None` at its end.
pub async fn next_chunk(body: &mut Incoming) -> Result<Option<Bytes>, hyper::Error> {
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            return Ok(Some(data));
        }
    }
    Ok(None)
}
