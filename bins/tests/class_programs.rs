//! The handout's own programs (`tests/class/`, as the class wrote them,
//! only the port taken as an argument) against commlab, and commlab
//! against them, on both engines: exercises 1 (socket), 2 (WebSocket
//! examples 1 and 2), 4 (XML-RPC) and 5 (raw file transfer). The class's
//! example 2 page in a browser is in `browser.rs`.
//!
//! Needs `python3`; the WebSocket examples also need Python's
//! `websockets` 12.0, installed on first use into a virtual environment
//! under `target/` (PyPI once).

mod common;

use std::fs;

use common::class::{python, websockets_program};
use common::process::{free_port, wait_listening, Proc, TempDir};
use common::ENGINES;

// ------------------------------------------------------------ exercise 1

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_class_socket_client_talks_to_commlab_in_echo_and_chat_modes() {
    for engine in ENGINES {
        let engine = engine.to_string();
        // Echo: the class's example, answered as the class's server does.
        let (mut server, addr) =
            Proc::commlab_server(&["chat", "server", "--mode", "echo", "--engine", &engine]);
        let mut client = Proc::spawn(
            "client.py",
            python("socket/client.py").arg(addr.port().to_string()),
        );
        client.wait_out("Digite uma mensagem\n");
        client.type_in("Olá\n");
        client.wait_out("Server recebeu: Eco=>Olá\nDigite uma mensagem\n");
        client.type_in("Bom dia\n");
        let out = client.wait_out("Server recebeu: Eco=>Bom dia\n");
        assert_eq!(
            out,
            "Digite uma mensagem\nServer recebeu: Eco=>Olá\nDigite uma mensagem\nServer recebeu: Eco=>Bom dia\nDigite uma mensagem\n",
            "{engine}: the handout's transcript, line for line"
        );
        let log = server.wait_out("Cliente enviou: Bom dia\n");
        assert!(
            log.contains("Server conectado por ('127.0.0.1', ")
                && log.contains("Cliente enviou: Olá\n"),
            "{engine}: {log}"
        );
        drop(client);
        assert!(server.interrupt().success());

        // Chat: the client speaks first, the operator answers at the console.
        let (mut server, addr) =
            Proc::commlab_server(&["chat", "server", "--mode", "chat", "--engine", &engine]);
        let mut client = Proc::spawn(
            "client.py",
            python("socket/client.py").arg(addr.port().to_string()),
        );
        client.wait_out("Digite uma mensagem\n");
        client.type_in("Olá, servidor\n");
        server.wait_out("Cliente enviou: Olá, servidor\n");
        server.type_in("Oi, cliente!\n");
        client.wait_out("Server recebeu: Oi, cliente!\nDigite uma mensagem\n");
        client.type_in("Tudo bem?\n");
        server.wait_out("Cliente enviou: Tudo bem?\n");
        server.type_in("Tudo!\n");
        client.wait_out("Server recebeu: Tudo!\nDigite uma mensagem\n");
        drop(client);
        assert!(server.interrupt().success());
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_commlab_chat_client_talks_to_the_class_socket_server() {
    let port = free_port();
    let server = Proc::spawn(
        "server.py",
        python("socket/server.py").arg(port.to_string()),
    );
    wait_listening(port);
    let mut client = Proc::commlab(&["chat", "client", "--port", &port.to_string()]);
    client.type_in("Olá\n");
    client.wait_out("Server recebeu: Eco=>Olá\n");
    client.type_in("Bom dia\n");
    client.wait_out("Server recebeu: Eco=>Bom dia\n");
    let log = server.wait_out("Cliente enviou: Bom dia");
    assert!(
        log.starts_with("Server conectado por ('127.0.0.1', "),
        "{log}"
    );
    assert!(log.contains("Cliente enviou: Olá"), "{log}");
    // Stopped here, as the class's own client is (with Ctrl-C): once a
    // client half-closes, the class's server answers every empty read with
    // "Eco=>", forever.
}

// ------------------------------------------------------------ exercise 2

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_class_example1_client_gets_its_greeting_from_hello_mode() {
    for engine in ENGINES {
        let engine = engine.to_string();
        let (mut server, addr) =
            Proc::commlab_server(&["ws", "server", "--mode", "hello", "--engine", &engine]);
        let mut client = Proc::spawn(
            "example 1 client.py",
            websockets_program("websocket/example1/client.py").arg(addr.port().to_string()),
        );
        client.wait_out("Qual seu nome? ");
        client.type_in("Marcos\n");
        assert!(client.wait_exit().success(), "{}", client.err.text());
        assert_eq!(
            client.out.text(),
            "Qual seu nome? > Marcos\n< Ola Marcos!\n",
            "{engine}"
        );
        let out = server.wait_out("> Ola Marcos!\n");
        assert!(
            out.ends_with("< Marcos\n> Ola Marcos!\n"),
            "{engine}: {out}"
        );
        assert!(server.interrupt().success());
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_commlab_hello_client_talks_to_the_class_example1_server() {
    let port = free_port();
    let server = Proc::spawn(
        "example 1 server.py",
        websockets_program("websocket/example1/server.py").arg(port.to_string()),
    );
    wait_listening(port);
    let mut client = Proc::commlab(&[
        "ws",
        "client",
        "hello",
        "--url",
        &format!("ws://localhost:{port}"),
    ]);
    client.wait_out("Qual seu nome? ");
    client.type_in("Marcos\n");
    assert!(client.wait_exit().success(), "{}", client.err.text());
    assert_eq!(
        client.out.text(),
        "Qual seu nome? > Marcos\n< Ola Marcos!\n"
    );
    server.wait_out("< Marcos\n> Ola Marcos!\n");
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_commlab_client_lists_what_the_class_example2_server_pushes() {
    let port = free_port();
    let mut server = Proc::spawn(
        "example 2 server.py",
        websockets_program("websocket/example2/server.py").arg(port.to_string()),
    );
    wait_listening(port);
    let mut client = Proc::commlab(&[
        "ws",
        "client",
        "listen",
        "--count",
        "2",
        "--url",
        &format!("ws://127.0.0.1:{port}/"),
    ]);
    // The class's handler asks for a line once a client is connected.
    server.wait_out("Mensagem: ");
    server.type_in("Olá, turma\n");
    client.wait_out("Olá, turma\n");
    server.wait_out("Mensagem: Mensagem: ");
    server.type_in("Até amanhã\n");
    assert!(client.wait_exit().success(), "{}", client.err.text());
    assert_eq!(client.out.text(), "Olá, turma\nAté amanhã\n");
}

// ------------------------------------------------------------ exercise 4

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_class_rpc_client_sums_on_the_commlab_server() {
    for engine in ENGINES {
        let engine = engine.to_string();
        let (mut server, addr) =
            Proc::commlab_server(&["rpc", "server", "--host", "127.0.0.1", "--engine", &engine]);
        let mut client = Proc::spawn(
            "Client.py",
            python("rpc/Client.py").arg(addr.port().to_string()),
        );
        client.type_in("15\n10\n");
        assert!(client.wait_exit().success(), "{}", client.err.text());
        assert_eq!(
            client.out.text(),
            "1o numero: 2o numero: Somar:  25\n",
            "{engine}"
        );
        server.wait_err("\"POST /RPC2 HTTP/1.1\" 200 -");
        assert!(server.interrupt().success());
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_commlab_rpc_client_prints_every_line_against_the_class_server() {
    let port = free_port();
    let server = Proc::spawn("Server.py", python("rpc/Server.py").arg(port.to_string()));
    wait_listening(port);
    // The class's server has only add (and introspection, no multicall):
    // one call per operation, a fault line for each missing one.
    for url in [
        format!("http://localhost:{port}/RPC2"),
        format!("http://127.0.0.1:{port}/RPC2"),
    ] {
        let mut client = Proc::commlab(&["rpc", "client", "--url", &url, "15", "10"]);
        assert!(client.wait_exit().success(), "{}", client.err.text());
        let missing = |label: &str, method: &str| {
            format!("{label}:  erro: <class 'Exception'>:method \"{method}\" is not supported (fault 1)\n")
        };
        assert_eq!(
            client.out.text(),
            format!(
                "Somar:  25\n{}{}{}{}",
                missing("Subtrair", "sub"),
                missing("Multiplicar", "mul"),
                missing("Potência", "pow"),
                missing("Dividir", "div")
            ),
            "{url}"
        );
        assert_eq!(client.err.text(), "", "no error output");
    }
    // The class's server printed the sum of each add it ran.
    server.wait_out("25\n25\n");
}

// ------------------------------------------------------------ exercise 5

/// Bytes that look like nothing in particular (xorshift).
fn spreadsheet(n: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_class_raw_client_downloads_from_commlab_ft_raw() {
    for engine in ENGINES {
        let engine = engine.to_string();
        let dir = TempDir::new(&format!("class-ft-client-{engine}"));
        let data = spreadsheet(300_007);
        let served = dir.0.join("FT_teste.xlsx");
        fs::write(&served, &data).unwrap();
        let (mut server, addr) = Proc::commlab_server(&[
            "ft",
            "server",
            "--engine",
            &engine,
            "--raw",
            served.to_str().unwrap(),
        ]);
        let work = dir.0.join("cliente");
        fs::create_dir_all(&work).unwrap();
        let mut client = Proc::spawn(
            "client.py",
            python("filetransfer/client.py")
                .arg(addr.port().to_string())
                .current_dir(&work),
        );
        assert!(client.wait_exit().success(), "{}", client.err.text());
        let out = client.out.text();
        assert!(
            out.starts_with("Arquivo Aberto\nRecebendo dados...\n")
                && out.ends_with("Transferência realizada com sucesso\nConexão fechada\n"),
            "{engine}: {out}"
        );
        assert!(
            fs::read(work.join("teste.xlsx")).unwrap() == data,
            "{engine}: the class's client got the exact file"
        );
        let log = server.wait_out("Conexão fechada\n");
        assert!(
            log.contains("Conectado por: ('127.0.0.1', ") && log.contains("Envio completo\n"),
            "{engine}: {log}"
        );
        assert!(server.interrupt().success());
    }
}

#[test]
#[cfg_attr(
    windows,
    ignore = "runs the class's Python programs with python3, which the Windows test run has not"
)]
fn the_commlab_raw_client_downloads_from_the_class_server() {
    let dir = TempDir::new("class-ft-server");
    let data = spreadsheet(200_003);
    fs::write(dir.0.join("teste.xlsx"), &data).unwrap();
    let port = free_port();
    let server = Proc::spawn(
        "server.py",
        python("filetransfer/server.py")
            .arg(port.to_string())
            .current_dir(&dir.0),
    );
    wait_listening(port);
    let got = dir.0.join("FT_arquivo_recebido.xlsx");
    let mut client = Proc::commlab(&[
        "ft",
        "client",
        "--raw",
        "--host",
        "localhost",
        "--port",
        &port.to_string(),
        "--out",
        got.to_str().unwrap(),
    ]);
    assert!(client.wait_exit().success(), "{}", client.err.text());
    assert!(fs::read(&got).unwrap() == data, "the exact file");
    let out = client.out.text();
    assert!(out.contains("Transferência realizada com sucesso"), "{out}");
    server.wait_out("Envio completo\nConexão fechada\n");
}
