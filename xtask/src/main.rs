//! `cargo xtask <task>`: workspace tasks. See the library docs.

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask verify [--update] | cargo xtask codemap [--update]

verify    runs every documented trace (built-in and examples/) and checks it against
          its documentation, its snapshot in xtask/snapshots and optax's reference;
          exits non-zero on any mismatch
          --update rewrites changed or missing snapshots (never the documentation)
codemap   checks the optimizer table of ARCHITECTURE.md against the sources;
          --update rewrites it";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let update = match args.as_slice() {
        ["verify"] => false,
        ["verify", "--update"] => true,
        ["codemap", rest @ ..] if rest.is_empty() || rest == ["--update"] => {
            let (ok, msg) = xtask::codemap::codemap(&xtask::workspace_root(), !rest.is_empty());
            println!("{msg}");
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        ["-h"] | ["--help"] | ["help"] => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let report = xtask::verify::verify_workspace(update);
    print!("{}", report.render());
    if report.ok() {
        println!("\nverify: {} documented traces hold", report.rows.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
