//! The terminal: read the person's lines while other threads print, without
//! garbling what is being typed.
//!
//! On a terminal, lines are edited with rustyline and other threads print
//! through its external printer, which redraws the prompt and the partial
//! line below what was printed. When stdin is not a terminal (a pipe, a
//! test), plain lines in, plain lines out.

use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::{Arc, Mutex};

use rustyline::{DefaultEditor, ExternalPrinter};

/// Prints whole lines from any thread.
#[derive(Clone)]
pub struct Printer {
    external: Option<Arc<Mutex<Box<dyn ExternalPrinter + Send>>>>,
}

impl std::fmt::Debug for Printer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer")
            .field("terminal", &self.external.is_some())
            .finish()
    }
}

impl Printer {
    /// Prints one line on stdout.
    pub fn line(&self, text: &str) {
        if let Some(p) = &self.external {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            if p.print(format!("{text}\n")).is_ok() {
                return;
            }
        }
        let mut out = io::stdout().lock();
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Prints one line on stderr (logs and errors).
    pub fn error(&self, text: &str) {
        if let Some(p) = &self.external {
            let mut p = p.lock().unwrap_or_else(|e| e.into_inner());
            if p.print(format!("{text}\n")).is_ok() {
                return;
            }
        }
        eprintln!("{text}");
    }
}

/// What reading a line gave.
#[derive(Debug)]
pub enum Input {
    /// A line (without its newline).
    Line(String),
    /// End of input (Ctrl-D, or the pipe closed).
    Eof,
    /// Ctrl-C at the line editor.
    Interrupted,
}

/// The person's side of the terminal.
pub struct Terminal {
    editor: Option<DefaultEditor>,
    printer: Printer,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal")
            .field("editor", &self.editor.is_some())
            .finish()
    }
}

impl Terminal {
    /// A line editor when stdin and stdout are terminals, plain lines otherwise.
    pub fn new() -> Self {
        let mut editor = None;
        let mut external = None;
        if io::stdin().is_terminal() && io::stdout().is_terminal() {
            if let Ok(mut ed) = DefaultEditor::new() {
                if let Ok(p) = ed.create_external_printer() {
                    let boxed: Box<dyn ExternalPrinter + Send> = Box::new(p);
                    external = Some(Arc::new(Mutex::new(boxed)));
                    editor = Some(ed);
                }
            }
        }
        Self {
            editor,
            printer: Printer { external },
        }
    }

    /// Whether a line editor is in use.
    pub fn is_interactive(&self) -> bool {
        self.editor.is_some()
    }

    /// A printer other threads can use.
    pub fn printer(&self) -> Printer {
        self.printer.clone()
    }

    /// Reads one line, showing `prompt` (on a terminal) first.
    pub fn read_line(&mut self, prompt: &str) -> io::Result<Input> {
        if let Some(editor) = &mut self.editor {
            return match editor.readline(prompt) {
                Ok(line) => {
                    let _ = editor.add_history_entry(line.as_str());
                    Ok(Input::Line(line))
                }
                Err(rustyline::error::ReadlineError::Eof) => Ok(Input::Eof),
                Err(rustyline::error::ReadlineError::Interrupted) => Ok(Input::Interrupted),
                Err(e) => Err(io::Error::other(e)),
            };
        }
        let mut line = String::new();
        if io::stdin().lock().read_line(&mut line)? == 0 {
            return Ok(Input::Eof);
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Ok(Input::Line(line))
    }
}

impl Default for Terminal {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads the operator's console on its own thread: each line goes to
/// `on_line`. Ctrl-C, or Ctrl-D at a line editor, sends on `stop` (the
/// server stops); a closed pipe only stops reading the console.
pub fn spawn_console(
    mut terminal: Terminal,
    prompt: &'static str,
    stop: std::sync::mpsc::Sender<&'static str>,
    mut on_line: impl FnMut(String) + Send + 'static,
) -> io::Result<()> {
    let interactive = terminal.is_interactive();
    let printer = terminal.printer();
    std::thread::Builder::new()
        .name("console".into())
        .spawn(move || loop {
            match terminal.read_line(prompt) {
                Ok(Input::Line(line)) => on_line(line),
                Ok(Input::Interrupted) => {
                    let _ = stop.send("interrupted");
                    return;
                }
                Ok(Input::Eof) if interactive => {
                    let _ = stop.send("end of input");
                    return;
                }
                Ok(Input::Eof) => return,
                Err(e) => {
                    printer.error(&format!("[commlab] console: {e}"));
                    return;
                }
            }
        })
        .map(|_| ())
}
