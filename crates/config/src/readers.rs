//! The file formats, read the way uWSGI 2.0 reads them, into ordered `(key, value, line)`
//! pairs of one section. Sans-IO: text in, pairs out; the loader opens the files.
//!
//! - ini: lines trimmed; whole-line `;`/`#` comments; `[name]` opens a section;
//!   split at the first `=`; a key without `=` has no value. Text after a value is part of it.
//! - YAML (as uWSGI's built-in reader): `#` starts a comment anywhere; the section
//!   is a top-level `name:`; its indented lines split at the first `: `; quotes are kept
//!   (the loader unquotes later). Repeated keys are repeated values, which strict YAML
//!   parsers refuse, so this is not a YAML library.
//! - JSON: members of the section object in file order; `true` → `1`,
//!   `false`/`null` → `0`; arrays give one pair per item.
//! - TOML (ruwsgi addition, read with figment): like JSON; tables are unordered there, so
//!   keys come in name order (repeat a key with an array to keep an order).
//! - XML: children of the root `<uwsgi>` element; an empty element is `1`.

use std::fmt;

/// One key and its value as a file spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The key as written.
    pub key: String,
    /// The value; `None` for an ini key without `=`.
    pub value: Option<String>,
    /// 1-based line, 0 when the format does not tell.
    pub line: usize,
}

impl Pair {
    fn new(key: &str, value: Option<&str>, line: usize) -> Pair {
        Pair {
            key: key.to_string(),
            value: value.map(str::to_string),
            line,
        }
    }
}

/// The file formats ruwsgi reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `--ini`
    Ini,
    /// `--yaml`
    Yaml,
    /// `--json`
    Json,
    /// `--toml`
    Toml,
    /// `--xml`
    Xml,
}

impl Format {
    /// The format an include option or a file name's extension names.
    pub fn from_option(name: &str) -> Option<Format> {
        Some(match name {
            "ini" => Format::Ini,
            "yaml" => Format::Yaml,
            "json" => Format::Json,
            "toml" => Format::Toml,
            "xml" => Format::Xml,
            _ => return None,
        })
    }

    /// The format of a bare command-line file argument, by extension (as uWSGI picks
    /// it).
    pub fn from_path(path: &str) -> Option<Format> {
        let ext = path.rsplit_once('.')?.1;
        Some(match ext {
            "ini" => Format::Ini,
            "yaml" | "yml" => Format::Yaml,
            "json" | "js" => Format::Json,
            "toml" => Format::Toml,
            "xml" => Format::Xml,
            _ => return None,
        })
    }

    /// The option that loads this format.
    pub fn option(self) -> &'static str {
        match self {
            Format::Ini => "ini",
            Format::Yaml => "yaml",
            Format::Json => "json",
            Format::Toml => "toml",
            Format::Xml => "xml",
        }
    }
}

/// A syntax error in a JSON, TOML or XML file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError(pub String);

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The pairs of `section` in `text`, and whether the section was found.
pub fn read(format: Format, text: &str, section: &str) -> Result<(Vec<Pair>, bool), SyntaxError> {
    match format {
        Format::Ini => Ok(ini(text, section)),
        Format::Yaml => Ok(yaml(text, section)),
        Format::Json => json(text, section),
        Format::Toml => toml(text, section),
        Format::Xml => xml(text, section),
    }
}

/// uWSGI's ini reader.
pub fn ini(text: &str, section: &str) -> (Vec<Pair>, bool) {
    let trim = |s: &str| s.trim_matches([' ', '\t', '\r']).to_string();
    let mut current = String::new();
    let mut found = false;
    let mut pairs = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = trim(raw);
        if line.is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            // uWSGI drops the last character, whatever it is.
            let mut name = name.to_string();
            name.pop();
            current = name;
            continue;
        }
        if current != section {
            continue;
        }
        found = true;
        match line.split_once('=') {
            Some((k, v)) => pairs.push(Pair::new(&trim(k), Some(&trim(v)), i + 1)),
            None => pairs.push(Pair::new(&line, None, i + 1)),
        }
    }
    (pairs, found)
}

