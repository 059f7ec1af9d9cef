//! "Only `poseidon-harness` knows the Ansible protocol" (ARCHITECTURE.md), checked on the
//! sources: no other crate's code writes an `_ansible_*` key, reads a result's `failed`
//! or `msg`, or builds the protocol's JSON itself (`run_with_input`).

use std::path::Path;

/// Text that only protocol code contains.
const PROTOCOL_MARKERS: &[&str] = &["\"_ansible_", "[\"failed\"]", "[\"msg\"]", "run_with_input"];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_harness_speaks_the_protocol() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(&crates).unwrap() {
        let krate = entry.unwrap().path();
        // Tests (and testkit, their helper crate) drive module binaries through the
        // protocol on purpose; only shipped code (src/) must stay out of it.
        let checked = krate
            .file_name()
            .is_some_and(|n| n != "harness" && n != "testkit");
        if checked && krate.join("src").is_dir() {
            rust_files(&krate.join("src"), &mut files);
        }
    }
    assert!(
        files.len() > 20,
        "found the other crates' sources: {files:?}"
    );
    let offenders: Vec<String> = files
        .iter()
        .flat_map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            PROTOCOL_MARKERS
                .iter()
                .filter(move |marker| text.contains(*marker))
                .map(move |marker| format!("{}: {marker}", file.display()))
        })
        .collect();
    assert!(
        offenders.is_empty(),
        "protocol outside the harness: {offenders:?}"
    );
}
