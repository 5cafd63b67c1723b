//! Exercise 3: `commlab db`, the students table in SQLite.
//!
//! All SQL lives here, behind [`Store`]; every query is parameterised.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use rusqlite::{params, Connection, OpenFlags};
use serde_json::json;

/// How long a write waits for a lock held by another program.
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// One row of `Alunos`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aluno {
    /// Nome.
    pub nome: String,
    /// Matrícula (an integer; the class's REAL column is read as one).
    pub matricula: i64,
    /// Idade.
    pub idade: i64,
    /// Ano de ingresso.
    pub ingresso: i64,
    /// Situação (Cursando, Trancamento, Formado, Desistiu...).
    pub situacao: String,
}

impl Aluno {
    fn new(nome: &str, matricula: i64, idade: i64, ingresso: i64, situacao: &str) -> Self {
        Self {
            nome: nome.into(),
            matricula,
            idade,
            ingresso,
            situacao: situacao.into(),
        }
    }
}

/// The handout's example row (Escrever.py).
pub fn example_row() -> Aluno {
    Aluno::new("Pedro", 2_213_482, 19, 2022, "Cursando")
}

/// The exercise's four rows.
pub fn exercise_rows() -> Vec<Aluno> {
    vec![
        Aluno::new("João", 10_114_385, 28, 2022, "Formado"),
        Aluno::new("Pedro", 13_100_001, 25, 2020, "Trancamento"),
        Aluno::new("Maísa", 11_280_821, 26, 2023, "Cursando"),
        Aluno::new("Patrick", 14_204_123, 24, 2022, "Desistiu"),
    ]
}

/// The students database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "CREATE TABLE Alunos (
    Nome TEXT NOT NULL,
    Matricula INTEGER NOT NULL UNIQUE,
    Idade INTEGER,
    Ingresso INTEGER,
    Situacao TEXT NOT NULL
)";

