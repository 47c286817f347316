//! The house rules, read off `src/` (no env, no network): modules depend one way only — no
//! circle between two top-level modules, nor between two modules inside one — no file holds
//! more than 600 lines of code outside its tests, `src/feishu/` at most 1,400, and the lines
//! wider than 100 columns stay within their shrinking budget. A feature that regrows a circle,
//! a file or a wide line fails here, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const FILE_LIMIT: usize = 600;
const FEISHU_LIMIT: usize = 1400;
/// Lines of code in `src/` wider than 100 columns (rustfmt's `max_width`, which it cannot
/// apply inside string literals, maud templates and tracing macros): at most this many. The
/// budget only goes down — a change that widens a line fails here; one that narrows lines
/// lowers it.
const WIDE_LINES: usize = 358;
const MAX_WIDTH: usize = 100;

/// Every source file of `src/`: its module path (`["console", "auth"]`) and its code, without
/// the test module at its end.
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
            let rel = path.strip_prefix(&src).unwrap().with_extension("");
            let mut name: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if name.last().is_some_and(|l| l == "mod") {
                name.pop();
            }
            if name == ["lib"] || name == ["main"] {
                name.clear();
            }
            // A file that is a test module as a whole.
            if name.last().is_some_and(|l| l == "tests") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = match text.find("#[cfg(test)]\nmod ") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            out.insert(name, code);
        }
    }
    let mut out = BTreeMap::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
    out
}

/// The modules a file names: `crate::a::b` as `[a, b]`, `super::x` as its sibling `x`.
fn uses(name: &[String], code: &str) -> BTreeSet<Vec<String>> {
    let word = |s: &str| {
        s.chars()
            .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
            .collect::<String>()
    };
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        let first = word(rest);
        if first.is_empty() {
            continue;
        }
        let mut path = vec![first.clone()];
        if let Some(after) = rest[first.len()..].strip_prefix("::") {
            let second = word(after);
            if !second.is_empty() {
                path.push(second);
            }
        }
        out.insert(path);
    }
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code[..i].ends_with("super::") || name.is_empty() {
            continue;
        }
        let sibling = word(&code[i + "super::".len()..]);
        if !sibling.is_empty() {
            let mut path = name[..name.len() - 1].to_vec();
            path.push(sibling);
            out.insert(path);
        }
    }
    out
}

/// The strongly connected parts of more than one node: the circles.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Tarjan<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        next: usize,
        found: Vec<Vec<String>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: &str) {
            self.index.insert(v.to_owned(), self.next);
            self.low.insert(v.to_owned(), self.next);
            self.next += 1;
            self.stack.push(v.to_owned());
            for w in self.graph.get(v).into_iter().flatten() {
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let l = self.low[w].min(self.low[v]);
                    self.low.insert(v.to_owned(), l);
                } else if self.stack.contains(w) {
                    let l = self.index[w].min(self.low[v]);
                    self.low.insert(v.to_owned(), l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut part = Vec::new();
                while let Some(w) = self.stack.pop() {
                    let done = w == v;
                    part.push(w);
                    if done {
                        break;
                    }
                }
                if part.len() > 1 {
                    part.sort();
                    self.found.push(part);
                }
            }
        }
    }
    let mut t = Tarjan {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        next: 0,
        found: Vec::new(),
    };
    let nodes: BTreeSet<String> = graph
        .iter()
        .flat_map(|(k, v)| std::iter::once(k.clone()).chain(v.iter().cloned()))
        .collect();
    for n in &nodes {
        if !t.index.contains_key(n) {
            t.visit(n);
        }
    }
    t.found
}

#[test]
fn the_house_rules_hold() {
    let modules = modules();
    let mut wrong = Vec::new();
    for (name, code) in &modules {
        let lines = code.lines().count();
        if lines > FILE_LIMIT {
            wrong.push(format!(
                "src/{}: {lines} lines of code (at most {FILE_LIMIT})",
                name.join("/")
            ));
        }
    }
    let feishu: usize = modules
        .iter()
        .filter(|(n, _)| n.first().is_some_and(|f| f == "feishu"))
        .map(|(_, c)| c.lines().count())
        .sum();
    if feishu > FEISHU_LIMIT {
        wrong.push(format!(
            "src/feishu/: {feishu} lines of code (at most {FEISHU_LIMIT})"
        ));
    }
    let wide: Vec<String> = modules
        .iter()
        .flat_map(|(name, code)| {
            code.lines()
                .enumerate()
                .filter(|(_, l)| l.chars().count() > MAX_WIDTH)
                .map(move |(i, _)| format!("src/{}:{}", name.join("/"), i + 1))
        })
        .collect();
    if wide.len() > WIDE_LINES {
        wrong.push(format!(
            "{} lines wider than {MAX_WIDTH} columns (at most {WIDE_LINES}), e.g. {}",
            wide.len(),
            wide.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    // Edges between top-level modules, and between the modules inside each one.
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut inner: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (name, code) in &modules {
        let Some(from) = name.first() else { continue };
        for to in uses(name, code) {
            if to[0] != *from {
                top.entry(from.clone()).or_default().insert(to[0].clone());
            } else if let (Some(a), Some(b)) = (name.get(1), to.get(1))
                && a != b
                && modules.contains_key(&vec![from.clone(), b.clone()])
            {
                inner
                    .entry(from.clone())
                    .or_default()
                    .entry(a.clone())
                    .or_default()
                    .insert(b.clone());
            }
        }
    }
    for c in circles(&top) {
        wrong.push(format!("a circle between modules: {}", c.join(" ↔ ")));
    }
    for (module, graph) in &inner {
        for c in circles(graph) {
            let c: Vec<String> = c.iter().map(|m| format!("{module}::{m}")).collect();
            wrong.push(format!("a circle inside {module}: {}", c.join(" ↔ ")));
        }
    }
    assert!(wrong.is_empty(), "the house rules:\n{}", wrong.join("\n"));
}

#[test]
fn the_house_check_sees_a_circle_and_a_sibling() {
    let g: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["a".to_owned(), "c".to_owned()].into()),
    ]
    .into();
    assert_eq!(circles(&g), vec![vec!["a".to_owned(), "b".to_owned()]]);
    let name = vec!["console".to_owned(), "pages".to_owned()];
    let u = uses(
        &name,
        "use super::data::X; crate::store::Store; super::super::x",
    );
    assert!(u.contains(&vec!["console".to_owned(), "data".to_owned()]));
    assert!(
        u.contains(&vec!["store".to_owned(), "Store".to_owned()])
            || u.contains(&vec!["store".to_owned()])
    );
}
