//! A small HTTP/1 client over hyper (keep-alive pooled), for the load generator
//! and the tests.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::{connect::HttpConnector, Client as HyperClient};
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;

#[derive(Clone)]
pub struct Client {
    inner: HyperClient<HttpConnector, Full<Bytes>>,
    base: String,
    key: Option<String>,
}

/// An answer: status, headers, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn new(addr: SocketAddr) -> Client {
        let mut conn = HttpConnector::new();
        conn.set_nodelay(true);
        Client {
            inner: HyperClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(1024)
                .build(conn),
            base: format!("http://{addr}"),
            key: None,
        }
    }

    /// Sends `Authorization: Bearer KEY` with every request.
    pub fn with_key(mut self, key: Option<String>) -> Client {
        self.key = key;
        self
    }

    /// A request with a raw body (`None`: no body) and extra headers.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        if let Some(k) = &self.key {
            b = b.header("authorization", format!("Bearer {k}"));
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let resp = self
            .inner
            .request(req)
            .await
            .map_err(|e| format!("{e:?}"))?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    pub async fn get(&self, path: &str) -> Result<Answer, String> {
        self.send("GET", path, None, &[]).await
    }

    pub async fn post_json(
        &self,
        method: &str,
        path: &str,
        v: &serde_json::Value,
    ) -> Result<Answer, String> {
        self.send(
            method,
            path,
            Some(serde_json::to_vec(v).unwrap_or_default()),
            &[],
        )
        .await
    }
}
