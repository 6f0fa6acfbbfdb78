//! Compile-fail cases of `#[optimizer]`, one mistake per file in `tests/ui/`, each with
//! the spanned message a user sees (`*.stderr`).

#[test]
fn optimizer_macro_reports_spanned_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
