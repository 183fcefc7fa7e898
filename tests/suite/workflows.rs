//! docs/workflows.md shows the output of `cargo run --release --example
//! initialization`: recompute it (the example's own code) and compare.

#[path = "../../examples/initialization.rs"]
mod initialization;

/// The output lines of the `console` block whose command is `command`.
fn console_output(doc: &str, command: &str) -> String {
    let start = doc.find(&format!("```console\n$ {command}\n")).expect("the block is in the doc");
    let body = &doc[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("```").unwrap()].to_string()
}

#[test]
fn the_initialization_table_in_the_docs_is_what_the_example_prints() {
    let doc = include_str!("../../docs/workflows.md");
    let shown = console_output(doc, "cargo run --release --example initialization");
    let rows = initialization::run(&initialization::STATE_SIZES).unwrap();
    assert!(rows.iter().all(|r| r.s6.0 <= r.n as f64 && r.gla.0 <= r.n as f64), "ESS ≤ TSS");
    assert_eq!(initialization::table(&rows), shown);
}
