//! File transfer on an in-memory pair: the server's application is a map of
//! files, the client's a buffer.

#![allow(clippy::disallowed_methods)] // tests may read the clock to seed a virtual one

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use commlab_core::filexfer::{
    code, hex, validate_name, DigestAlg, Frame, FrameDecoder, FtClient, FtClientEvent, FtEnd,
    FtEvent, FtServer, Hasher, SlowLimits, MAX_CHUNK,
};
use commlab_core::testing::{self, ServicePump};
use commlab_core::{ConnId, Service, Session};
use proptest::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;

const C: ConnId = ConnId(1);

/// The application side of the server: files in memory.
#[derive(Default)]
struct App {
    files: HashMap<String, Vec<u8>>,
    temp: Option<Vec<u8>>,
    reading: Option<(String, usize)>,
    server_events: Vec<FtEvent>,
}

/// A client and a server with its application, on the test kit.
struct Pair {
    kit: testing::Pair<FtClient, FtServer>,
    app: Rc<RefCell<App>>,
}

impl Pair {
    fn new(server_alg: DigestAlg, client_alg: DigestAlg, step: usize) -> Self {
        Self::with_limit(server_alg, client_alg, step, 1 << 30)
    }

    /// Bytes move in reads of `step` (exercises arbitrary splits); the
    /// server takes uploads up to `max` bytes.
    fn with_limit(server_alg: DigestAlg, client_alg: DigestAlg, step: usize, max: u64) -> Self {
        Self::with_server(FtServer::new(server_alg, max), client_alg, step)
    }

    /// A pair around `server` as given.
    fn with_server(server: FtServer, client_alg: DigestAlg, step: usize) -> Self {
        let app = Rc::new(RefCell::new(App::default()));
        let answering = Rc::clone(&app);
        let pump = ServicePump::new(server, Instant::now())
            .with_app(move |server, e| answering.borrow_mut().answer(server, e));
        Self {
            kit: testing::Pair::over(FtClient::new(client_alg), pump, step),
            app,
        }
    }

    fn run(&mut self) {
        self.kit.run();
    }

    fn files(&self) -> std::cell::Ref<'_, HashMap<String, Vec<u8>>> {
        std::cell::Ref::map(self.app.borrow(), |a| &a.files)
    }

    fn server_events(&self) -> std::cell::Ref<'_, Vec<FtEvent>> {
        std::cell::Ref::map(self.app.borrow(), |a| &a.server_events)
    }
}

impl App {
    fn answer(&mut self, server: &mut FtServer, e: FtEvent) {
        self.server_events.push(e.clone());
        match e {
            FtEvent::Login {
                conn,
                user,
                password,
            } => server.login_result(conn, user == "aluno" && password == "senha"),
            FtEvent::ListRequest { conn } => {
                let mut entries: Vec<(String, u64)> = self
                    .files
                    .iter()
                    .map(|(n, d)| (n.clone(), d.len() as u64))
                    .collect();
                entries.sort();
                server.list_result(conn, &entries);
            }
            FtEvent::OpenRead { conn, name } => match self.files.get(&name) {
                Some(d) => {
                    let size = d.len() as u64;
                    self.reading = Some((name.clone(), 0));
                    server.download_begin(conn, &name, size);
                }
                None => server.refuse(conn, code::NOT_FOUND, "no such file"),
            },
            FtEvent::NeedData { conn } => {
                let (name, pos) = self.reading.clone().unwrap();
                let data = &self.files[&name];
                let end = (pos + 100_000).min(data.len());
                if pos == data.len() {
                    server.download_eof(conn);
                } else {
                    let chunk = data[pos..end].to_vec();
                    self.reading = Some((name, end));
                    server.download_data(conn, &chunk);
                }
            }
            FtEvent::OpenWrite { conn, name, size } => {
                self.temp = Some(Vec::new());
                server.upload_accept(conn, &name, size);
            }
            FtEvent::UploadData { data, .. } => {
                self.temp.as_mut().unwrap().extend_from_slice(&data)
            }
            FtEvent::UploadEnd { conn, name, .. } => {
                self.files.insert(name, self.temp.take().unwrap());
                server.upload_committed(conn);
            }
            FtEvent::UploadAborted { .. } => self.temp = None,
            _ => {}
        }
    }
}

