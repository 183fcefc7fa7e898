//! Every `ess` command shown in docs/workflows.md is run here from the repository
//! root, and its output must be exactly what the page shows.

use std::process::Command;

/// `(command line, shown output)` of every ```console block whose command starts
/// with `ess `.
fn blocks(doc: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut rest = doc;
    while let Some(start) = rest.find("```console\n") {
        let body = &rest[start + "```console\n".len()..];
        let end = body.find("```").expect("closed block");
        let block = &body[..end];
        let (first, output) = block.split_once('\n').unwrap();
        if let Some(cmd) = first.strip_prefix("$ ess ") {
            out.push((cmd.to_string(), output.to_string()));
        }
        rest = &body[end + 3..];
    }
    out
}

#[test]
fn every_ess_command_in_the_workflows_page_prints_what_the_page_shows() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let doc = std::fs::read_to_string(format!("{root}/docs/workflows.md")).unwrap();
    let blocks = blocks(&doc);
    assert!(blocks.len() >= 2, "the page shows ess commands");
    for (cmd, shown) in blocks {
        let out = Command::new(env!("CARGO_BIN_EXE_ess"))
            .args(cmd.split_whitespace())
            .current_dir(root)
            .output()
            .expect("run ess");
        assert!(out.status.success(), "ess {cmd}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8(out.stdout).unwrap(), shown, "ess {cmd}");
    }
}
