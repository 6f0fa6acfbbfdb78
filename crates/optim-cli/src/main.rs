//! `optim`: command-line tool of the optim optimizer library.
//!
//! `optim replay FILE.json...` replays optax reference case files and prints one JSON
//! array, one entry per case in input order.

use optim_cli::{case, replay};
use std::process::ExitCode;

const USAGE: &str = "usage: optim replay FILE.json...

Replays optax-format case files (see the reference README) with optim's optimizers and
prints a JSON array with one entry per case, in input order:
  {\"id\", \"values\": [f(x0), ...], \"params\": [{leaf: [...]}, ...]}  or  {\"id\", \"error\"}";

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
    let mut out = Vec::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("optim replay: cannot read {file}: {e}");
                return ExitCode::from(2);
            }
        };
        let cases = match case::parse_file(&text) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("optim replay: {file}: {e}");
                return ExitCode::from(2);
            }
        };
        for c in cases {
            out.push(match c {
                Ok(c) => replay::replay_entry(&c.id, replay::run_case(&c)),
                Err((id, e)) => replay::replay_entry(&id, Err(e)),
            });
        }
    }
    match serde_json::to_string(&out) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("optim replay: cannot write output: {e}");
            ExitCode::from(1)
        }
    }
}