impl Pair {
    fn login(&mut self) {
        self.kit.client.login("aluno", "senha").unwrap();
        self.run();
        assert!(
            matches!(self.kit.got.last(), Some(FtClientEvent::Ok(m)) if m == "welcome, aluno"),
            "{:?}",
            self.kit.got
        );
    }

    fn upload(&mut self, name: &str, data: &[u8]) -> FtClientEvent {
        self.kit.client.put(name, data.len() as u64).unwrap();
        self.run();
        match self.kit.got.last() {
            Some(FtClientEvent::UploadReady { .. }) => {}
            other => return other.cloned().unwrap(),
        }
        for chunk in data.chunks(70_000) {
            self.kit.client.upload_data(chunk).unwrap();
            self.run();
        }
        self.kit.client.upload_end().unwrap();
        self.run();
        self.kit.got.last().cloned().unwrap()
    }

    fn download(&mut self, name: &str) -> (Vec<u8>, FtClientEvent) {
        self.kit.client.get(name).unwrap();
        let from = self.kit.got.len();
        self.run();
        let mut data = Vec::new();
        for e in &self.kit.got[from..] {
            if let FtClientEvent::Data(d) = e {
                data.extend_from_slice(d);
            }
        }
        (data, self.kit.got.last().cloned().unwrap())
    }
}

#[test]
fn login_is_required_and_three_failures_close() {
    let mut p = Pair::new(DigestAlg::Blake3, DigestAlg::Blake3, 7);
    assert!(matches!(
        p.kit.got[0],
        FtClientEvent::Hello {
            version: 1,
            prefers: DigestAlg::Blake3
        }
    ));
    p.kit.client.list().unwrap();
    p.run();
    assert_eq!(
        p.kit.got.last(),
        Some(&FtClientEvent::Error {
            code: code::LOGIN_REQUIRED,
            message: "log in first".into()
        })
    );
    for i in 1..=3u8 {
        p.kit.client.login("aluno", "errada").unwrap();
        p.run();
        assert!(p.kit.got.contains(&FtClientEvent::Error {
            code: code::LOGIN_FAILED,
            message: "login failed".into()
        }));
        assert!(p
            .server_events()
            .iter()
            .any(|e| matches!(e, FtEvent::LoginFailed { failures, .. } if *failures == i)));
    }
    assert!(p
        .server_events()
        .iter()
        .any(|e| matches!(e, FtEvent::LoginFailed { closed: true, .. })));
    assert!(p
        .server_events()
        .iter()
        .any(|e| matches!(e, FtEvent::Closed { .. })));
}

#[test]
fn names_are_single_plain_file_names() {
    for bad in [
        "",
        ".",
        "..",
        "../x",
        "a/b",
        "a\\b",
        "/etc/passwd",
        "C:x",
        "c:\\w",
        "a\0b",
        "a\nb",
        ".FT_teste.xlsx.commlab-41-7.part",
    ] {
        assert!(validate_name(bad).is_err(), "{bad:?}");
    }
    assert!(validate_name(&"x".repeat(256)).is_err());
    for good in [
        "FT_teste.xlsx",
        "relatório final.txt",
        ".bashrc",
        "a..b",
        ".notas.part",
    ] {
        assert!(validate_name(good).is_ok(), "{good:?}");
    }
    let mut p = Pair::new(DigestAlg::Blake3, DigestAlg::Blake3, 1000);
    p.login();
    p.kit.client.get("../segredo").unwrap();
    p.run();
    assert!(matches!(
        p.kit.got.last(),
        Some(FtClientEvent::Error {
            code: code::BAD_NAME,
            ..
        })
    ));
    assert!(matches!(
        p.upload("a/b", b"x"),
        FtClientEvent::Error {
            code: code::BAD_NAME,
            ..
        }
    ));
}

