//! `cargo xtask codemap` in check mode: `cargo test` fails when the optimizer table of
//! ARCHITECTURE.md no longer matches the sources.

#[test]
fn the_architecture_optimizer_table_is_current() {
    let (ok, msg) = xtask::codemap::codemap(&xtask::workspace_root(), false);
    assert!(ok, "{msg}");
}

#[test]
fn the_table_reaches_each_optimizer_its_primitives_and_state() {
    let t = xtask::codemap::table(&xtask::workspace_root());
    let adamw = t
        .lines()
        .find(|l| l.starts_with("| `adamw`"))
        .expect("adamw has a row");
    for part in [
        "[`optimizers/adam.rs`](crates/optim-core/src/optimizers/adam.rs)",
        "[`scale_by_adam`](crates/optim-core/src/primitives/moments.rs)",
        "`AdamwState`",
        "reference/adamw.json",
    ] {
        assert!(adamw.contains(part), "{part} missing: {adamw}");
    }
    assert!(t.contains("| `nadam` |") && t.contains("`adam` with other defaults"));
    assert!(
        t.contains("| `adafactor` |") && t.contains("| `sm3` |"),
        "{t}"
    );
}
