//! The tour of exercise 4: the XML-RPC calculator.

use anyhow::bail;

use super::Transcript;
use crate::Engine;

/// Exercise 4: the XML-RPC calculator, called as the class's client does,
/// plus a fault, introspection and a multicall.
pub(super) fn rpc(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::xmlrpc::{Value, DIVISION_BY_ZERO, METHOD_NOT_FOUND};
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let server = crate::Server::start_traced(
        engine,
        listener,
        commlab_core::xmlrpc::RpcServer::new(commlab_core::xmlrpc::RpcHandler::new(
            commlab_core::xmlrpc::calculator(),
        )),
        log.access_log(),
        log.tracer(commlab_core::trace::Wire::Http),
    )?;
    let url = format!("http://127.0.0.1:{}/RPC2", server.local_addr().port());
    let mut client = crate::rpc::RpcClient::new(&url, false)?;
    log.push(format!("client > 1o numero: 20 / 2o numero: 5   ({url})"));
    let lines = crate::rpc::calculator_lines(&mut client, Value::Int(20), Value::Int(5))?;
    let want = [
        "Somar:  25",
        "Subtrair:  15",
        "Multiplicar:  100",
        "Potência:  3200000",
        "Dividir:  4.0",
    ];
    for (got, want) in lines.iter().zip(want) {
        log.push(format!("client < {got}"));
        if got != want {
            bail!("expected '{want}', got '{got}'");
        }
        log.check();
    }
    let mut expect =
        |method: &str, params: Vec<Value>, want: Result<Value, i32>| -> anyhow::Result<()> {
            let shown: Vec<String> = params.iter().map(ToString::to_string).collect();
            log.push(format!("client > {method}({})", shown.join(", ")));
            let got = client.call(method, &params)?;
            match &got {
                Ok(v) => log.push(format!("client < {v}")),
                Err(f) => log.push(format!("client < Fault {}: {}", f.code, f.message)),
            }
            match (got, want) {
                (Ok(v), Ok(w)) if v == w => {}
                (Err(f), Err(code)) if f.code == code => {}
                (got, want) => {
                    let show = |r: Result<String, String>| r.unwrap_or_else(|e| e);
                    bail!(
                        "{method}: expected {}, got {}",
                        show(
                            want.map(|v| v.to_string())
                                .map_err(|c| format!("fault {c}"))
                        ),
                        show(got.map(|v| v.to_string()).map_err(|f| f.to_string()))
                    )
                }
            }
            log.check();
            Ok(())
        };
    expect(
        "div",
        vec![Value::Int(15), Value::Int(10)],
        Ok(Value::Double(1.5)),
    )?;
    expect(
        "div",
        vec![Value::Int(1), Value::Int(0)],
        Err(DIVISION_BY_ZERO),
    )?;
    expect(
        "mul",
        vec![Value::I8(1 << 40), Value::Int(1 << 20)],
        Ok(Value::I8(1 << 60)),
    )?;
    expect("raiz", vec![Value::Int(4)], Err(METHOD_NOT_FOUND))?;
    let calc = client.call("calc", &[Value::Double(2.5), Value::Int(2)])?;
    log.push("client > calc(2.5, 2)".into());
    log.push(format!(
        "client < {}",
        calc.as_ref()
            .map_or_else(ToString::to_string, ToString::to_string)
    ));
    if calc.ok().and_then(|v| v.member("pow").cloned()) != Some(Value::Double(6.25)) {
        bail!("calc(2.5, 2) did not give pow 6.25");
    }
    log.check();
    server.shutdown();
    Ok(())
}
