//! Interop with Python's standard library, both directions: Python's
//! `xmlrpc.client` calls our server (both engines); our `rpc client` and
//! `rpc call` call Python's `SimpleXMLRPCServer`.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;

const PYTHON_CLIENT: &str = r#"
import sys, datetime, xmlrpc.client as x
s = x.ServerProxy(sys.argv[1], allow_none=True, use_builtin_types=True)
assert s.add(20, 5) == 25
assert s.sub(4, 5) == -1
assert s.mul(8, 0.5) == 4.0
assert s.pow(2, 10) == 1024 and s.pow(2, -1) == 0.5
assert s.div(15, 10) == 1.5
r = s.add(2**31 - 1, 1); assert r == 2**31 and type(r) is int, r
r = s.mul(2**31 - 1, 2**31 - 1); assert r == (2**31 - 1)**2, r
assert s.calc(20, 5) == {'add': 25, 'sub': 15, 'mul': 100, 'pow': 3200000, 'div': 4.0}
def fault(fn, *a):
    try:
        fn(*a)
    except x.Fault as f:
        return f.faultCode
    raise AssertionError('no fault for %r' % (a,))
assert fault(s.div, 1, 0) == 1
assert fault(s.pow, 10, 19) == 2
assert fault(s.nope) == -32601
assert fault(s.add, 1) == -32602
assert fault(s.add, 'a', 1) == -32602
values = [0, -2**31, 2**31 - 1, True, False, 'texto <&> ]]> ção\t\n', '', 1.5, -0.25, 1e300,
          datetime.datetime(2026, 12, 1, 10, 0, 0), b'\x00\xffbytes', {'a': [1, {'b': None}]},
          [], [1, 'two', 3.0], None, {}]
for v in values:
    got = s.echo(v)
    assert got == v and type(got) is type(v), (v, got)
methods = s.system.listMethods()
assert {'add', 'sub', 'mul', 'pow', 'div', 'calc', 'system.multicall'} <= set(methods), methods
assert 'true division' in s.system.methodHelp('div')
assert s.system.methodSignature('add')[0] == ['int', 'int', 'int']
m = x.MultiCall(s)
m.add(1, 2); m.calc(3, 4); m.div(1, 0)
res = m()
assert res[0] == 3 and res[1]['mul'] == 12
try:
    res[2]
    raise AssertionError('multicall fault not raised')
except x.Fault as f:
    assert f.faultCode == 1
print('python client: all checks passed')
"#;

fn python() -> Command {
    Command::new("python3")
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs Python (python3), which the Windows test run has not"
)]
fn python_xmlrpc_client_calls_our_server_on_both_engines() {
    for (engine, loops) in common::SETUPS {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let server = commlab::rpc::start_loops(engine, listener, loops, |_| {}).unwrap();
        let url = format!("http://127.0.0.1:{}/RPC2", server.local_addr().port());
        let out = python()
            .args(["-c", PYTHON_CLIENT, &url])
            .output()
            .expect("python3 runs");
        assert!(
            out.status.success(),
            "engine {engine}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "python client: all checks passed"
        );
        server.shutdown();
    }
}

const PYTHON_SERVER: &str = r#"
import sys
from xmlrpc.server import SimpleXMLRPCServer
srv = SimpleXMLRPCServer(('127.0.0.1', 0), logRequests=False, allow_none=True)
srv.register_introspection_functions()
if sys.argv[1] == 'multicall':
    srv.register_multicall_functions()
srv.register_function(lambda a, b: a + b, 'add')
srv.register_function(lambda a, b: a - b, 'sub')
srv.register_function(lambda a, b: a * b, 'mul')
srv.register_function(lambda a, b: a ** b, 'pow')
srv.register_function(lambda a, b: a / b, 'div')
print(srv.server_address[1], flush=True)
srv.serve_forever()
"#;

struct PyServer(Child, u16);

impl Drop for PyServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_server(multicall: bool) -> PyServer {
    let mode = if multicall { "multicall" } else { "plain" };
    let mut child = python()
        .args(["-c", PYTHON_SERVER, mode])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("python prints its port");
    PyServer(child, port)
}

fn run(args: &[&str]) -> (bool, String, String) {
    let out = commlab(args).wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs Python (python3), which the Windows test run has not"
)]
fn our_client_calls_pythons_server_with_and_without_multicall() {
    for multicall in [true, false] {
        let py = python_server(multicall);
        let url = format!("http://127.0.0.1:{}/RPC2", py.1);
        let (ok, out, err) = run(&["rpc", "client", "--url", &url, "20", "5"]);
        assert!(ok, "{err}");
        assert_eq!(
            out,
            "Somar:  25\nSubtrair:  15\nMultiplicar:  100\nPotência:  3200000\nDividir:  4.0\n",
            "multicall {multicall}"
        );
        let (ok, out, _) = run(&["rpc", "client", "--url", &url, "1", "0"]);
        assert!(ok);
        assert!(
            out.contains("Dividir:  erro: <class 'ZeroDivisionError'>:division by zero (fault 1)"),
            "{out}"
        );
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs Python (python3), which the Windows test run has not"
)]
fn one_result_python_cannot_send_still_leaves_the_other_four() {
    // pow(15, 10) passes 32 bits: Python faults the whole multicall
    // (OverflowError), so the client asks once per operation.
    for multicall in [true, false] {
        let py = python_server(multicall);
        let url = format!("http://127.0.0.1:{}/RPC2", py.1);
        let (ok, out, err) = run(&["rpc", "client", "--url", &url, "15", "10"]);
        assert!(ok, "{err}");
        assert_eq!(
            out,
            "Somar:  25\nSubtrair:  5\nMultiplicar:  150\nPotência:  erro: <class 'OverflowError'>:int exceeds XML-RPC limits (fault 1)\nDividir:  1.5\n",
            "multicall {multicall}"
        );
        assert_eq!(err, "");
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs Python (python3), which the Windows test run has not"
)]
fn rpc_call_talks_to_pythons_server() {
    let py = python_server(true);
    let url = format!("http://127.0.0.1:{}/RPC2", py.1);
    let (ok, out, _) = run(&["rpc", "call", "--url", &url, "add", "2", "3"]);
    assert!(ok);
    assert_eq!(out, "5\n");
    let (ok, out, _) = run(&["rpc", "call", "--url", &url, "add", "2.5", "-1"]);
    assert!(ok);
    assert_eq!(out, "1.5\n");
    let (ok, out, _) = run(&[
        "rpc", "call", "--url", &url, "--json", "add", "[1]", "[2, 3]",
    ]);
    assert!(ok);
    assert_eq!(out, "[1,2,3]\n");
    let (ok, out, _) = run(&["rpc", "call", "--url", &url, "system.listMethods"]);
    assert!(ok);
    assert!(
        out.contains("\"add\"") && out.contains("\"system.multicall\""),
        "{out}"
    );
    let (ok, _, err) = run(&["rpc", "call", "--url", &url, "div", "1", "0"]);
    assert!(!ok);
    assert!(
        err.contains("fault 1: <class 'ZeroDivisionError'>:division by zero"),
        "{err}"
    );
}
