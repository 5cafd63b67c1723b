//! The tour of exercise 5: the file transfer round trip (the challenge).

use anyhow::bail;

use super::Transcript;
use crate::Engine;

/// Exercise 5: the challenge's round trip of a generated spreadsheet, with
/// a scripted edit in between, and a refused login.
pub(super) fn ft(engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use commlab_core::filexfer::DigestAlg;
    let dir = std::env::temp_dir().join(format!("commlab-tour-ft-{}-{engine}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let srv = dir.join("srv");
    std::fs::create_dir_all(&srv)?;
    let result = (|| -> anyhow::Result<()> {
        let original: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(srv.join("FT_teste.xlsx"), &original)?;
        let mut users = crate::ft::Users::default();
        users.add_plain("aluno:senha")?;
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let sink = log.clone();
        let config = crate::ft::FtServerConfig {
            sink: Box::new(move |line| match line {
                crate::ServerLine::Out(t) => sink.push(format!("server | {t}")),
                crate::ServerLine::Log(t) => sink.push(format!("server : {t}")),
            }),
            tracer: log.tracer(commlab_core::trace::Wire::FileTransfer { data: false }),
            ..crate::ft::FtServerConfig::new(&srv, users)
        };
        let server = crate::ft::start(engine, listener, config)?;
        let port = server.local_addr().port();
        let bad =
            crate::ft::FtConnection::open("127.0.0.1", port, "aluno", "errada", DigestAlg::Blake3);
        log.push("client > LOGIN aluno / (wrong password)".into());
        match bad {
            Err(e) if e.to_string() == "login failed" => {
                log.push("client < ERR 403 login failed".into())
            }
            Ok(_) => bail!("a wrong password should fail, but the login went through"),
            Err(e) => bail!("a wrong password should fail with \"login failed\", got: {e:#}"),
        }
        log.check();
        let mut c =
            crate::ft::FtConnection::open("127.0.0.1", port, "aluno", "senha", DigestAlg::Blake3)?;
        log.push("client > LOGIN aluno".into());
        let listed = c.list()?;
        let shown: Vec<String> = listed
            .iter()
            .map(|(name, size)| format!("{name} ({size} bytes)"))
            .collect();
        log.push(format!("client < LIST {}", shown.join(", ")));
        if listed != [("FT_teste.xlsx".to_owned(), 200_000)] {
            bail!("unexpected listing: {}", shown.join(", "));
        }
        log.check();
        let local = dir.join("FT_arquivo_recebido.xlsx");
        let (size, digest, _) = c.get("FT_teste.xlsx", &local)?;
        log.push(format!(
            "client < GET FT_teste.xlsx -> {}: {size} bytes, blake3 {digest}",
            local.display()
        ));
        if std::fs::read(&local)? != original {
            bail!("the download differs from the original");
        }
        log.check();
        let mut edited = original.clone();
        edited.extend_from_slice(b"linha editada pelo aluno");
        std::fs::write(&local, &edited)?;
        log.push("person : edits the spreadsheet (24 bytes added)".into());
        let (message, _) = c.put(&local, "FT_teste.xlsx")?;
        log.push(format!("client < PUT -> {message}"));
        if std::fs::read(srv.join("FT_teste.xlsx"))? != edited {
            bail!("the server's file is not the edited one");
        }
        log.check();
        c.quit();
        server.shutdown();
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
