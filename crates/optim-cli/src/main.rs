//! `optim`: command-line tool of the optim optimizer library.
//!
//! `optim replay FILE.json...` replays optax reference case files and prints one JSON
//! array, one entry per case in input order.

use optim_cli::{case, output};
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str = "usage: optim replay FILE.json...

Replays optax-format case files (see the reference README) with optim's optimizers and
prints a JSON array with one entry per case, in input order, each step as it is done:
  {\"id\", \"params\": [{leaf: [...]}, ...], \"values\": [f(x0), ...]}
or, for a case that fails, \"error\" in place of \"values\". Numbers that are not finite
are written NaN, Infinity and -Infinity, as Python's json module writes and reads them.
Case files are parsed strictly: unknown fields are errors, and errors name the field's
path and its line and column. A case runs at most 1000000 steps.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("replay") if args.len() > 1 => replay_files(&args[1..]),
        Some("-h") | Some("--help") | Some("help") => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn replay_files(files: &[String]) -> ExitCode {
    // Every file is read and parsed before any output, so a missing or broken file is
    // an error on its own, not a truncated array.
    let mut parsed = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("optim replay: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        };
        match case::parse_file(&text) {
            Ok(c) => parsed.push(c),
            Err(e) => {
                eprintln!("optim replay: {file}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let written = (|| {
        out.write_all(b"[")?;
        for (i, case) in parsed.into_iter().flatten().enumerate() {
            if i > 0 {
                out.write_all(b",\n")?;
            }
            output::write_entry(&mut out, case)?;
        }
        out.write_all(b"]\n")?;
        out.flush()
    })();
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("optim replay: cannot write output: {e}");
            ExitCode::from(1)
        }
    }
}
