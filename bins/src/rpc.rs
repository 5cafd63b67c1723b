//! Exercise 4: `commlab rpc server`, `commlab rpc client` and `commlab rpc call`.

use std::io::{BufRead as _, Write as _};
use std::time::Duration;

use anyhow::{bail, Context as _};
use commlab_core::http1::HttpEvent;
use commlab_core::trace::Wire;
use commlab_core::xmlrpc::{
    calculator, decode_multicall, decode_response, encode_call, encode_multicall, RpcFault,
    RpcHandler, RpcServer, Value,
};

use crate::http_client::HttpLink;
use crate::tls::TlsClientArgs;
use crate::{log_time, Engine, ServeArgs, Server, Stop};

/// The class's port for the XML-RPC exercise.
pub const PORT: u16 = 8005;
/// The class's address for the XML-RPC exercise (the first address
/// `localhost` resolves to, as Python's server binds).
pub const HOST: &str = "localhost";
/// Largest response body the client reads.
pub const MAX_RESPONSE: u64 = 64 * 1024 * 1024;
/// How long one call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `commlab rpc server`.
#[derive(Debug, Clone, clap::Args)]
#[command(mut_arg("host", |a| a.default_value(HOST)), mut_arg("port", |a| a.default_value("8005")))]
pub struct ServerArgs {
    /// Listening options.
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Limits on slow clients.
    #[command(flatten)]
    pub slow: crate::serve::SlowClientArgs,
}

/// Options of `commlab rpc client`.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientArgs {
    /// The server's XML-RPC endpoint.
    #[arg(long, default_value = "http://localhost:8005/RPC2")]
    pub url: String,
    /// First number (asked for when missing).
    #[arg(allow_hyphen_values = true)]
    pub x: Option<String>,
    /// Second number (asked for when missing).
    #[arg(allow_hyphen_values = true)]
    pub y: Option<String>,
    /// Show every request and response as it crosses the wire, on stderr.
    #[arg(long)]
    pub trace: bool,
    /// Whom to trust for `https://` URLs.
    #[command(flatten)]
    pub tls: TlsClientArgs,
}

/// Options of `commlab rpc call`.
#[derive(Debug, Clone, clap::Args)]
pub struct CallArgs {
    /// The server's XML-RPC endpoint.
    #[arg(long, default_value = "http://localhost:8005/RPC2")]
    pub url: String,
    /// Read each argument as JSON (objects become structs, arrays arrays,
    /// null nil) and print the result as JSON.
    #[arg(long)]
    pub json: bool,
    /// Show the request and response as they cross the wire, on stderr.
    #[arg(long)]
    pub trace: bool,
    /// Whom to trust for `https://` URLs.
    #[command(flatten)]
    pub tls: TlsClientArgs,
    /// The method, e.g. `add` or `system.listMethods`.
    pub method: String,
    /// Arguments: ints, doubles, true/false, anything else a string.
    #[arg(allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// The access-log line Python's server prints for an event.
pub fn access_log(event: &HttpEvent, when: &str) -> String {
    match event {
        HttpEvent::Served {
            peer,
            request_line,
            status,
            ..
        } => format!(
            "{} - - [{when}] \"{request_line}\" {} -",
            peer.ip(),
            status.0
        ),
        HttpEvent::Rejected { peer, error, .. } => format!(
            "{} - - [{when}] code {}, message {}",
            peer.ip(),
            error.status.0,
            error.message
        ),
        HttpEvent::Dropped { peer, reason, .. } => {
            format!("{} - - [{when}] connection dropped: {reason}", peer.ip())
        }
    }
}

/// Starts the calculator server on `listener`; events go to `on_event`.
pub fn start(
    engine: Engine,
    listener: std::net::TcpListener,
    on_event: impl FnMut(HttpEvent) + Send + 'static,
) -> std::io::Result<Server<RpcServer>> {
    Server::start(
        engine,
        listener,
        RpcServer::new(RpcHandler::new(calculator())),
        on_event,
    )
}

/// [`start`] on `loops` event loops of `engine` (one on std), each with
/// its own calculator; each loop's events go to a clone of `on_event`.
pub fn start_loops(
    engine: Engine,
    listener: std::net::TcpListener,
    loops: usize,
    on_event: impl FnMut(HttpEvent) + Send + Clone + 'static,
) -> std::io::Result<Server<RpcServer>> {
    let service = || RpcServer::new(RpcHandler::new(calculator()));
    Server::start_each(engine, listener, loops, service, on_event)
}

/// Runs `commlab rpc server` until Ctrl-C.
pub fn run_server(args: &ServerArgs) -> anyhow::Result<()> {
    let stop = Stop::on_ctrl_c()?;
    let listener = args.serve.bind(HOST, PORT)?;
    let quiet = args.serve.quiet;
    let service = || {
        RpcServer::new(RpcHandler::new(calculator()))
            .with_http(args.slow.http_config())
            .report_served(!quiet)
    };
    let on_event = move |_: &mut _, e| {
        if !(quiet && matches!(e, HttpEvent::Served { .. })) {
            eprintln!("{}", access_log(&e, &log_time()));
        }
    };
    let tracer = args.serve.tracer(Wire::Http);
    let (server, tls) = args
        .serve
        .start_loops(listener, || (service(), on_event), tracer)?;
    let addr = server.local_addr();
    eprintln!(
        "[commlab] XML-RPC calculator on {}://{}:{}/RPC2 (add, sub, mul, pow, div, calc; system.*). Ctrl-C stops.",
        if tls { "https" } else { "http" },
        url_host(args.serve.host_or(HOST)),
        addr.port()
    );
    stop.serve(&server, "")
}

/// `host` as a URL writes it: an IPv6 address in brackets (`[::1]`), any
/// other host as it is.
pub fn url_host(host: &str) -> std::borrow::Cow<'_, str> {
    if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]").into()
    } else {
        host.into()
    }
}

