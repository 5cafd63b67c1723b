//! The REST calc on axum: `GET /api/{op}/{a}/{b}` with the class's JSON keys.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

async fn calc(Path((op, a, b)): Path<(String, String, String)>) -> Response {
    let (Ok(a), Ok(b)) = (a.trim().parse::<i64>(), b.trim().parse::<i64>()) else {
        return (StatusCode::BAD_REQUEST, "not integers").into_response();
    };
    let body: Value = match op.as_str() {
        "soma" => a.checked_add(b).map(|v| json!({"A soma: ": v})),
        "sub" => a.checked_sub(b).map(|v| json!({"A subtração:": v})),
        "mult" => a.checked_mul(b).map(|v| json!({"A multiplicação": v})),
        #[allow(clippy::cast_precision_loss)]
        "div" if b != 0 => Some(json!({"A Divisão": a as f64 / b as f64})),
        _ => None,
    }
    .unwrap_or(Value::Null);
    if body.is_null() {
        return (StatusCode::BAD_REQUEST, "bad operation").into_response();
    }
    Json(body).into_response()
}

#[tokio::main]
async fn main() {
    let listener = commlab_peers::listen().await;
    let app = Router::new().route("/api/{op}/{a}/{b}", get(calc));
    axum::serve(listener, app).await.expect("serve");
}
