//! The XML-RPC calculator on `dxr_server` (axum): `add`, `sub`, `mult`,
//! `div`, `pow` at `/RPC2`, faults on overflow and division by zero.

use axum::http::HeaderMap;
use dxr::{Fault, TryFromParams, TryToValue, Value};
use dxr_server::{HandlerFn, HandlerResult, RouteBuilder, Server};

fn operands(params: &[Value]) -> Result<(i32, i32), Fault> {
    <(i32, i32)>::try_from_params(params).map_err(Fault::from)
}

fn int(v: Option<i32>) -> HandlerResult {
    v.ok_or_else(|| Fault::new(3, "integer overflow".into()))?
        .try_to_value()
        .map_err(Fault::from)
}

fn add(params: &[Value], _: HeaderMap) -> HandlerResult {
    let (a, b) = operands(params)?;
    int(a.checked_add(b))
}

fn sub(params: &[Value], _: HeaderMap) -> HandlerResult {
    let (a, b) = operands(params)?;
    int(a.checked_sub(b))
}

fn mult(params: &[Value], _: HeaderMap) -> HandlerResult {
    let (a, b) = operands(params)?;
    int(a.checked_mul(b))
}

fn pow(params: &[Value], _: HeaderMap) -> HandlerResult {
    let (a, b) = operands(params)?;
    int(u32::try_from(b).ok().and_then(|b| a.checked_pow(b)))
}

fn div(params: &[Value], _: HeaderMap) -> HandlerResult {
    let (a, b) = operands(params)?;
    if b == 0 {
        return Err(Fault::new(1, "division by zero".into()));
    }
    (f64::from(a) / f64::from(b))
        .try_to_value()
        .map_err(Fault::from)
}

#[tokio::main]
async fn main() {
    let listener = commlab_peers::listen().await;
    let route = RouteBuilder::new()
        .set_path("/RPC2")
        .add_method("add", Box::new(add as HandlerFn))
        .add_method("sub", Box::new(sub as HandlerFn))
        .add_method("mult", Box::new(mult as HandlerFn))
        .add_method("div", Box::new(div as HandlerFn))
        .add_method("pow", Box::new(pow as HandlerFn))
        .build();
    Server::from_route(route)
        .serve_listener(listener)
        .await
        .expect("serve");
}
