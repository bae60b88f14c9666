//! The corpus of 52 real uWSGI config files from 48 public projects (`tests/corpus/`, see its
//! README): ruwsgi reads the same pairs uWSGI 2.0 reads, knows every option they use that
//! uWSGI 2.0 accepts, and names their typos with the right suggestion.

use std::path::{Path, PathBuf};

use ruwsgi_config::{lookup, read_pairs, Config, Error, Format, Status};
use serde_json::Value;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn corpus() -> Value {
    let text = std::fs::read_to_string(corpus_dir().join("corpus.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn files() -> Vec<Value> {
    corpus()["files"].as_array().unwrap().clone()
}

fn format(file: &Value) -> Format {
    Format::from_option(file["format"].as_str().unwrap()).unwrap()
}

/// Files ruwsgi refuses to load, with a part of the error it gives and why: the ones uWSGI
/// 2.0.31 refuses too (the corpus records its verdict on each).
const REFUSED: &[(&str, &str, &str)] = &[
    (
        "13-20tab-remote-production.ini",
        "/../www/{{project_name}}/uwsgiconf/remote/global.ini\" (named by 13-20tab-remote-production.ini:35)",
        "its include is a project-template path; uWSGI stops on the missing file too",
    ),
    (
        "27-zulip.ini",
        "listen: \"< @uwsgi_listen_backlog_limit\" is not valid (27-zulip.ini:19)",
        "an ERB template that sets strict itself: under strict a placeholder stays an error \
         (uWSGI refuses its template lines)",
    ),
    (
        "48-fig-demo.json",
        "48-fig-demo.json: invalid JSON: trailing comma at line 25",
        "not valid JSON; uWSGI's JSON reader (jansson) refuses it too",
    ),
];

/// Files that load as uWSGI loads them, with the warning that says which value was read
/// leniently (docs: the README's "deliberate differences").
const LENIENT: &[(&str, &str)] = &[
    (
        "04-searxng.ini",
        "processes = ${UWSGI_WORKERS:-",
    ),
    (
        "10-tutor-openedx.ini",
        "processes = $(UWSGI_WORKERS) (10-tutor-openedx.ini:",
    ),
    (
        "20-label-studio.ini",
        "cheaper = true (20-label-studio.ini:6): \"true\" is a true/false word, not a number; read as 0: cheaper mode off",
    ),
    (
        "26-openwisp2.ini",
        "processes = {{ openwisp2_uwsgi_processes }} (26-openwisp2.ini:",
    ),
    (
        "40-modoboa.ini",
        "processes = 40-modoboab_processes (40-modoboa.ini:",
    ),
];

fn load(file: &Value) -> Result<Config, Error> {
    let name = file["name"].as_str().unwrap();
    let args = vec![format!("--{}", format(file).option()), name.to_string()];
    Config::load_in(args, Vec::new(), corpus_dir())
}

#[test]
fn the_corpus_is_complete() {
    let files = files();
    assert_eq!(files.len(), 52);
    for f in &files {
        assert!(corpus_dir().join(f["name"].as_str().unwrap()).is_file());
    }
}

#[test]
fn pairs_match_what_uwsgi_reads() {
    for f in files() {
        let name = f["name"].as_str().unwrap();
        let raw = std::fs::read(corpus_dir().join(name)).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let section = f["uwsgi_section"].as_str().unwrap();
        // `uwsgi[id=myapp]` is the corpus's name for the root element `<uwsgi id="myapp">`.
        let section = section.split('[').next().unwrap();
        let result = read_pairs(format(&f), &text, section);
        if name == "48-fig-demo.json" {
            assert!(result.is_err(), "{name} is not valid JSON");
            continue;
        }
        let (pairs, found) = result.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(found, "{name}: section {section} not found");
        let got: Vec<(String, String)> = pairs
            .into_iter()
            .map(|p| (p.key, p.value.unwrap_or_default()))
            .collect();
        let expected: Vec<(String, String)> = f["pairs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p[0].as_str().unwrap().to_string(),
                    p[1].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{name}");
    }
}

#[test]
fn every_file_loads_or_is_refused_for_the_recorded_reason() {
    let mut loaded = 0;
    for f in files() {
        let name = f["name"].as_str().unwrap();
        let refused = REFUSED.iter().find(|(n, _, _)| *n == name);
        match (load(&f), refused) {
            (Ok(_), None) => loaded += 1,
            (Err(e), Some((_, start, why))) => {
                assert!(e.to_string().contains(start), "{name} ({why}): got {e}");
            }
            (Ok(_), Some((_, _, why))) => panic!("{name} loaded but should be refused: {why}"),
            (Err(e), None) => panic!("{name} should load: {e}"),
        }
    }
    assert_eq!(loaded, 52 - REFUSED.len());
}

#[test]
fn values_uwsgi_reads_leniently_load_with_a_warning() {
    for (name, warning) in LENIENT {
        let f = files().into_iter().find(|f| f["name"] == *name).unwrap();
        let c = load(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            c.warnings().iter().any(|w| w.contains(warning)),
            "{name}: no warning with {warning:?} in {:#?}",
            c.warnings()
        );
    }
}

#[test]
fn every_option_uwsgi_accepts_in_the_corpus_is_in_the_table() {
    for o in corpus()["option_frequency"].as_array().unwrap() {
        let name = o["option"].as_str().unwrap();
        if o["in_uwsgi_2_0_31_option_table"].as_bool().unwrap() {
            let spec =
                lookup(name).unwrap_or_else(|| panic!("{name} is missing from the option table"));
            if let Status::NotYet(issue) = spec.status {
                assert!(
                    !issue.title.is_empty(),
                    "{name}: a not-yet option names its issue"
                );
            }
        }
    }
    // Real uWSGI options that build lacked (internal routing needs PCRE).
    for name in ["log-route", "response-route-if", "response-route-if-not"] {
        assert!(lookup(name).is_some(), "{name}");
    }
}

#[test]
fn typos_draw_the_warning_with_the_right_suggestion() {
    let mut checked = 0;
    for f in files() {
        let name = f["name"].as_str().unwrap();
        for k in f["keys_not_in_uwsgi_2_0_31_option_table"]
            .as_array()
            .unwrap()
        {
            let key = k["key"].as_str().unwrap();
            let why = k["why"].as_str().unwrap();
            let Some(typo_of) = why.strip_prefix("typo of ") else {
                continue;
            };
            let right = typo_of.split_whitespace().next().unwrap();
            let config = load(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
            let warning = config
                .warnings()
                .iter()
                .find(|w| w.starts_with(&format!("unknown option {key} (")))
                .unwrap_or_else(|| panic!("{name}: no warning for {key}: {:?}", config.warnings()));
            assert!(
                warning.contains(&format!(": did you mean {right}?")),
                "{name}: {warning}"
            );
            assert!(
                warning.contains(&format!("({name}:")),
                "{name}: the warning names file and line: {warning}"
            );
            checked += 1;
        }
    }
    // hunder-lock ×2, gui, vaccum ×2, py-callos-afterfork.
    assert_eq!(checked, 6);
}

#[test]
fn custom_placeholders_draw_no_warning() {
    let mut checked = 0;
    for f in files() {
        let name = f["name"].as_str().unwrap();
        let Ok(config) = load(&f) else { continue };
        for k in f["keys_not_in_uwsgi_2_0_31_option_table"]
            .as_array()
            .unwrap()
        {
            let key = k["key"].as_str().unwrap();
            if !k["why"]
                .as_str()
                .unwrap()
                .starts_with("custom placeholder (defined here")
            {
                continue;
            }
            assert!(
                !config
                    .warnings()
                    .iter()
                    .any(|w| w.starts_with(&format!("unknown option {key} "))),
                "{name}: {key} is a placeholder: {:?}",
                config.warnings()
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "{checked}");
}

#[test]
fn strict_files_refuse_what_uwsgi_refuses() {
    // 19-addons-server.ini has a typo and a custom placeholder: fine without strict, refused
    // with it (uWSGI: "unknown directive").
    let f = files()
        .into_iter()
        .find(|f| f["name"] == "19-addons-server.ini")
        .unwrap();
    load(&f).unwrap();
    let args = ["--strict", "--ini", "19-addons-server.ini"].map(str::to_string);
    let err = Config::load_in(args, Vec::new(), corpus_dir()).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("base is not an option: under strict"),
        "{err}"
    );
}

/// The options real config files use that ruwsgi parses but does not implement yet (each
/// warns when set): a short list, kept here so that it only shrinks.
#[test]
fn few_options_of_real_configs_are_not_implemented_yet() {
    let mut not_yet: Vec<String> = corpus()["option_frequency"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["in_uwsgi_2_0_31_option_table"].as_bool().unwrap())
        .filter_map(|o| lookup(o["option"].as_str().unwrap()))
        .filter(|spec| matches!(spec.status, Status::NotYet(_)))
        .map(|spec| spec.name.to_string())
        .collect();
    not_yet.sort();
    not_yet.dedup();
    assert_eq!(not_yet, ["gevent", "https"]);
}
