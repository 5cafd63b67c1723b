//! The tour of exercise 3: the students table on a temporary database.

use anyhow::bail;

use super::Transcript;
use crate::Engine;

/// Exercise 3: the whole exercise on a temporary database.
pub(super) fn db(_engine: Engine, log: &Transcript) -> anyhow::Result<()> {
    use crate::db::Store;
    let dir = std::env::temp_dir().join(format!("commlab-tour-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("aula.db");
    let _ = std::fs::remove_file(&path);
    let result = (|| -> anyhow::Result<()> {
        let mut store = Store::open(&path)?;
        let added = store
            .init()?
            .map_err(|d| anyhow::anyhow!("unexpected schema: {}", d.join("; ")))?;
        log.push(format!(
            "db     > init: {} rows added to {}",
            added.len(),
            path.display()
        ));
        let again = store
            .init()?
            .map_err(|d| anyhow::anyhow!("unexpected schema: {}", d.join("; ")))?;
        log.push(format!("db     > init again: {} rows added", again.len()));
        if added.len() != 5 || !again.is_empty() {
            bail!(
                "init added {} then {} rows (want 5 then 0)",
                added.len(),
                again.len()
            );
        }
        log.check();
        let check = |question: &str, got: String, want: &str| -> anyhow::Result<()> {
            log.push(format!("db     > {question}"));
            log.push(format!("db     < {got}"));
            if got != want {
                bail!("{question}: expected '{want}', got '{got}'");
            }
            log.check();
            Ok(())
        };
        let names = |rows: Vec<crate::db::Aluno>| {
            rows.iter()
                .map(|a| format!("{} {}", a.nome, a.matricula))
                .collect::<Vec<_>>()
                .join(", ")
        };
        check(
            "1) Quem trancou o curso?",
            names(store.trancados()?),
            "Pedro 13100001",
        )?;
        check(
            "2) Quem ingressou depois de 2012?",
            store.ingresso_apos(2012)?.len().to_string(),
            "5",
        )?;
        check(
            "3) Qual a idade de Patrick?",
            store
                .by_name("Patrick")?
                .first()
                .map_or(String::new(), |a| a.idade.to_string()),
            "24",
        )?;
        let n = store.rename("Pedro", "Carlos", Some(13_100_001))?;
        check(
            "4) Renomear Pedro (13100001) para Carlos",
            format!("{n} row changed; {}", names(store.by_name("Carlos")?)),
            "1 row changed; Carlos 13100001",
        )?;
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}
