//! What every edge that speaks HTTP shares (the JSON API in `http`, the WebSocket ingest in
//! `ingest`, the tablet in `tablet`): who the caller is ([`auth`]) and the error body every
//! refusal uses ([`error`]). A leaf among the edges: it points down only (state, config,
//! store), never at an edge, so the edges never import each other for it.

pub mod auth;
pub mod body;
pub mod error;
