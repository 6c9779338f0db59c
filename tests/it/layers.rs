//! The layer check: every arrow between top-level modules of `src/` (a
//! `crate::x` path in module `y`'s code is the arrow `y → x`) must be one
//! the table in `DESIGN.md` ("Module map", the fenced `layers` block)
//! allows; the table itself must have no cycle; and a few arrows are
//! forbidden whatever the table says (below). Reads the source as text: no
//! build step, no dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Arrows no table may allow: lower layers never reach the database face,
/// merge operators know only keys and errors, the filesystem knows
/// nothing above it.
const FORBIDDEN: &[(&str, &str)] = &[
    ("table", "db"),
    ("wal", "db"),
    ("iter", "db"),
    ("version", "db"),
    ("tree", "db"),
    ("read", "db"),
    ("compaction", "db"),
    ("memtable", "db"),
];

/// Modules that may use nothing but these.
const ONLY: &[(&str, &[&str])] = &[
    ("merge", &["error", "key"]),
    ("fs", &["error"]),
    ("key", &[]),
    ("error", &["filename"]),
];

/// Files held to a narrower rule than their module: the merge policy is a
/// pure function of the tree's shape, so it does no I/O and reads no
/// table.
const FILE_ONLY: &[(&str, &[&str])] = &[
    (
        "src/compaction/policy.rs",
        &["compaction", "error", "key", "version"],
    ),
    (
        "src/compaction/policy/tests.rs",
        &["compaction", "error", "key", "version"],
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without comments (line and block) and string
/// literals, so doc examples and messages do not count as arrows.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The top-level module a file of `src/` belongs to; `None` for the crate
/// root and for the binaries (which use the crate by its name).
fn module_of(rel: &Path) -> Option<String> {
    let mut parts = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let first = parts.next()?;
    if first == "bin" || first == "lib.rs" {
        return None;
    }
    Some(first.trim_end_matches(".rs").to_owned())
}

/// `crate::Name` items re-exported at the root (`pub use m::{Name, ...}`)
/// map to the module that defines them.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    let code = code_only(lib);
    for stmt in code.split(';') {
        let stmt = stmt.trim();
        let Some(rest) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        if rest.starts_with("crate::") {
            continue; // a nested module's re-export, not the root's
        }
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let items = items.trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            let name = item.trim().split("::").next().unwrap_or("").to_owned();
            if !name.is_empty() {
                map.insert(name, module.trim().to_owned());
            }
        }
    }
    map
}

/// Every `crate::x` a piece of code names: `crate::x::...`, and the
/// top-level names inside `use crate::{x, y::z}`.
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `mycrate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut start = 0;
            let inner = &group[..end];
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        push_name(&inner[start..i], &mut refs);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            push_name(&inner[start..], &mut refs);
        } else {
            push_name(rest, &mut refs);
        }
    }
    refs
}

fn push_name(path: &str, refs: &mut BTreeSet<String>) {
    let name: String = path
        .trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !name.is_empty() && name != "self" {
        refs.insert(name);
    }
}

/// The allowed arrows from `DESIGN.md`'s `layers` block: `module: a b c`.
fn allowed_table(design: &str) -> BTreeMap<String, BTreeSet<String>> {
    let start = design
        .find("```layers")
        .expect("DESIGN.md has a ```layers block in its module map");
    let block = &design[start + "```layers".len()..];
    let end = block.find("```").expect("the layers block ends");
    let mut table = BTreeMap::new();
    for line in block[..end].lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (module, deps) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("layers line without ':': {line}"));
        let deps = deps.split_whitespace().map(str::to_owned).collect();
        assert!(
            table.insert(module.trim().to_owned(), deps).is_none(),
            "module {module} listed twice in the layers block"
        );
    }
    table
}

/// The arrows in the code: module → (target → files that name it).
type Arrows = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

fn arrows_in_code() -> (Arrows, BTreeMap<String, BTreeSet<String>>) {
    let src = root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexports = root_reexports(&lib);
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut arrows = Arrows::new();
    let mut per_file = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(rel) else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&file).expect("read"));
        let mut targets = BTreeSet::new();
        for name in crate_refs(&code) {
            let target = reexports.get(&name).cloned().unwrap_or(name);
            if target != module {
                targets.insert(target.clone());
                arrows
                    .entry(module.clone())
                    .or_default()
                    .entry(target)
                    .or_default()
                    .insert(format!("src/{}", rel.display()));
            }
        }
        arrows.entry(module).or_default();
        per_file.insert(format!("src/{}", rel.display()), targets);
    }
    (arrows, per_file)
}

fn cycle(table: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        table: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let at = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[at..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in table.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, table, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in table.keys() {
        if let Some(c) = visit(node, table, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

#[test]
fn every_arrow_between_modules_is_allowed_by_design_md() {
    let design = std::fs::read_to_string(root().join("DESIGN.md")).expect("DESIGN.md");
    let table = allowed_table(&design);
    let (arrows, per_file) = arrows_in_code();
    let mut problems = Vec::new();
    for (module, targets) in &arrows {
        let Some(allowed) = table.get(module) else {
            problems.push(format!(
                "module {module} is not in DESIGN.md's layers block"
            ));
            continue;
        };
        for (target, files) in targets {
            if !allowed.contains(target) {
                problems.push(format!(
                    "{module} → {target} is not allowed by DESIGN.md (in {})",
                    files.iter().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
        }
    }
    for module in table.keys() {
        if !arrows.contains_key(module) {
            problems.push(format!(
                "DESIGN.md lists {module}, which src/ does not have"
            ));
        }
    }
    for (from, to) in FORBIDDEN {
        if table.get(*from).is_some_and(|a| a.contains(*to)) {
            problems.push(format!(
                "DESIGN.md allows the forbidden arrow {from} → {to}"
            ));
        }
    }
    for (module, only) in ONLY {
        for target in table.get(*module).into_iter().flatten() {
            if !only.contains(&target.as_str()) {
                problems.push(format!(
                    "{module} may use only {only:?}, but DESIGN.md allows {target}"
                ));
            }
        }
    }
    for (file, only) in FILE_ONLY {
        let targets = per_file
            .get(*file)
            .unwrap_or_else(|| panic!("{file} is gone: update FILE_ONLY"));
        for target in targets {
            if !only.contains(&target.as_str()) {
                problems.push(format!("{file} may use only {only:?}, but uses {target}"));
            }
        }
    }
    if let Some(c) = cycle(&table) {
        problems.push(format!("the layers block has a cycle: {}", c.join(" → ")));
    }
    assert!(
        problems.is_empty(),
        "layer check:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_layer_check_sees_arrows_and_cycles() {
    let code = code_only(
        "use crate::a::X; // crate::hidden\nuse crate::{b, c::d::{E, F}};\nlet s = \"crate::quoted\"; crate::g::h();",
    );
    let refs: Vec<_> = crate_refs(&code).into_iter().collect();
    assert_eq!(refs, ["a", "b", "c", "g"]);
    let table: BTreeMap<String, BTreeSet<String>> = [
        ("x".to_owned(), ["y".to_owned()].into()),
        ("y".to_owned(), ["z".to_owned()].into()),
        ("z".to_owned(), ["x".to_owned()].into()),
    ]
    .into();
    assert!(cycle(&table).is_some());
    let acyclic: BTreeMap<String, BTreeSet<String>> = [
        ("x".to_owned(), ["y".to_owned()].into()),
        ("y".to_owned(), BTreeSet::new()),
    ]
    .into();
    assert_eq!(cycle(&acyclic), None);
}