#[test]
fn upload_list_download_and_not_found() {
    let mut p = Pair::new(DigestAlg::Blake3, DigestAlg::Blake3, 4096);
    p.login();
    let content = b"planilha editada".repeat(10_000);
    let done = p.upload("FT_teste.xlsx", &content);
    let want_digest = hex(blake3::hash(&content).as_bytes());
    assert!(
        matches!(&done, FtClientEvent::Uploaded { digest, .. } if *digest == want_digest),
        "{done:?}"
    );
    assert_eq!(p.files()["FT_teste.xlsx"], content);
    p.kit.client.list().unwrap();
    p.run();
    assert!(p.kit.got.contains(&FtClientEvent::Entry {
        name: "FT_teste.xlsx".into(),
        size: content.len() as u64
    }));
    assert_eq!(p.kit.got.last(), Some(&FtClientEvent::Listed));
    let (data, end) = p.download("FT_teste.xlsx");
    assert_eq!(data, content);
    assert_eq!(
        end,
        FtClientEvent::Downloaded {
            size: content.len() as u64,
            digest: want_digest,
            alg: DigestAlg::Blake3
        }
    );
    let (_, end) = p.download("nada.txt");
    assert_eq!(
        end,
        FtClientEvent::Error {
            code: code::NOT_FOUND,
            message: "no such file".into()
        }
    );
}

#[test]
fn sha256_wins_when_either_side_asks() {
    for (server, client) in [
        (DigestAlg::Sha256, DigestAlg::Blake3),
        (DigestAlg::Blake3, DigestAlg::Sha256),
    ] {
        let mut p = Pair::new(server, client, 999);
        p.login();
        let content = b"abc".to_vec();
        p.app
            .borrow_mut()
            .files
            .insert("a.txt".into(), content.clone());
        let (_, end) = p.download("a.txt");
        assert_eq!(
            end,
            FtClientEvent::Downloaded {
                size: 3,
                digest: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad".into(),
                alg: DigestAlg::Sha256
            }
        );
    }
}

#[test]
fn a_wrong_digest_or_extra_bytes_store_nothing() {
    let mut p = Pair::new(DigestAlg::Blake3, DigestAlg::Blake3, 4096);
    p.login();
    p.app
        .borrow_mut()
        .files
        .insert("velho.txt".into(), b"old".to_vec());
    // Hand-made frames: a PUT, data, then an END with a wrong digest.
    let mut wire = Vec::new();
    Frame::Put {
        size: 3,
        alg: DigestAlg::Blake3,
        name: "velho.txt".into(),
    }
    .encode(&mut wire);
    p.kit.server.send(1, &wire);
    p.run();
    let mut wire = Vec::new();
    Frame::Data(b"new".to_vec()).encode(&mut wire);
    Frame::End {
        total: 3,
        alg: DigestAlg::Blake3,
        digest: [0; 32],
    }
    .encode(&mut wire);
    p.kit.server.send(1, &wire);
    p.run();
    assert_eq!(p.files()["velho.txt"], b"old");
    assert!(p
        .server_events()
        .iter()
        .any(|e| matches!(e, FtEvent::UploadAborted { .. })));
    // More bytes than announced: refused at once, connection closed.
    let mut wire = Vec::new();
    Frame::Put {
        size: 2,
        alg: DigestAlg::Blake3,
        name: "velho.txt".into(),
    }
    .encode(&mut wire);
    p.kit.server.send(1, &wire);
    p.run();
    let mut wire = Vec::new();
    Frame::Data(b"much more".to_vec()).encode(&mut wire);
    p.kit.server.send(1, &wire);
    p.run();
    assert_eq!(p.files()["velho.txt"], b"old");
    assert!(p.server_events().iter().any(
        |e| matches!(e, FtEvent::ProtocolError { reason, .. } if reason.to_string().contains("more bytes than") && reason.fault() == Some(commlab_core::Fault::PeerData))
    ));
}

#[test]
fn an_upload_over_the_limit_is_refused_before_any_data() {
    let mut p = Pair::with_limit(DigestAlg::Blake3, DigestAlg::Blake3, 64, 10);
    p.login();
    assert!(matches!(
        p.upload("grande.bin", &[0; 11]),
        FtClientEvent::Error {
            code: code::TOO_LARGE,
            ..
        }
    ));
    assert!(!p
        .server_events()
        .iter()
        .any(|e| matches!(e, FtEvent::OpenWrite { .. })));
}