/// uWSGI 2.0's built-in YAML reader (the one its pip build uses).
pub fn yaml(text: &str, section: &str) -> (Vec<Pair>, bool) {
    let mut pairs = Vec::new();
    let mut in_section = false;
    let mut current_depth = 0usize;
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.split('#').next().unwrap_or("");
        if line.is_empty() {
            continue;
        }
        let depth: usize = line
            .chars()
            .take_while(|c| matches!(c, ' ' | '\t' | '\r'))
            .map(|c| if c == ' ' { 1 } else { 8 })
            .sum();
        if depth <= current_depth {
            current_depth = depth;
            if in_section {
                break;
            }
        } else if !in_section {
            continue;
        }
        let key = line.trim_start_matches([' ', '\t', '\r']);
        if key.is_empty() {
            continue;
        }
        if key.starts_with(['-', '[', '{']) {
            if in_section {
                break;
            }
            continue;
        }
        if !in_section {
            if let Some((name, _)) = key.split_once(':') {
                in_section = name == section;
            }
            continue;
        }
        let split = key.find(": ").or_else(|| key.find(":\t"));
        let (k, v) = match split {
            Some(at) => (&key[..at], &key[at + 2..]),
            // ruwsgi: `endif:` with nothing after the colon is an empty value (uWSGI stops
            // reading the section there).
            None if key.trim_end().ends_with(':') => (key.trim_end().trim_end_matches(':'), ""),
            None => break,
        };
        let v = v
            .trim_start_matches([' ', '\t', '\r'])
            .trim_end_matches([' ', '\t', '\r']);
        pairs.push(Pair::new(k.trim_end_matches([' ', '\t']), Some(v), i + 1));
    }
    let found = in_section;
    (pairs, found)
}

