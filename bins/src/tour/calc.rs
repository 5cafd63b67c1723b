//! The tour of exercise 6: the REST calc client against a local server.

use std::time::Duration;

use anyhow::bail;

use super::Transcript;
use crate::Engine;

/// Exercise 6: the class's calc client against a local calc server.
pub(super) fn calc(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::calc::Op;
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    let server = crate::Server::start_traced(
        engine,
        listener,
        commlab_core::calc::CalcServer::new(commlab_core::calc::CalcHandler::new("/api")),
        log.access_log(),
        log.tracer(commlab_core::trace::Wire::Http),
    )?;
    let base = format!("http://{}/api", server.local_addr());
    let timeout = Duration::from_secs(5);
    for (op, a, b, want) in [
        (Op::Soma, "4", "5", "{'A soma: ': 9}"),
        (Op::Sub, "4", "5", "{'A subtração:': -1}"),
        (Op::Mult, "8", "5", "{'A multiplicação': 40}"),
        (Op::Div, "4", "5", "{'A Divisão': 0.8}"),
    ] {
        log.push(format!(
            "client > GET {}",
            commlab_core::calc::request_url(&base, op, a, b)
        ));
        let (answer, raw) =
            crate::calc::call(&base, op, a, b, timeout, false, &Default::default())?;
        log.push(format!("client < {raw}  ->  {}", answer.python_dict()));
        if answer.python_dict() != want {
            bail!("expected {want}, got {}", answer.python_dict());
        }
        log.check();
    }
    log.push("client > GET .../div/1/0".into());
    match crate::calc::call(
        &base,
        Op::Div,
        "1",
        "0",
        timeout,
        false,
        &Default::default(),
    ) {
        Err(e) if format!("{e:#}").contains("HTTP 400: division by zero") => {
            log.push(format!("client < error: {e:#}"));
            log.check();
        }
        Ok((_, body)) => bail!("division by zero should be HTTP 400, got the answer {body}"),
        Err(e) => bail!("division by zero should be HTTP 400, got: {e:#}"),
    }
    server.shutdown();
    Ok(())
}