/// An XML-RPC client (keep-alive across calls): core builds and parses
/// the XML, [`HttpLink`] carries it.
#[derive(Debug)]
pub struct RpcClient {
    link: HttpLink,
    url: String,
}

impl RpcClient {
    /// A client for `url`; `trace` shows its wire (`--trace`); an
    /// `https://` URL is checked against the web's roots.
    pub fn new(url: &str, trace: bool) -> anyhow::Result<Self> {
        Self::with_tls(url, trace, &TlsClientArgs::default())
    }

    /// [`new`](Self::new), an `https://` URL checked as `tls` says.
    pub fn with_tls(url: &str, trace: bool, tls: &TlsClientArgs) -> anyhow::Result<Self> {
        Ok(Self {
            link: HttpLink::new(url, CALL_TIMEOUT, MAX_RESPONSE, trace, tls)?,
            url: url.to_owned(),
        })
    }

    /// Calls `method`: the outer error is transport or protocol trouble,
    /// the inner one a fault the server answered with.
    pub fn call(
        &mut self,
        method: &str,
        params: &[Value],
    ) -> anyhow::Result<Result<Value, RpcFault>> {
        let body = encode_call(method, params)?;
        let path = self.link.path().to_owned();
        let resp = self
            .link
            .request("POST", &path, Some("text/xml"), body.as_bytes())?;
        if resp.status != 200 {
            let text = String::from_utf8_lossy(&resp.body);
            bail!(
                "{} answered HTTP {}: {}",
                self.url,
                resp.status,
                text.trim()
            );
        }
        decode_response(&resp.body)
            .with_context(|| format!("{} sent an invalid XML-RPC answer", self.url))
    }

    /// Calls each `(method, params)` in one `system.multicall`, or one by
    /// one when the multicall as a whole answers a fault: a server without
    /// multicall (like the class's own), or one that cannot send one of the
    /// results (Python's faults the whole answer when `pow(15, 10)` passes
    /// 32 bits), so every result and every fault still comes back.
    pub fn call_all(
        &mut self,
        calls: &[(&str, Vec<Value>)],
    ) -> anyhow::Result<Vec<Result<Value, RpcFault>>> {
        match self.call("system.multicall", &encode_multicall(calls))? {
            Ok(result) => decode_multicall(result, calls.len())
                .with_context(|| format!("{} sent an invalid system.multicall answer", self.url)),
            Err(_) => calls.iter().map(|(m, p)| self.call(m, p)).collect(),
        }
    }
}

/// Reads a number as the class's client does: an int, else a double.
pub fn parse_number(text: &str) -> anyhow::Result<Value> {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(i32::try_from(i).map_or(Value::I8(i), Value::Int));
    }
    match t.replace(',', ".").parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(Value::Double(f)),
        _ => bail!("'{text}' is not a number"),
    }
}