/// A JSON value in file order (serde_json's maps are sorted without its `preserve_order`).
enum Json {
    Scalar(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> serde::Deserialize<'de> for Json {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Json;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
                Ok(Json::Scalar(if b { "1" } else { "0" }.into()))
            }
            fn visit_unit<E>(self) -> Result<Json, E> {
                Ok(Json::Scalar("0".into()))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
                Ok(Json::Scalar(n.to_string()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
                Ok(Json::Scalar(n.to_string()))
            }
            fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
                Ok(Json::Scalar(n.to_string()))
            }
            fn visit_str<E>(self, s: &str) -> Result<Json, E> {
                Ok(Json::Scalar(s.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut items = Vec::new();
                while let Some(v) = a.next_element()? {
                    items.push(v);
                }
                Ok(Json::Array(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Json, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Json>()? {
                    members.push((k, v));
                }
                Ok(Json::Object(members))
            }
        }
        d.deserialize_any(V)
    }
}

fn flatten(key: &str, value: &Json, pairs: &mut Vec<Pair>) -> Result<(), SyntaxError> {
    match value {
        Json::Scalar(s) => pairs.push(Pair::new(key, Some(s), 0)),
        Json::Array(items) => {
            for item in items {
                flatten(key, item, pairs)?;
            }
        }
        Json::Object(_) => {
            return Err(SyntaxError(format!(
                "{key}: an object is not an option value"
            )));
        }
    }
    Ok(())
}

/// uWSGI's JSON reader: the members of `{"section": {...}}`.
pub fn json(text: &str, section: &str) -> Result<(Vec<Pair>, bool), SyntaxError> {
    let root: Json =
        serde_json::from_str(text).map_err(|e| SyntaxError(format!("invalid JSON: {e}")))?;
    let Json::Object(members) = root else {
        return Err(SyntaxError(
            "invalid JSON config: the top level must be an object".into(),
        ));
    };
    let mut pairs = Vec::new();
    let mut found = false;
    for (name, value) in &members {
        if name != section {
            continue;
        }
        found = true;
        let Json::Object(options) = value else {
            return Err(SyntaxError(format!(
                "invalid JSON config: \"{section}\" must be an object"
            )));
        };
        for (k, v) in options {
            flatten(k, v, &mut pairs)?;
        }
    }
    Ok((pairs, found))
}

/// TOML through figment: the keys of the `[section]` table.
pub fn toml(text: &str, section: &str) -> Result<(Vec<Pair>, bool), SyntaxError> {
    use figment::providers::{Format as _, Toml};
    use figment::value::Value;
    use figment::Provider as _;
    let data = Toml::string(text)
        .data()
        .map_err(|e| SyntaxError(format!("invalid TOML: {e}")))?;
    let Some(root) = data.values().next() else {
        return Ok((Vec::new(), false));
    };
    let Some(Value::Dict(_, table)) = root.get(section) else {
        return Ok((Vec::new(), false));
    };
    fn scalar(v: &Value) -> Option<String> {
        Some(match v {
            Value::String(_, s) => s.clone(),
            Value::Char(_, c) => c.to_string(),
            Value::Bool(_, b) => if *b { "1" } else { "0" }.to_string(),
            Value::Num(_, n) => {
                if let Some(u) = n.to_u128() {
                    u.to_string()
                } else if let Some(i) = n.to_i128() {
                    i.to_string()
                } else {
                    n.to_f64().map(|f| f.to_string()).unwrap_or_default()
                }
            }
            Value::Empty(..) => "0".to_string(),
            Value::Dict(..) | Value::Array(..) => return None,
        })
    }
    let mut pairs = Vec::new();
    for (k, v) in table {
        let items: Vec<&Value> = match v {
            Value::Array(_, items) => items.iter().collect(),
            other => vec![other],
        };
        for item in items {
            let s = scalar(item)
                .ok_or_else(|| SyntaxError(format!("{k}: a table is not an option value")))?;
            pairs.push(Pair::new(k, Some(&s), 0));
        }
    }
    Ok((pairs, true))
}

/// The children of the root `<uwsgi>` element, as uWSGI's libxml2 reader takes them
/// (`section` other than `uwsgi` selects the root's `id` attribute, as `--xml file:id`): each
/// child element is an option, its text the value (`1` when empty), its line the line the
/// element starts on. roxmltree checks well-formedness and resolves entities; a DOCTYPE is
/// allowed.
pub fn xml(text: &str, section: &str) -> Result<(Vec<Pair>, bool), SyntaxError> {
    if text.trim().is_empty() {
        return Ok((Vec::new(), false));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| SyntaxError(format!("invalid XML: {e}")))?;
    let root = doc.root_element();
    if root.tag_name().name() != "uwsgi" {
        return Ok((Vec::new(), false));
    }
    if section != "uwsgi" && root.attribute("id") != Some(section) {
        return Ok((Vec::new(), false));
    }
    let pairs = root
        .children()
        .filter(roxmltree::Node::is_element)
        .map(|node| {
            let body: String = node
                .descendants()
                .filter(roxmltree::Node::is_text)
                .filter_map(|t| t.text())
                .collect();
            let body = body.trim();
            let value = if body.is_empty() { "1" } else { body };
            let line = doc.text_pos_at(node.range().start).row as usize;
            Pair::new(node.tag_name().name(), Some(value), line)
        })
        .collect();
    Ok((pairs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(pairs: &[Pair]) -> Vec<(&str, Option<&str>)> {
        pairs
            .iter()
            .map(|p| (p.key.as_str(), p.value.as_deref()))
            .collect()
    }

    #[test]
    fn ini_comments_sections_bare_keys_and_trailing_text() {
        let text =
            "; top\nmaster = 1\n[uwsgi]\n  # comment\n;x=1\nmaster\nharakiri = 60   ; kill\n\
                    [other]\nprocesses = 9\n[uwsgi]\nenv = A=B\n";
        let (pairs, found) = ini(text, "uwsgi");
        assert!(found);
        assert_eq!(
            kv(&pairs),
            [
                ("master", None),
                ("harakiri", Some("60   ; kill")),
                ("env", Some("A=B"))
            ]
        );
        assert_eq!(pairs[0].line, 6);
        assert_eq!(kv(&ini(text, "other").0), [("processes", Some("9"))]);
        assert!(!ini(text, "missing").1);
    }

    #[test]
    fn yaml_as_uwsgi_reads_it() {
        let text = "uwsgi:\n  master: true # on\n  socket: ':9090'\n  static-map: /a=b\n  static-map: /c=d\n  endif: \n\
                    dev:\n  processes: 2\n";
        let (pairs, found) = yaml(text, "uwsgi");
        assert!(found);
        assert_eq!(
            kv(&pairs),
            [
                ("master", Some("true")),
                ("socket", Some("':9090'")),
                ("static-map", Some("/a=b")),
                ("static-map", Some("/c=d")),
                ("endif", Some(""))
            ]
        );
        assert_eq!(kv(&yaml(text, "dev").0), [("processes", Some("2"))]);
    }

    #[test]
    fn json_keeps_file_order_and_spreads_arrays() {
        let text = r#"{"uwsgi": {"socket": "a", "master": true, "env": ["A=1", "B=2"], "processes": 4, "x": null}}"#;
        let (pairs, _) = json(text, "uwsgi").unwrap();
        assert_eq!(
            kv(&pairs),
            [
                ("socket", Some("a")),
                ("master", Some("1")),
                ("env", Some("A=1")),
                ("env", Some("B=2")),
                ("processes", Some("4")),
                ("x", Some("0"))
            ]
        );
        let bad = json("{\"uwsgi\": {\"a\": 1,}}", "uwsgi").unwrap_err();
        assert!(bad.0.starts_with("invalid JSON: "), "{bad}");
        assert!(bad.0.contains("line 1"), "{bad}");
    }

    #[test]
    fn toml_tables_and_arrays() {
        let text = "[uwsgi]\nprocesses = 4\nmaster = true\nsocket = [\"a\", \"b\"]\n";
        let (pairs, found) = toml(text, "uwsgi").unwrap();
        assert!(found);
        assert_eq!(
            kv(&pairs),
            [
                ("master", Some("1")),
                ("processes", Some("4")),
                ("socket", Some("a")),
                ("socket", Some("b"))
            ]
        );
        assert!(toml("[uwsgi\n", "uwsgi")
            .unwrap_err()
            .0
            .starts_with("invalid TOML"));
    }

    #[test]
    fn xml_children_of_uwsgi() {
        let text = "<?xml version=\"1.0\"?>\n<uwsgi id=\"app\">\n  <!-- c -->\n  <master/>\n  <module>a:b</module>\n  <log-format>&lt;%(uri)&gt;</log-format>\n</uwsgi>\n";
        let (pairs, found) = xml(text, "uwsgi").unwrap();
        assert!(found);
        assert_eq!(
            kv(&pairs),
            [
                ("master", Some("1")),
                ("module", Some("a:b")),
                ("log-format", Some("<%(uri)>"))
            ]
        );
        assert_eq!(pairs[1].line, 5);
        assert!(xml(text, "app").unwrap().1);
        assert!(!xml(text, "other").unwrap().1);
        assert!(xml("<uwsgi><a>1</b></uwsgi>", "uwsgi").is_err());
    }

    #[test]
    fn xml_prolog_comments_and_doctype_before_the_root() {
        let text =
            "<?xml version=\"1.0\"?>\n<!-- <uwsgi><bad/></uwsgi> -->\n<!DOCTYPE uwsgi>\n<uwsgi><master/></uwsgi>\n";
        let (pairs, found) = xml(text, "uwsgi").unwrap();
        assert!(found);
        assert_eq!(kv(&pairs), [("master", Some("1"))]);
        assert_eq!(pairs[0].line, 4);
        for (text, at) in [
            ("<?xml version=\"1.0\"\n<uwsgi/>", "at 2:1"),
            ("\n<!-- no end <uwsgi/>", "at 2:"),
            ("<!DOCTYPE uwsgi", "unexpected end of stream"),
        ] {
            let err = xml(text, "uwsgi").unwrap_err().0;
            assert!(err.starts_with("invalid XML: "), "{text:?}: {err}");
            assert!(err.contains(at), "{text:?}: {err}");
        }
    }

    #[test]
    fn formats_by_extension() {
        assert_eq!(Format::from_path("x.ini"), Some(Format::Ini));
        assert_eq!(Format::from_path("x.yml"), Some(Format::Yaml));
        assert_eq!(Format::from_path("app.py"), None);
    }
}
