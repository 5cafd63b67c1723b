//! Exercise 3: `commlab db` on real database files.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::Value;

struct TempDb(PathBuf);

impl TempDb {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("commlab-db-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir.join("aula.db"))
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut all = vec!["db", "--db", self.0.to_str().unwrap()];
        all.extend_from_slice(args);
        let out = commlab(&all).wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = args.to_vec();
        all.push("--json");
        let (ok, out, err) = self.run(&all);
        assert!(ok, "{err}");
        let last = out.lines().last().unwrap_or_default();
        serde_json::from_str::<Value>(last)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn names(rows: &[Value]) -> Vec<(String, i64)> {
    rows.iter()
        .map(|r| {
            (
                r["Nome"].as_str().unwrap().to_owned(),
                r["Matricula"].as_i64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_exercise_answers_on_a_fresh_database() {
    let db = TempDb::new("fresh");
    let (ok, out, _) = db.run(&["init"]);
    assert!(ok);
    assert!(out.contains("added 5 row(s)"));
    let (ok, out, _) = db.run(&["init"]);
    assert!(ok);
    assert!(out.contains("nothing added"), "{out}");
    assert_eq!(db.json(&["list"]).len(), 5, "init twice leaves five rows");
    assert_eq!(
        names(&db.json(&["trancados"])),
        [("Pedro".to_owned(), 13_100_001)]
    );
    assert_eq!(
        db.json(&["ingresso", "--apos", "2012"]).len(),
        5,
        "everyone entered after 2012"
    );
    assert_eq!(db.json(&["idade", "Patrick"])[0]["Idade"], 24);
    let maisa = db
        .json(&["list"])
        .into_iter()
        .find(|r| r["Matricula"] == 11_280_821)
        .unwrap();
    assert_eq!(maisa["Nome"], "Maísa", "accents kept");

    // Two Pedros: a rename asks which one, then changes exactly the rows asked.
    let (ok, out, err) = db.run(&["renomear", "Pedro", "Carlos"]);
    assert!(!ok);
    assert!(
        out.contains("2 students are named Pedro") && err.contains("--matricula"),
        "{out}{err}"
    );
    let (ok, out, _) = db.run(&["renomear", "Pedro", "Carlos", "--matricula", "13100001"]);
    assert!(ok);
    assert!(out.contains("1 row(s) changed"));
    assert_eq!(
        names(&db.json(&["trancados"])),
        [("Carlos".to_owned(), 13_100_001)]
    );
    let (ok, out, _) = db.run(&["renomear", "Pedro", "Carlos", "--todos"]);
    assert!(ok && out.contains("1 row(s) changed"));
    assert!(db.json(&["idade", "Carlos"]).len() == 2);
}

#[test]
fn exercicio_runs_the_whole_exercise() {
    let db = TempDb::new("exercicio");
    let (ok, out, err) = db.run(&["exercicio"]);
    assert!(ok, "{err}");
    for want in [
        "Todos os alunos:",
        "Inserindo os alunos do exercício: 4 novo(s)",
        "1) Quem trancou o curso (Situação = Trancamento)?",
        "2) Quem ingressou depois de 2012?",
        "3) Qual a idade de Patrick?",
        "Patrick tem 24 anos",
        "4) Renomear Pedro para Carlos",
        "2 linha(s) alterada(s)",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn an_injection_shaped_name_is_just_a_name() {
    let db = TempDb::new("injection");
    db.run(&["init"]);
    let evil = "x'); DROP TABLE Alunos;--";
    let (ok, _, err) = db.run(&["inserir", evil, "99", "20", "2024", "Cursando"]);
    assert!(ok, "{err}");
    let found = db.json(&["idade", evil]);
    assert_eq!(found[0]["Nome"], evil);
    assert_eq!(db.json(&["list"]).len(), 6, "the table is still there");
    let (ok, _, err) = db.run(&["inserir", "Outro", "99", "20", "2024", "Cursando"]);
    assert!(!ok && err.contains("already there"), "{err}");
}

#[test]
fn a_class_made_database_is_read_and_left_alone() {
    let db = TempDb::new("class");
    {
        // As the handout's Escrever.py makes it, run twice.
        let conn = rusqlite::Connection::open(&db.0).unwrap();
        conn.execute_batch(
            "CREATE TABLE Alunos (Nome TEXT, Matricula REAL, Idade INTEGER, Ingresso INTEGER, Situacao TEXT);
             INSERT INTO Alunos VALUES ('Pedro', 2213482, 19, 2022, 'Cursando');
             INSERT INTO Alunos VALUES ('Pedro', 2213482, 19, 2022, 'Cursando');",
        )
        .unwrap();
    }
    let rows = db.json(&["list"]);
    assert_eq!(
        names(&rows),
        [
            ("Pedro".to_owned(), 2_213_482),
            ("Pedro".to_owned(), 2_213_482)
        ]
    );
    let (ok, out, _) = db.run(&["list"]);
    assert!(ok && out.contains("2213482") && !out.contains("2213482.0"));
    let (ok, out, _) = db.run(&["init"]);
    assert!(ok);
    assert!(
        out.contains("Matricula is REAL") && out.contains("1 duplicate row(s)"),
        "{out}"
    );
    assert!(out.contains("Nothing was changed"));
    assert_eq!(db.json(&["list"]).len(), 2);
}

#[test]
fn missing_and_locked_databases_get_clear_messages() {
    let db = TempDb::new("missing");
    let (ok, _, err) = db.run(&["list"]);
    assert!(!ok);
    assert!(
        err.contains("does not exist; create it with `commlab db init`"),
        "{err}"
    );
    db.run(&["init"]);
    let conn = rusqlite::Connection::open(&db.0).unwrap();
    conn.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let (ok, _, err) = db.run(&["inserir", "Ana", "5", "20", "2024", "Cursando"]);
    assert!(!ok);
    assert!(err.contains("is locked by another program"), "{err}");
    conn.execute_batch("ROLLBACK").unwrap();
}