const COLUMNS: &str = "Nome, CAST(Matricula AS INTEGER), Idade, Ingresso, Situacao";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Aluno> {
    Ok(Aluno {
        nome: r.get(0)?,
        matricula: r.get(1)?,
        idade: r.get::<_, Option<i64>>(2)?.unwrap_or_default(),
        ingresso: r.get::<_, Option<i64>>(3)?.unwrap_or_default(),
        situacao: r.get(4)?,
    })
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE;
        let conn = Connection::open_with_flags(path, flags)
            .with_context(|| format!("cannot open the database {}", path.display()))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens an existing database with the table; a clear error otherwise.
    pub fn open_existing(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            bail!(
                "{} does not exist; create it with `commlab db init` (or pass --db PATH)",
                path.display()
            );
        }
        let store = Self::open(path)?;
        if !store.has_table()? {
            bail!(
                "{} has no Alunos table; run `commlab db init`",
                path.display()
            );
        }
        Ok(store)
    }

    fn has_table(&self) -> anyhow::Result<bool> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'Alunos'",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.explain(e))?;
        Ok(n > 0)
    }

    /// Turns SQLite's errors into sentences about this file.
    fn explain(&self, e: rusqlite::Error) -> anyhow::Error {
        let locked = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        if locked {
            anyhow::anyhow!(
                "{} is locked by another program (close it in SQLiteStudio or the other program, then try again)",
                self.path.display()
            )
        } else if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) {
            anyhow::anyhow!("{} is not a SQLite database", self.path.display())
        } else {
            anyhow::Error::new(e).context(format!("database {}", self.path.display()))
        }
    }

    /// How an existing table differs from commlab's schema (empty: it does not).
    pub fn differences(&self) -> anyhow::Result<Vec<String>> {
        let mut diffs = Vec::new();
        let mut stmt = self
            .conn
            .prepare("SELECT name, type FROM pragma_table_info('Alunos')")
            .map_err(|e| self.explain(e))?;
        let cols: Vec<(String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        for (name, ty) in &cols {
            if name == "Matricula" && !ty.eq_ignore_ascii_case("INTEGER") {
                diffs.push(format!("Matricula is {ty} (commlab uses INTEGER, so 2213482 does not print as 2213482.0)"));
            }
        }
        let dups: i64 = self
            .conn
            .query_row(
                "SELECT count(*) - count(DISTINCT CAST(Matricula AS INTEGER)) FROM Alunos",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.explain(e))?;
        if dups > 0 {
            diffs.push(format!(
                "{dups} duplicate row(s) (the same Matricula more than once)"
            ));
        }
        let unique: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM pragma_index_list('Alunos') WHERE \"unique\" = 1",
                [],
                |r| r.get(0),
            )
            .map_err(|e| self.explain(e))?;
        if unique == 0 {
            diffs
                .push("Matricula is not UNIQUE, so running an insert twice duplicates rows".into());
        }
        Ok(diffs)
    }

    /// Creates the table and inserts the example and exercise rows that are
    /// missing. Returns the rows added, or how a class-made table differs
    /// (then nothing is changed).
    pub fn init(&mut self) -> anyhow::Result<Result<Vec<Aluno>, Vec<String>>> {
        if self.has_table()? {
            let diffs = self.differences()?;
            if !diffs.is_empty() {
                return Ok(Err(diffs));
            }
        } else {
            self.conn.execute(SCHEMA, []).map_err(|e| self.explain(e))?;
        }
        let mut added = Vec::new();
        for aluno in std::iter::once(example_row()).chain(exercise_rows()) {
            if self.insert(&aluno)? {
                added.push(aluno);
            }
        }
        Ok(Ok(added))
    }

    /// Inserts a row unless its Matricula is there; returns whether it did.
    pub fn insert(&mut self, a: &Aluno) -> anyhow::Result<bool> {
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM Alunos WHERE CAST(Matricula AS INTEGER) = ?1",
                params![a.matricula],
                |r| r.get(0),
            )
            .map_err(|e| self.explain(e))?;
        if exists > 0 {
            return Ok(false);
        }
        self.conn
            .execute(
                "INSERT INTO Alunos (Nome, Matricula, Idade, Ingresso, Situacao) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![a.nome, a.matricula, a.idade, a.ingresso, a.situacao],
            )
            .map_err(|e| self.explain(e))?;
        Ok(true)
    }

    fn select(&self, filter: &str, args: &[&dyn rusqlite::ToSql]) -> anyhow::Result<Vec<Aluno>> {
        let sql = format!("SELECT {COLUMNS} FROM Alunos {filter} ORDER BY rowid");
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.explain(e))?;
        let rows = stmt
            .query_map(args, row)
            .map_err(|e| self.explain(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.explain(e))?;
        Ok(rows)
    }

    /// Every row.
    pub fn all(&self) -> anyhow::Result<Vec<Aluno>> {
        self.select("", &[])
    }

    /// Who locked the course (Situacao = Trancamento).
    pub fn trancados(&self) -> anyhow::Result<Vec<Aluno>> {
        self.select("WHERE Situacao = ?1", &[&"Trancamento"])
    }

    /// Who entered after `year`.
    pub fn ingresso_apos(&self, year: i64) -> anyhow::Result<Vec<Aluno>> {
        self.select("WHERE Ingresso > ?1", &[&year])
    }

    /// Rows named `nome`.
    pub fn by_name(&self, nome: &str) -> anyhow::Result<Vec<Aluno>> {
        self.select("WHERE Nome = ?1", &[&nome])
    }

    /// Renames `old` to `new` (only the row with `matricula`, if given);
    /// returns how many rows changed.
    pub fn rename(
        &mut self,
        old: &str,
        new: &str,
        matricula: Option<i64>,
    ) -> anyhow::Result<usize> {
        let n = match matricula {
            Some(m) => self.conn.execute(
                "UPDATE Alunos SET Nome = ?1 WHERE Nome = ?2 AND CAST(Matricula AS INTEGER) = ?3",
                params![new, old, m],
            ),
            None => self.conn.execute(
                "UPDATE Alunos SET Nome = ?1 WHERE Nome = ?2",
                params![new, old],
            ),
        }
        .map_err(|e| self.explain(e))?;
        Ok(n)
    }
}

/// Options shared by every `commlab db` command.
#[derive(Debug, Clone, clap::Args)]
pub struct DbArgs {
    /// The database file.
    #[arg(long, global = true, default_value = "aula.db")]
    pub db: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: DbCommand,
}

/// The `commlab db` commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum DbCommand {
    /// Create Alunos and insert the example and exercise rows (again: adds nothing).
    Init,
    /// Every student.
    List,
    /// Who locked the course (Situacao = Trancamento).
    Trancados,
    /// Who entered after a year.
    Ingresso {
        /// The year.
        #[arg(long, default_value_t = 2012)]
        apos: i64,
    },
    /// How old a student is.
    Idade {
        /// The name.
        nome: String,
    },
    /// Rename a student (an UPDATE); says how many rows changed.
    Renomear {
        /// The current name.
        nome: String,
        /// The new name.
        novo: String,
        /// Only the student with this Matricula.
        #[arg(long)]
        matricula: Option<i64>,
        /// Every student with that name.
        #[arg(long, conflicts_with = "matricula")]
        todos: bool,
    },
    /// Insert a student.
    Inserir {
        /// Nome.
        nome: String,
        /// Matrícula.
        matricula: i64,
        /// Idade.
        idade: i64,
        /// Ano de ingresso.
        ingresso: i64,
        /// Situação.
        situacao: String,
    },
    /// The whole exercise in order: read all, insert, the four filters.
    Exercicio,
}

