#!/usr/bin/env python3
"""The configuration reference, generated from the code.

Reads the config types in src/config/mod.rs (each field's `///` doc comment, its serde
default) and the built-in defaults in config/default.toml (the base layer, so its values
win over the Rust `Default`), and prints a Markdown table: key, default, meaning.

    scripts/config-table.py            print the table
    scripts/config-table.py --write    put it into README.md between the markers
    scripts/config-table.py --check    exit 1 if README.md's table differs (for CI)

The markers in README.md are `<!-- config-table:begin -->` and `<!-- config-table:end -->`.
Where config/default.toml and a Rust `Default` disagree, a note goes to stderr (the file's
value is the one in force).
"""

import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MOD_RS = ROOT / "src" / "config" / "mod.rs"
DEFAULT_TOML = ROOT / "config" / "default.toml"
README = ROOT / "README.md"
BEGIN = "<!-- config-table:begin -->"
END = "<!-- config-table:end -->"

# How a top-level section or array is named in TOML: the `Config` struct's fields.
ARRAYS_SHOWN_AS = "[[{name}]]"


class Field:
    def __init__(self, name, ty, doc, serde):
        self.name = name
        self.ty = ty
        self.doc = doc
        self.serde = serde  # text of the field's #[serde(...)] attributes


class Struct:
    def __init__(self, name, doc, serde):
        self.name = name
        self.doc = doc
        self.serde = serde
        self.fields = []


def parse_structs(text):
    """Every `pub struct Name { ... }` with its doc comment, serde attributes and fields."""
    structs = {}
    lines = text.splitlines()
    i = 0
    doc, attrs = [], []
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("///"):
            doc.append(line[3:].strip())
        elif line.startswith("#["):
            attrs.append(line)
        else:
            m = re.match(r"pub struct (\w+)\s*\{", line)
            if m:
                st = Struct(m.group(1), " ".join(doc), " ".join(attrs))
                i += 1
                fdoc, fattrs = [], []
                while i < len(lines) and lines[i].strip() != "}":
                    fl = lines[i].strip()
                    if fl.startswith("///"):
                        fdoc.append(fl[3:].strip())
                    elif fl.startswith("#["):
                        fattrs.append(fl)
                    else:
                        fm = re.match(r"pub (\w+):\s*(.+?),?$", fl)
                        if fm:
                            st.fields.append(
                                Field(fm.group(1), fm.group(2), " ".join(fdoc), " ".join(fattrs))
                            )
                        fdoc, fattrs = [], []
                    i += 1
                structs[st.name] = st
            doc, attrs = [], []
        i += 1
    return structs


def parse_default_impls(text):
    """`impl Default for X { ... X { field: value, ... } }` → {X: {field: rust expr}}."""
    out = {}
    for m in re.finditer(r"impl Default for (\w+) \{(.*?)\n\}", text, re.S):
        fields = {}
        for fm in re.finditer(r"^\s*(\w+):\s*(.+?),\s*$", m.group(2), re.M):
            fields[fm.group(1)] = fm.group(2)
        out[m.group(1)] = fields
    return out


def parse_default_fns(text):
    """`fn default_x() -> T { value }` → {default_x: rust expr}."""
    out = {}
    for m in re.finditer(r"fn (default_\w+)\(\) -> [^{]+\{\s*(.+?)\s*\}", text, re.S):
        out[m.group(1)] = m.group(2)
    return out


def rust_value(expr):
    """A Rust default expression as it would be written in TOML."""
    expr = expr.strip()
    expr = re.sub(r"\.(into|to_owned|to_string)\(\)$", "", expr)
    m = re.fullmatch(r'PathBuf::from\((".*")\)', expr)
    if m:
        expr = m.group(1)
    if expr in ("String::new()", '""'):
        return '""'
    if expr in ("Vec::new()", "vec![]"):
        return "[]"
    if expr == "None":
        return "unset"
    m = re.fullmatch(r"(?:Fsync|LogFormat|CarrierKind)::(\w+)", expr)
    if m:
        return '"' + m.group(1).lower() + '"'
    if expr == "RedisTarget::Embedded":
        return '"embedded"'
    m = re.fullmatch(r"(\d[\d_]*)\s*\*\s*(\d[\d_]*)", expr)
    if m:
        return str(int(m.group(1).replace("_", "")) * int(m.group(2).replace("_", "")))
    m = re.fullmatch(r"(\d+)\s*\*\s*(\d+)\s*\*\s*(\d+)", expr)
    if m:
        return str(int(m.group(1)) * int(m.group(2)) * int(m.group(3)))
    if re.fullmatch(r"[\d_]+(\.\d+)?", expr):
        return expr.replace("_", "")
    return expr


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v)