fn ask(prompt: &str) -> anyhow::Result<String> {
    print!("{prompt}");
    std::io::stdout().flush()?;
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line)? == 0 {
        bail!("end of input before a number was typed");
    }
    Ok(line.trim().to_owned())
}

/// The class client's five operations and labels.
pub const OPERATIONS: [(&str, &str); 5] = [
    ("add", "Somar"),
    ("sub", "Subtrair"),
    ("mul", "Multiplicar"),
    ("pow", "Potência"),
    ("div", "Dividir"),
];

/// The class client's output lines for x and y (`Somar:  25`, ...).
pub fn calculator_lines(client: &mut RpcClient, x: Value, y: Value) -> anyhow::Result<Vec<String>> {
    let calls: Vec<(&str, Vec<Value>)> = OPERATIONS
        .iter()
        .map(|(m, _)| (*m, vec![x.clone(), y.clone()]))
        .collect();
    let results = client.call_all(&calls)?;
    Ok(OPERATIONS
        .iter()
        .zip(results)
        .map(|((_, label), r)| match r {
            Ok(v) => format!("{label}:  {v}"),
            Err(f) => format!("{label}:  erro: {} (fault {})", f.message, f.code),
        })
        .collect())
}

/// Runs `commlab rpc client`.
pub fn run_client(args: &ClientArgs) -> anyhow::Result<()> {
    let x = match &args.x {
        Some(x) => x.clone(),
        None => ask("1o numero: ")?,
    };
    let y = match &args.y {
        Some(y) => y.clone(),
        None => ask("2o numero: ")?,
    };
    let (x, y) = (parse_number(&x)?, parse_number(&y)?);
    let mut client = RpcClient::with_tls(&args.url, args.trace, &args.tls)?;
    for line in calculator_lines(&mut client, x, y)? {
        println!("{line}");
    }
    Ok(())
}

/// An argument of `rpc call`: int, double, boolean, else string.
pub fn parse_arg(text: &str) -> Value {
    match text {
        "true" | "True" => return Value::Bool(true),
        "false" | "False" => return Value::Bool(false),
        _ => {}
    }
    parse_number(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// A JSON value as an XML-RPC value.
pub fn from_json(j: &serde_json::Value) -> anyhow::Result<Value> {
    Ok(match j {
        serde_json::Value::Null => Value::Nil,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i32::try_from(i).map_or(Value::I8(i), Value::Int),
            (None, Some(f)) => Value::Double(f),
            _ => bail!("{n} does not fit in 64 bits"),
        },
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => {
            Value::Array(a.iter().map(from_json).collect::<anyhow::Result<_>>()?)
        }
        serde_json::Value::Object(o) => Value::Struct(
            o.iter()
                .map(|(k, v)| Ok((k.clone(), from_json(v)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
    })
}

/// An XML-RPC value as JSON (base64 as a string, dateTime as its text).
pub fn to_json(v: &Value) -> serde_json::Value {
    use base64::Engine as _;
    match v {
        Value::Int(i) => (*i).into(),
        Value::I8(i) => (*i).into(),
        Value::Bool(b) => (*b).into(),
        Value::String(s) | Value::DateTime(s) => s.clone().into(),
        Value::Double(d) => {
            serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into)
        }
        Value::Base64(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
        Value::Struct(m) => {
            serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        Value::Array(a) => a.iter().map(to_json).collect(),
        Value::Nil => serde_json::Value::Null,
    }
}

/// Runs `commlab rpc call`; a fault is printed and makes the exit code 1.
pub fn run_call(args: &CallArgs) -> anyhow::Result<()> {
    let params = args
        .args
        .iter()
        .map(|a| {
            if args.json {
                let j: serde_json::Value =
                    serde_json::from_str(a).with_context(|| format!("'{a}' is not JSON"))?;
                from_json(&j)
            } else {
                Ok(parse_arg(a))
            }
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    match RpcClient::with_tls(&args.url, args.trace, &args.tls)?.call(&args.method, &params)? {
        Ok(v) if args.json => println!("{}", to_json(&v)),
        Ok(v) => println!("{v}"),
        Err(f) => bail!("{} answered {f}", args.url),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::url_host;

    #[test]
    fn an_ipv6_host_is_bracketed_in_a_url() {
        assert_eq!(url_host("::1"), "[::1]");
        assert_eq!(url_host("127.0.0.1"), "127.0.0.1");
        assert_eq!(url_host("localhost"), "localhost");
    }
}