#[test]
fn a_dropped_upload_is_reported_for_cleanup() {
    let mut p = Pair::new(DigestAlg::Blake3, DigestAlg::Blake3, 4096);
    p.login();
    p.kit.client.put("x.bin", 1000).unwrap();
    p.run();
    p.kit.client.upload_data(&[1; 500]).unwrap();
    p.run();
    p.kit.server.lose(1, "reset");
    p.run();
    assert!(p
        .server_events()
        .iter()
        .any(|e| matches!(e, FtEvent::UploadAborted { name, .. } if name == "x.bin")));
    assert!(!p.files().contains_key("x.bin"));
}

#[test]
fn any_bytes_into_the_decoder_give_typed_errors() {
    let mut d = FrameDecoder::new();
    d.feed(&[0x20, 0xff, 0xff, 0xff, 0xff]);
    assert!(
        d.next_frame().is_err(),
        "a 4 GiB data frame is refused from its header"
    );
    let mut d = FrameDecoder::new();
    d.feed(&[0x7f, 0, 0, 0, 0]);
    assert!(d.next_frame().is_err());
}

/// Frames of every shape the decoder treats apart: DATA payloads short
/// and up to the limit (gathered straight into their frames), control
/// frames (through the buffer).
fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 1..3000).prop_map(Frame::Data),
        (1usize..=MAX_CHUNK).prop_map(|n| Frame::Data((0..n).map(|i| i as u8).collect())),
        "[a-z ]{0,40}".prop_map(|message| Frame::Ok { code: 200, message }),
        any::<u64>().prop_map(|size| Frame::Ready {
            alg: DigestAlg::Blake3,
            size
        }),
    ]
}

/// Feeds `stream` in reads of the sizes `reads` gives in turn, draining
/// after every `drain_every` reads: the frames, and the first error.
fn decode_in_reads(
    stream: &[u8],
    reads: &[usize],
    drain_every: usize,
) -> (Vec<Frame>, Option<String>) {
    let mut d = FrameDecoder::new();
    let (mut frames, mut rest) = (Vec::new(), stream);
    for (i, &n) in reads.iter().cycle().enumerate() {
        let (now, later) = rest.split_at(n.min(rest.len()));
        d.feed(now);
        rest = later;
        if i % drain_every == 0 || rest.is_empty() {
            loop {
                match d.next_frame() {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(e) => return (frames, Some(e.to_string())),
                }
            }
            assert!(d.pending() <= 5 + MAX_CHUNK, "{} bytes held", d.pending());
        }
        if rest.is_empty() {
            return (frames, None);
        }
    }
    unreachable!("cycle() never ends")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn frames_come_out_as_they_went_in_whatever_the_reads(
        sent in proptest::collection::vec(frame(), 0..12),
        reads in proptest::collection::vec(1usize..100_000, 1..8),
        drain_every in 1usize..4,
        garbage in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for f in &sent {
            f.encode(&mut stream);
        }
        if garbage {
            // A DATA header over the limit: refused once reached.
            stream.extend_from_slice(&[0x20, 0, 1, 0, 1]);
        }
        let (got, error) = decode_in_reads(&stream, &reads, drain_every);
        prop_assert_eq!(&got, &sent);
        prop_assert_eq!(error.is_some(), garbage, "{:?}", error);
    }

    #[test]
    fn any_content_survives_any_split_with_both_digests(
        content in proptest::collection::vec(any::<u8>(), 0..300_000),
        step in 1usize..20_000,
        sha in any::<bool>(),
    ) {
        let alg = if sha { DigestAlg::Sha256 } else { DigestAlg::Blake3 };
        let mut p = Pair::new(alg, DigestAlg::Blake3, step);
        p.login();
        let up = p.upload("f.bin", &content);
        let mut h = Hasher::new(alg);
        h.update(&content);
        let digest = hex(&h.finish());
        prop_assert!(matches!(&up, FtClientEvent::Uploaded { digest: d, .. } if *d == digest), "{:?}", up);
        let (data, end) = p.download("f.bin");
        prop_assert_eq!(&data, &content);
        prop_assert_eq!(end, FtClientEvent::Downloaded { size: content.len() as u64, digest, alg });
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut d = FrameDecoder::new();
        d.feed(&bytes);
        while let Ok(Some(_)) = d.next_frame() {}
        let mut server = FtServer::default();
        let now = Instant::now();
        server.handle_connect(now, C, SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 1));
        server.handle_input(now, C, &bytes);
        while server.poll_event().is_some() {}
        let mut client = FtClient::new(DigestAlg::Blake3);
        client.handle_input(now, &bytes);
        while client.poll_event().is_some() {}
    }
}

