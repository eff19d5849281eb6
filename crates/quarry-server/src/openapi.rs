//! The OpenAPI 3 description of the routes, with this index's dimension and
//! this server's limits in the schemas. A test checks that its paths and
//! methods are exactly the routes served.

use crate::api::{MAX_EF, MAX_NPROBE};
use crate::config::{Config, MAX_COMPONENT};
use serde_json::{json, Value};

fn err(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

fn ok(description: &str, schema: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

/// The error answers every route that reads a body or touches the index can give.
fn common(keyed: bool, body: bool) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    if body {
        m.insert("400".into(), err("Bad request: malformed JSON, a value out of range, wrong dimensions (the message says which)"));
        m.insert("413".into(), err("Request body larger than --max-body-mb"));
        m.insert(
            "415".into(),
            err("The body is not sent as application/json"),
        );
    }
    if keyed {
        m.insert("401".into(), err("Missing or wrong API key"));
    }
    m.insert(
        "503".into(),
        err("Starting, shutting down, or the queue is full (see Retry-After)"),
    );
    m.insert("504".into(), err("Not answered within --timeout-ms"));
    m
}

fn op(
    summary: &str,
    keyed: bool,
    body: Option<&str>,
    ok_schema: Value,
    extra: &[(&str, Value)],
) -> Value {
    let mut responses = common(keyed, body.is_some());
    responses.insert("200".into(), ok_schema);
    for (code, v) in extra {
        responses.insert((*code).into(), v.clone());
    }
    let mut o = json!({ "summary": summary, "responses": responses });
    if let Some(b) = body {
        o["requestBody"] = json!({
            "required": true,
            "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}
        });
    }
    if keyed {
        o["security"] = json!([{"bearer": []}]);
    }
    o
}

pub fn document(cfg: &Config, dim: usize) -> Value {
    let keyed = cfg.api_key.is_some();
    let vector = json!({
        "type": "array",
        "description": format!("{dim} numbers, each within +-{MAX_COMPONENT:e}"),
        "minItems": dim, "maxItems": dim,
        "items": {"type": "number", "minimum": -MAX_COMPONENT, "maximum": MAX_COMPONENT}
    });
    let search_props = |query_field: &str, query_schema: Value| {
        let mut props = json!({
            "k": {"type": "integer", "minimum": 1, "maximum": cfg.max_k, "default": 10,
                  "description": "Neighbours per query (at most the live vectors)"},
            "nprobe": {"type": "integer", "minimum": 1, "maximum": MAX_NPROBE,
                       "description": format!("Partitions probed by the fixed router (default {})", cfg.default_nprobe)},
            "router": {"$ref": "#/components/schemas/Router"},
            "strategy": {"type": "string", "enum": ["scan", "graph", "auto", "partial"]},
            "ef": {"type": "integer", "minimum": 1, "maximum": MAX_EF},
            "filter": {"type": "string", "maxLength": 65536,
                       "description": "e.g. `label = 3 and price < 50.0`"},
            "filter_plan": {"type": "string", "enum": ["auto", "exact", "routed"]},
        });
        props[query_field] = query_schema;
        props
    };
    let search_req = |field: &str, schema: Value| {
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": [field],
            "properties": search_props(field, schema),
            "not": {"required": ["nprobe", "router"]},
        })
    };
    let int = json!({"type": "integer", "minimum": 0});
    let mut flush = op(
        "Move acknowledged writes into new index files (searches go on; writes wait)",
        keyed,
        None,
        ok("What the flush wrote", "FlushReport"),
        &[
            ("400", err("Bad query parameter")),
            ("409", err("The index takes no writes (read-only)")),
        ],
    );
    flush["parameters"] = json!([{"name": "compact", "in": "query", "required": false,
        "description": "Also rewrite data segments less than half in use", "schema": {"type": "boolean"}}]);
    let count = json!({"type": "integer", "minimum": 1, "maximum": MAX_NPROBE});
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Quarry",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Vector search over one on-disk index: concurrent searches are gathered into batches (live batch-aware execution)."
        },
        "paths": {
            "/search": {"post": op("Search one query (vector) or a batch (vectors)", keyed, Some("SearchRequest"),
                json!({"description": "Neighbours, nearest first, with what each query cost",
                       "content": {"application/json": {"schema": {"oneOf": [
                           {"$ref": "#/components/schemas/SearchOne"},
                           {"$ref": "#/components/schemas/SearchMany"}]}}}}), &[])},
            "/points": {"put": op("Insert or replace points by id (durable when answered)", keyed, Some("UpsertRequest"),
                ok("Acknowledged: in the write-ahead log and searchable", "UpsertResponse"),
                &[("409", err("The index takes no writes (read-only)"))])},
            "/points/delete": {"post": op("Delete points by id; every id must exist", keyed, Some("DeleteRequest"),
                ok("Deleted (durable)", "DeleteResponse"),
                &[("404", err("Some ids are not in the index; nothing was deleted")),
                  ("409", err("The index takes no writes (read-only)"))])},
            "/flush": {"post": flush},
            "/info": {"get": op("The index and the server's limits", keyed, None,
                json!({"description": "Sizes, counts, memory, limits",
                       "content": {"application/json": {"schema": {"type": "object"}}}}), &[])},
            "/healthz": {"get": {
                "summary": "Readiness: 200 once the index is open and its log replayed (no key needed)",
                "responses": {
                    "200": ok("Ready", "Health"),
                    "503": ok("Starting, draining or failed", "Health"),
                }
            }},
            "/metrics": {"get": op("Prometheus metrics (text exposition format)", keyed, None,
                json!({"description": "Counters, gauges and histograms",
                       "content": {"text/plain": {"schema": {"type": "string"}}}}), &[])},
            "/openapi.json": {"get": op("This document", keyed, None,
                json!({"description": "OpenAPI 3",
                       "content": {"application/json": {"schema": {"type": "object"}}}}), &[])},
        },
        "components": {"schemas": {
            "Vector": vector,
            "SearchRequest": {"oneOf": [
                {"$ref": "#/components/schemas/SearchOneRequest"},
                {"$ref": "#/components/schemas/SearchBatchRequest"}]},
            "SearchOneRequest": search_req("vector", json!({"$ref": "#/components/schemas/Vector"})),
            "SearchBatchRequest": search_req("vectors", json!({
                "type": "array", "minItems": 1, "maxItems": cfg.max_queries,
                "items": {"$ref": "#/components/schemas/Vector"}})),
            "Router": {"oneOf": [
                {"type": "object", "additionalProperties": false, "required": ["kind", "nprobe"],
                 "properties": {"kind": {"type": "string", "enum": ["fixed"]}, "nprobe": count}},
                {"type": "object", "additionalProperties": false, "required": ["kind", "eps", "max_nprobe"],
                 "properties": {"kind": {"type": "string", "enum": ["spann"]},
                                "eps": {"type": "number", "minimum": 0, "maximum": 1e30}, "max_nprobe": count}},
                {"type": "object", "additionalProperties": false, "required": ["kind", "target_recall"],
                 "properties": {"kind": {"type": "string", "enum": ["gbdt"]},
                                "target_recall": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1}}},
                {"type": "object", "additionalProperties": false, "required": ["kind", "margin"],
                 "properties": {"kind": {"type": "string", "enum": ["gbdt"]},
                                "margin": {"type": "number", "minimum": -1e30, "maximum": 1e30}, "max_nprobe": count}},
                {"type": "object", "additionalProperties": false, "required": ["kind", "count"],
                 "properties": {"kind": {"type": "string", "enum": ["mlp"]}, "count": count}},
                {"type": "object", "additionalProperties": false, "required": ["kind", "mass", "max"],
                 "properties": {"kind": {"type": "string", "enum": ["mlp"]},
                                "mass": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1}, "max": count}},
            ]},
            "HitStats": {"type": "object", "required": ["partitions", "vectors", "bytes"], "properties": {
                "partitions": int, "vectors": int, "bytes": {"type": "number", "minimum": 0}}},
            "Hit": {"type": "object", "required": ["ids", "distances", "stats"], "properties": {
                "ids": {"type": "array", "items": int},
                "distances": {"type": "array", "items": {"type": "number"}},
                "stats": {"$ref": "#/components/schemas/HitStats"}}},
            "BatchInfo": {"type": "object",
                "required": ["queries", "requests", "partitions_read", "bytes_read", "search_ms", "queue_ms"],
                "properties": {"queries": int, "requests": int, "partitions_read": int, "bytes_read": int,
                               "search_ms": {"type": "number"}, "queue_ms": {"type": "number"}}},
            "SearchOne": {"type": "object", "required": ["ids", "distances", "stats", "batch"], "properties": {
                "ids": {"type": "array", "items": int},
                "distances": {"type": "array", "items": {"type": "number"}},
                "stats": {"$ref": "#/components/schemas/HitStats"},
                "batch": {"$ref": "#/components/schemas/BatchInfo"}}},
            "SearchMany": {"type": "object", "required": ["results", "batch"], "properties": {
                "results": {"type": "array", "items": {"$ref": "#/components/schemas/Hit"}},
                "batch": {"$ref": "#/components/schemas/BatchInfo"}}},
            "Point": {"type": "object", "additionalProperties": false, "required": ["id", "vector"], "properties": {
                "id": {"type": "integer", "minimum": 0, "maximum": u64::MAX},
                "vector": {"$ref": "#/components/schemas/Vector"},
                "labels": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": u32::MAX}},
                "attrs": {"type": "object", "additionalProperties": {"type": "number"}}}},
            "UpsertRequest": {"type": "object", "additionalProperties": false, "required": ["points"], "properties": {
                "points": {"type": "array", "minItems": 1, "maxItems": cfg.max_points,
                           "items": {"$ref": "#/components/schemas/Point"}}}},
            "UpsertResponse": {"type": "object", "required": ["upserted", "replaced", "seq"], "properties": {
                "upserted": int, "replaced": int, "seq": int}},
            "DeleteRequest": {"type": "object", "additionalProperties": false, "required": ["ids"], "properties": {
                "ids": {"type": "array", "minItems": 1, "maxItems": cfg.max_points,
                        "items": {"type": "integer", "minimum": 0, "maximum": u64::MAX}}}},
            "DeleteResponse": {"type": "object", "required": ["deleted", "seq"], "properties": {
                "deleted": int, "seq": int}},
            "FlushReport": {"type": "object",
                "required": ["partitions", "vectors", "removed", "bytes_written", "applied_seq", "reclaimed_bytes", "splits", "secs"],
                "properties": {"partitions": int, "vectors": int, "removed": int, "bytes_written": int,
                               "applied_seq": int, "reclaimed_bytes": int, "splits": int, "secs": {"type": "number"}}},
            "Health": {"type": "object", "required": ["status"], "properties": {
                "status": {"type": "string", "enum": ["ready", "starting", "draining", "failed"]},
                "detail": {"type": "string"}}},
            "Error": {"type": "object", "required": ["error", "status"], "properties": {
                "error": {"type": "string"}, "status": {"type": "integer"}}},
        }},
    });
    if keyed {
        doc["components"]["securitySchemes"] =
            json!({"bearer": {"type": "http", "scheme": "bearer"}});
    }
    doc
}

/// (method, path) of every operation the document describes.
pub fn documented_routes(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (p, ops) in paths {
            if let Some(ops) = ops.as_object() {
                for m in ops.keys() {
                    out.push((m.clone(), p.clone()));
                }
            }
        }
    }
    out
}