fn json_rows(rows: &[Aluno]) -> serde_json::Value {
    rows.iter()
        .map(|a| {
            json!({"Nome": a.nome, "Matricula": a.matricula, "Idade": a.idade, "Ingresso": a.ingresso, "Situacao": a.situacao})
        })
        .collect()
}

/// The rows as an aligned table.
pub fn table(rows: &[Aluno]) -> String {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(["Nome", "Matrícula", "Idade", "Ingresso", "Situação"]);
    for a in rows {
        t.add_row([
            a.nome.clone(),
            a.matricula.to_string(),
            a.idade.to_string(),
            a.ingresso.to_string(),
            a.situacao.clone(),
        ]);
    }
    t.to_string()
}

fn show(json: bool, rows: &[Aluno]) {
    if json {
        println!("{}", json_rows(rows));
    } else if rows.is_empty() {
        println!("(nenhum aluno)");
    } else {
        println!("{}", table(rows));
    }
}

/// Runs `commlab db ...`.
pub fn run(args: &DbArgs) -> anyhow::Result<()> {
    let path = &args.db;
    match &args.command {
        DbCommand::Init => {
            let mut store = Store::open(path)?;
            match store.init()? {
                Ok(added) if added.is_empty() => {
                    println!(
                        "{}: Alunos already has the example and exercise rows; nothing added",
                        path.display()
                    );
                }
                Ok(added) => {
                    println!("{}: added {} row(s)", path.display(), added.len());
                    show(args.json, &added);
                }
                Err(diffs) => {
                    println!(
                        "{} was made by another program (the class's Escrever.py?) and differs from commlab's schema:",
                        path.display()
                    );
                    for d in diffs {
                        println!("  - {d}");
                    }
                    println!("Nothing was changed. Every other command reads it as it is; `inserir` skips a Matricula that is already there.");
                }
            }
        }
        DbCommand::List => show(args.json, &Store::open_existing(path)?.all()?),
        DbCommand::Trancados => show(args.json, &Store::open_existing(path)?.trancados()?),
        DbCommand::Ingresso { apos } => show(
            args.json,
            &Store::open_existing(path)?.ingresso_apos(*apos)?,
        ),
        DbCommand::Idade { nome } => {
            let rows = Store::open_existing(path)?.by_name(nome)?;
            if rows.is_empty() {
                bail!("no student named '{nome}'");
            }
            if args.json {
                show(true, &rows);
            } else {
                for a in rows {
                    println!("{} ({}) tem {} anos", a.nome, a.matricula, a.idade);
                }
            }
        }
        DbCommand::Renomear {
            nome,
            novo,
            matricula,
            todos,
        } => {
            let mut store = Store::open_existing(path)?;
            let found = store.by_name(nome)?;
            if found.is_empty() {
                bail!("no student named '{nome}'");
            }
            if found.len() > 1 && matricula.is_none() && !todos {
                println!("{} students are named {nome}:", found.len());
                show(false, &found);
                bail!("choose one with --matricula N, or rename all with --todos");
            }
            let n = store.rename(nome, novo, *matricula)?;
            println!("{n} row(s) changed: {nome} -> {novo}");
        }
        DbCommand::Inserir {
            nome,
            matricula,
            idade,
            ingresso,
            situacao,
        } => {
            let mut store = Store::open_existing(path)?;
            let a = Aluno::new(nome, *matricula, *idade, *ingresso, situacao);
            if store.insert(&a)? {
                println!("inserted {nome} ({matricula})");
            } else {
                bail!("Matricula {matricula} is already there; nothing inserted");
            }
        }
        DbCommand::Exercicio => exercise(path, args.json)?,
    }
    Ok(())
}

/// The exercise as a student hands it in: each question and its answer.
pub fn exercise(path: &Path, json: bool) -> anyhow::Result<()> {
    let mut store = Store::open(path)?;
    if !store.has_table()? {
        store.conn.execute(SCHEMA, [])?;
        store.insert(&example_row())?;
    }
    println!("Todos os alunos:");
    show(json, &store.all()?);
    let mut added = 0;
    for a in exercise_rows() {
        added += usize::from(store.insert(&a)?);
    }
    println!("\nInserindo os alunos do exercício: {added} novo(s)");
    show(json, &store.all()?);
    println!("\n1) Quem trancou o curso (Situação = Trancamento)?");
    show(json, &store.trancados()?);
    println!("\n2) Quem ingressou depois de 2012?");
    show(json, &store.ingresso_apos(2012)?);
    println!("\n3) Qual a idade de Patrick?");
    for a in store.by_name("Patrick")? {
        println!("Patrick tem {} anos", a.idade);
    }
    println!(
        "\n4) Renomear Pedro para Carlos (UPDATE Alunos SET Nome = 'Carlos' WHERE Nome = 'Pedro')"
    );
    let n = store.rename("Pedro", "Carlos", None)?;
    println!("{n} linha(s) alterada(s)");
    show(json, &store.all()?);
    Ok(())
}