#[test]
fn a_server_of_another_protocol_version_is_refused_by_the_client() {
    let mut client = FtClient::new(DigestAlg::Blake3);
    let mut hello = Vec::new();
    Frame::Hello {
        version: 2,
        prefers: DigestAlg::Blake3,
    }
    .encode(&mut hello);
    client.handle_input(Instant::now(), &hello);
    assert!(matches!(
        client.poll_event(),
        Some(FtClientEvent::Error { message, .. }) if message.contains("version 2")
    ));
    assert!(client.login("aluno", "senha").is_err());
}

/// Short limits for the slow-client tests: 5 s to log in; an upload has
/// 2 s, then must keep 1,000 bytes a second.
fn slow_limits() -> SlowLimits {
    SlowLimits {
        login_timeout: Duration::from_secs(5),
        upload_grace: Duration::from_secs(2),
        min_upload_rate: 1000,
    }
}

/// The frames in `bytes`.
fn frames_of(bytes: &[u8]) -> Vec<Frame> {
    let mut d = FrameDecoder::new();
    d.feed(bytes);
    std::iter::from_fn(|| d.next_frame().ok().flatten()).collect()
}

#[test]
fn a_login_trickled_a_byte_a_second_is_cut_at_the_login_deadline() {
    let mut s = ServicePump::new(
        FtServer::new(DigestAlg::Blake3, 1 << 20).with_slow_limits(slow_limits()),
        Instant::now(),
    );
    s.connect(1);
    let mut login = Vec::new();
    Frame::Login {
        user: "aluno".into(),
        password: "senha".into(),
    }
    .encode(&mut login);
    let mut sent = 0;
    while s.ended(1).is_none() && sent < login.len() {
        s.send(1, &login[sent..=sent]);
        sent += 1;
        s.advance(Duration::from_secs(1));
    }
    let frames = frames_of(&s.take_output(1));
    assert!(
        frames.iter().any(|f| matches!(f, Frame::Err { code: 408, message } if message == "not logged in within 5 s")),
        "{frames:?}"
    );
    assert!(sent <= 5, "cut after {sent} bytes, at 5 s");
    assert!(s.ended(1).is_some());
}

#[test]
fn an_upload_under_the_minimum_rate_is_cut_and_nothing_stored_and_a_steady_one_is_not() {
    for (per_second, cut) in [(200usize, true), (2000, false)] {
        let server = FtServer::new(DigestAlg::Blake3, 1 << 20).with_slow_limits(slow_limits());
        let mut p = Pair::with_server(server, DigestAlg::Blake3, 4096);
        p.login();
        let data = vec![7u8; 20_000];
        p.kit.client.put("x.bin", data.len() as u64).unwrap();
        p.run();
        for chunk in data.chunks(per_second) {
            p.kit.advance(Duration::from_secs(1));
            if p.kit.client.upload_data(chunk).is_err() {
                break;
            }
            p.run();
        }
        if !cut {
            p.kit.client.upload_end().unwrap();
            p.run();
        }
        let events = p.server_events().clone();
        let stopped = events.iter().any(|e| {
            matches!(e, FtEvent::Closed { reason: FtEnd::TooSlow(why), .. }
                if why.contains("slower than 1000 bytes/s"))
        });
        assert_eq!(stopped, cut, "{per_second} bytes/s: {events:?}");
        assert_eq!(
            p.files().contains_key("x.bin"),
            !cut,
            "{per_second} bytes/s"
        );
    }
}
