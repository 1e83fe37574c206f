//! The module map stays true: arrows between top-level modules (read from the `crate::` paths
//! in `src/`) point down the layers, and no new cycle appears.
//!
//! Layers, bottom to top:
//! 0 `domain` (plain data and rules), `metric_names` (every metric name) · 1 `config` · 2 `store` (the only way into Redis) ·
//! 3 services: `planner`, `shipping`, `archive`, `observe`, `state`, and the pure parsers
//! `import` and `client` · 4 `web` (what the HTTP edges share: auth, errors) ·
//! 5 edges: `ingest`, `http`, `tablet`, `cli`, `metrics`.
//! An arrow may stay inside a layer (a service using another service) but never point up.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("metric_names", 0),
    ("config", 1),
    ("store", 2),
    ("planner", 3),
    ("shipping", 3),
    ("archive", 3),
    ("observe", 3),
    ("state", 3),
    ("import", 3),
    ("client", 3),
    ("web", 4),
    ("ingest", 5),
    ("http", 5),
    ("tablet", 5),
    ("cli", 5),
    ("metrics", 5),
];

/// Cycles (strongly connected sets) still in the code, a known debt to pay off, never to grow.
/// None left: `shipping` takes its own context (`shipping::Shipping`, held by `AppState`) and
/// reads the wave and parcel rows from `store::records`, so `state -> shipping` and
/// `planner -> shipping` are one way.
const KNOWN_CYCLES: &[&[&str]] = &[];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `top -> {tops it names}`, from every `crate::name` outside comments.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let top = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        let deps = graph.entry(top.clone()).or_default();
        for line in text.lines() {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() && name != top {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    impl<'g> Walk<'g> {
        fn visit(&mut self, v: &'g str) {
            let i = self.index.len();
            self.index.insert(v, i);
            self.low.insert(v, i);
            self.stack.push(v);
            for w in self.graph.get(v).into_iter().flatten() {
                let w = w.as_str();
                if !self.index.contains_key(w) {
                    self.visit(w);
                    let lw = self.low[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.stack.contains(&w) {
                    let iw = self.index[w];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut comp = Vec::new();
                while let Some(w) = self.stack.pop() {
                    comp.push(w.to_owned());
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort();
                    self.found.push(comp);
                }
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in graph.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

fn arrows(graph: &BTreeMap<String, BTreeSet<String>>) -> String {
    graph
        .iter()
        .map(|(a, bs)| {
            format!(
                "{a} -> {}",
                bs.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The cycles of `graph` that are not in [`KNOWN_CYCLES`].
fn new_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let known: Vec<Vec<String>> = KNOWN_CYCLES
        .iter()
        .map(|c| c.iter().map(|s| s.to_string()).collect())
        .collect();
    cycles(graph)
        .into_iter()
        .filter(|c| !known.contains(c))
        .collect()
}

#[test]
fn no_new_cycle_between_top_level_modules() {
    let graph = module_graph();
    let new = new_cycles(&graph);
    assert!(
        new.is_empty(),
        "new import cycle(s) between top-level modules: {new:?}\nthe arrows:\n{}",
        arrows(&graph)
    );
}

#[test]
fn arrows_point_down_the_layers() {
    let graph = module_graph();
    let layer = |m: &str| LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l);
    let mut wrong = Vec::new();
    for (from, tos) in &graph {
        let Some(lf) = layer(from) else {
            wrong.push(format!(
                "{from}: a new top-level module, give it a layer in LAYERS"
            ));
            continue;
        };
        for to in tos {
            match layer(to) {
                Some(lt) if lt <= lf => {}
                Some(lt) => wrong.push(format!("{from} (layer {lf}) -> {to} (layer {lt})")),
                None => wrong.push(format!("{to}: a new top-level module, give it a layer")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "arrows pointing up: {wrong:#?}\nthe arrows:\n{}",
        arrows(&graph)
    );
}

/// What only `src/store/` may write: the redis crate's paths (commands, scripts, pipelines,
/// connections) and the pool's raw calls.
const RAW_REDIS: &[&str] = &[
    "redis::",
    "query_async",
    "invoke_async",
    ".conn()",
    ".bounded(",
];

/// Files outside `src/store/` allowed to name the redis crate, and why. A type only, never a
/// command: `planner/shell.rs` reads the planner's stream entries as `redis::streams::StreamId`.
const RAW_REDIS_ALLOWED: &[&str] = &["planner/shell.rs"];

#[test]
fn only_the_store_talks_to_redis() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut raw = Vec::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        let shown = rel.to_string_lossy().replace('\\', "/");
        if shown.starts_with("store/") || RAW_REDIS_ALLOWED.contains(&shown.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(what) = RAW_REDIS.iter().find(|w| code.contains(*w)) {
                raw.push(format!(
                    "src/{shown}:{}: `{what}` in {}",
                    n + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        raw.is_empty(),
        "Redis is reached through Store methods only (add one under src/store/, keys from \
         store::keys, scripts under src/store/lua/):\n{}",
        raw.join("\n")
    );
}

#[test]
fn the_cycle_finder_finds_cycles() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    g.entry("c".into()).or_default().insert("a".into());
    g.entry("d".into()).or_default().insert("a".into());
    assert_eq!(
        cycles(&g),
        vec![vec!["a".to_owned(), "b".into(), "c".into()]]
    );
}

#[test]
fn one_arrow_back_up_is_a_new_cycle() {
    // The real graph has none; `shipping -> state` or `store -> planner` added back is one.
    let mut g = module_graph();
    assert!(new_cycles(&g).is_empty());
    g.entry("shipping".into())
        .or_default()
        .insert("state".into());
    assert_eq!(
        new_cycles(&g),
        vec![vec!["shipping".to_owned(), "state".into()]]
    );
    let mut g = module_graph();
    g.entry("store".into())
        .or_default()
        .insert("planner".into());
    assert!(new_cycles(&g)
        .iter()
        .any(|c| c.contains(&"store".to_owned()) && c.contains(&"planner".to_owned())));
}
