//! The repository's documents are self-contained: every relative link resolves to a file inside
//! the repository, and none names a path outside it (the team's design folder beside the
//! checkout does not exist for a reader of the published repository).

use std::path::{Component, Path, PathBuf};

/// The workspace root (this crate lives one level below it).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is inside the workspace")
        .to_path_buf()
}

/// Every Markdown document a reader meets: the README, `docs/`, the protocol and the
/// conformance map.
fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![
        root.join("README.md"),
        root.join("signalling-proto/PROTOCOL.md"),
        root.join("sfu/tests/CONFORMANCE.md"),
    ];
    let mut in_docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);
    docs
}

/// The targets of `[text](target)` links in `text`.
fn link_targets(text: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(&rest[..end]);
            rest = &rest[end..];
        }
    }
    targets
}

/// `path` with `.` and `..` folded, without touching the file system.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

// Relative links resolve inside the repository; no document names `../shared` or another path
// above the repository root.
#[test]
fn documents_link_only_inside_the_repository() {
    let root = normalise(&root());
    let mut problems = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("readable document");
        let dir = doc.parent().expect("a parent");
        let name = doc
            .strip_prefix(&root)
            .unwrap_or(&doc)
            .display()
            .to_string();
        if text.contains("../shared")
            || text.contains("shared/design")
            || text.contains("shared/spec")
        {
            problems.push(format!(
                "{name}: names the design folder outside the repository"
            ));
        }
        for target in link_targets(&text) {
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with('#')
            {
                continue;
            }
            let path = target.split('#').next().unwrap_or(target);
            let resolved = normalise(&dir.join(path));
            if !resolved.starts_with(&root) {
                problems.push(format!("{name}: {target} leaves the repository"));
            } else if !resolved.exists() {
                problems.push(format!("{name}: {target} does not exist"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