def empty_of(ty):
    if ty.startswith("Option<"):
        return "unset"
    if ty.startswith("Vec<"):
        return "[]"
    if ty.startswith("BTreeMap<") or ty.startswith("HashMap<"):
        return "{}"
    if ty in ("String", "Secret", "PathBuf"):
        return '""'
    if ty == "bool":
        return "false"
    return "0"


def cell(s):
    return s.replace("|", "\\|").replace("\n", " ")


def section_rows(prefix, st, impls, fns, file_values, notes):
    """Rows for a `[section]` (default from the file, else the Rust default)."""
    rows = []
    rust_defaults = impls.get(st.name, {})
    struct_default = "default" in st.serde and "default =" not in st.serde
    for f in st.fields:
        key = f"{prefix}.{f.name}"
        rust = None
        if f.name in rust_defaults:
            rust = rust_value(rust_defaults[f.name])
        m = re.search(r'default\s*=\s*"(\w+)"', f.serde)
        if m and m.group(1) in fns:
            rust = rust_value(fns[m.group(1)])
        elif rust is None and (struct_default or "default" in f.serde):
            rust = empty_of(f.ty)
        if f.name in file_values:
            shown = toml_value(file_values[f.name])
            if rust is not None and rust != shown and f.ty != "Secret":
                notes.append(f"{key}: config/default.toml says {shown}, the Rust Default {rust}")
        else:
            shown = rust if rust is not None else "required"
        rows.append((key, shown, f.doc))
    return rows


def array_rows(prefix, st, impls, fns, demo_count, structs):
    """Rows for an array of tables `[[name]]`: per entry, defaults from serde only."""
    rows = [(ARRAYS_SHOWN_AS.format(name=prefix), f"{demo_count} demo entr{'y' if demo_count == 1 else 'ies'}", st.doc)]
    for f in st.fields:
        key = f"{prefix}[].{f.name}"
        m = re.search(r'default\s*=\s*"(\w+)"', f.serde)
        if m and m.group(1) in fns:
            shown = rust_value(fns[m.group(1)])
        elif "default" in f.serde:
            shown = empty_of(f.ty)
        else:
            shown = "required"
        doc = f.doc
        inner = re.fullmatch(r"Vec<(?:crate::\w+::\w+::)?(\w+)>", f.ty)
        if inner and inner.group(1) not in structs and inner.group(1) not in ("String",):
            doc = (doc + " " if doc else "") + f"(`[[{prefix}.{f.name}]]`, `{inner.group(1)}`)"
        rows.append((key, shown, doc))
    return rows


def table():
    text = MOD_RS.read_text(encoding="utf-8")
    structs = parse_structs(text)
    impls = parse_default_impls(text)
    fns = parse_default_fns(text)
    defaults = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    notes = []
    rows = []
    for f in structs["Config"].fields:
        ty = f.ty
        vec = re.fullmatch(r"Vec<(\w+)>", ty)
        if vec:
            st = structs[vec.group(1)]
            rows += array_rows(f.name, st, impls, fns, len(defaults.get(f.name, [])), structs)
        else:
            st = structs[ty]
            rows += section_rows(f.name, st, impls, fns, defaults.get(f.name, {}), notes)
    out = ["| key | default | meaning |", "|---|---|---|"]
    for key, default, doc in rows:
        out.append(f"| `{cell(key)}` | `{cell(default)}` | {cell(doc)} |")
    return "\n".join(out) + "\n", notes


def readme_block(readme):
    try:
        start = readme.index(BEGIN) + len(BEGIN)
        end = readme.index(END, start)
    except ValueError:
        return None, None, None
    return start, end, readme[start:end]


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode not in ("", "--check", "--write"):
        print(__doc__, file=sys.stderr)
        return 2
    generated, notes = table()
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    if mode == "":
        sys.stdout.write(generated)
        return 0
    readme = README.read_text(encoding="utf-8")
    start, end, current = readme_block(readme)
    if start is None:
        print(f"README.md has no {BEGIN} … {END} markers", file=sys.stderr)
        return 1
    wanted = "\n" + generated
    if mode == "--check":
        if current != wanted:
            print(
                "README.md's configuration table differs from the config types: "
                "run scripts/config-table.py --write",
                file=sys.stderr,
            )
            return 1
        return 0
    README.write_text(readme[:start] + wanted + readme[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
