//! Layer 9 of Quarry: `quarry serve`, an HTTP service over one index.
//!
//! - **Routes** (`routes`): `POST /search` (one query or a batch), `PUT /points`
//!   (upsert), `POST /points/delete`, `POST /flush`, `GET /info`, `GET /healthz`,
//!   `GET /metrics` (Prometheus text), `GET /openapi.json` (`openapi`).
//! - **Live batching** (`batcher`): concurrent searches with equal parameters
//!   arriving within a window run as one engine batch; each caller gets its own
//!   rows and stats.
//! - **Limits**: a bounded admission queue (503 + Retry-After beyond it), a body
//!   limit (413), caps on k, queries and points (400), a per-request timeout
//!   (504); writes answer 503 when the delta budget is full.
//! - **Access**: loopback by default; with a key, `Authorization: Bearer KEY` on
//!   every route but `/healthz`, compared in constant time.
//! - **Lifecycle** (`server`): readiness after the log replay, drain and flush on
//!   shutdown.
//!
//! Engine calls run on blocking threads (`spawn_blocking`), never on the async
//! workers. The load generator is `load` (binary `quarry-load`), over the small
//! HTTP client in `client`.

pub mod api;
pub mod batcher;
pub mod client;
pub mod config;
pub mod error;
pub mod load;
pub mod metrics;
pub mod openapi;
pub mod routes;
pub mod server;
pub mod state;

pub use config::Config;
pub use server::{Server, Shutdown};
