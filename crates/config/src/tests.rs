//! The loading rules end to end: sources, precedence, ini semantics, substitutions, the config
//! language, and every error and warning message.

use std::path::Path;

use crate::{Config, Error, ErrorKind, Origin};

fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

fn load_env(dir: &Path, args: &str, env: &[(&str, &str)]) -> Result<Config, Error> {
    let args = args.split_whitespace().map(str::to_string);
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    Config::load_in(args, env, dir.to_path_buf())
}

fn load(dir: &Path, args: &str) -> Result<Config, Error> {
    load_env(dir, args, &[])
}

fn file(path: &str, line: usize) -> Origin {
    Origin::File {
        path: path.to_string(),
        line,
    }
}

#[test]
fn ini_comments_bare_keys_repeated_keys_and_last_scalar() {
    let d = dir_with(&[(
        "a.ini",
        "[uwsgi]\n; comment\n# comment\nmaster\nsocket = a.sock\nsocket = b.sock\nprocesses = 2\nprocesses = 4\n",
    )]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert!(c.flag("master"), "a key without = is true");
    assert_eq!(c.list("socket"), ["a.sock", "b.sock"]);
    assert_eq!(c.u64("processes"), Some(4));
    assert_eq!(c.origin("processes"), Some(&file("a.ini", 8)));
    assert_eq!(c.origin("master"), Some(&file("a.ini", 4)));
}

#[test]
fn ini_sections() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nprocesses = 1\n[prod]\nprocesses = 8\n")]);
    assert_eq!(
        load(d.path(), "--ini a.ini").unwrap().u64("processes"),
        Some(1)
    );
    assert_eq!(
        load(d.path(), "--ini a.ini:prod").unwrap().u64("processes"),
        Some(8)
    );
    let c = load(d.path(), "--ini a.ini:missing").unwrap();
    assert!(!c.is_set("processes"));
    assert_eq!(
        c.warnings(),
        ["section [missing] not found in config file a.ini (named by command line --ini)"]
    );
}

#[test]
fn booleans() {
    let d = dir_with(&[]);
    for (v, expected) in [
        ("true", true),
        ("on", true),
        ("yes", true),
        ("1", true),
        ("TRUE", true),
        ("false", false),
        ("off", false),
        ("no", false),
        ("0", false),
    ] {
        let c = load(d.path(), &format!("--master={v}")).unwrap();
        assert_eq!(c.flag("master"), expected, "{v}");
    }
    let err = load(d.path(), "--master=maybe").unwrap_err();
    assert_eq!(
        err.to_string(),
        "master: \"maybe\" is not valid (command line --master); expected true/false, on/off, yes/no or 1/0 (or the key alone)"
    );
}

#[test]
fn precedence_env_then_command_line_with_files_spliced_in_place() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nprocesses = 2\nsocket = from-ini\n")]);
    let env = [("UWSGI_PROCESSES", "7"), ("UWSGI_SOCKET", "from-env")];
    let c = load_env(d.path(), "", &env).unwrap();
    assert_eq!(c.u64("processes"), Some(7));
    assert_eq!(
        c.origin("processes"),
        Some(&Origin::Env("UWSGI_PROCESSES".into()))
    );
    let c = load_env(d.path(), "--processes 5 --ini a.ini", &env).unwrap();
    assert_eq!(
        c.u64("processes"),
        Some(2),
        "the file comes after --processes"
    );
    assert_eq!(
        c.list("socket"),
        ["from-env", "from-ini"],
        "lists accumulate in order"
    );
    let c = load_env(d.path(), "--ini a.ini --processes 5", &env).unwrap();
    assert_eq!(c.u64("processes"), Some(5));
    assert_eq!(
        c.origin("processes"),
        Some(&Origin::Arg("--processes".into()))
    );
}

#[test]
fn aliases_and_short_flags() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nworkers = 3\nvirtualenv = /venv\nwsgi = app:application\nfile = x.py\nlazy = true\n")]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(c.u64("processes"), Some(3));
    assert_eq!(c.str("home"), Some("/venv"));
    assert_eq!(c.str("module"), Some("app:application"));
    assert_eq!(c.str("wsgi-file"), Some("x.py"));
    assert!(c.flag("lazy-apps"));
    let c = load(d.path(), "-p 2 -M -H /v -w m:app -s :3031").unwrap();
    assert_eq!(c.u64("processes"), Some(2));
    assert!(c.flag("master"));
    assert_eq!(c.str("home"), Some("/v"));
    assert_eq!(c.str("module"), Some("m:app"));
    assert_eq!(c.list("socket"), [":3031"]);
    let c = load_env(
        d.path(),
        "",
        &[("UWSGI_HTTP_SOCKET", ":8000"), ("UWSGI_VENV", "/e")],
    )
    .unwrap();
    assert_eq!(c.list("http-socket"), [":8000"]);
    assert_eq!(c.str("home"), Some("/e"));
}

#[test]
fn placeholders_first_value_arithmetic_and_set_placeholder() {
    let d = dir_with(&[(
        "a.ini",
        "[uwsgi]\nbase = /srv/app\nchdir = %(base)/src\nbase = /ignored\nprocesses = %(cores * 2)\ncores = 3\n\
         set-placeholder = name=site\nlogto = /var/log/%(name).log\nsocket = %(chdir)/s.sock\nthreads = %(processes + 1)\n",
    )]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(
        c.str("chdir"),
        Some("/srv/app/src"),
        "a placeholder is the key's first value"
    );
    assert_eq!(c.u64("processes"), Some(6));
    assert_eq!(c.str("logto"), Some("/var/log/site.log"));
    assert_eq!(
        c.list("socket"),
        ["/srv/app/src/s.sock"],
        "options are placeholders too"
    );
    assert_eq!(c.u64("threads"), Some(7));
    assert!(
        c.warnings().is_empty(),
        "placeholders draw no warning: {:?}",
        c.warnings()
    );
    assert!(c.show().contains("base = /srv/app"), "{}", c.show());
}

#[test]
fn magic_variables() {
    let d = dir_with(&[(
        "conf/site.ini",
        "[uwsgi]\nchdir = %d\nlogto = %n.log\npidfile = /run/%c-%e.pid\n",
    )]);
    let c = load(d.path(), "--ini conf/site.ini").unwrap();
    let dir = std::fs::canonicalize(d.path().join("conf")).unwrap();
    assert_eq!(c.str("chdir"), Some(format!("{}/", dir.display()).as_str()));
    assert_eq!(c.str("logto"), Some("site.log"));
    assert_eq!(c.str("pidfile"), Some("/run/conf-ini.pid"));
}

#[test]
fn env_and_file_references() {
    let d = dir_with(&[
        ("port.txt", "8123\n"),
        (
            "a.ini",
            "[uwsgi]\nhttp = :$(PORT)\nhttp-socket = :@(port.txt)\nchdir = $(NOPE)\n",
        ),
    ]);
    let c = load_env(d.path(), "--ini a.ini", &[("PORT", "9000")]).unwrap();
    assert_eq!(c.list("http"), [":9000"]);
    assert_eq!(c.list("http-socket"), [":8123"]);
    assert_eq!(
        c.str("chdir"),
        Some("$(NOPE)"),
        "an unset variable is left as written, as uWSGI"
    );
    let d = dir_with(&[("a.ini", "[uwsgi]\nchdir = @(missing.txt)\n")]);
    let err = load(d.path(), "--ini a.ini").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("@(missing.txt): cannot read \"missing.txt\""),
        "{err}"
    );
    assert!(err.to_string().ends_with("(a.ini:2)"), "{err}");
}

#[test]
fn config_language() {
    let d = dir_with(&[
        ("exists.txt", ""),
        ("sub/x", ""),
        (
            "a.ini",
            "[uwsgi]\nif-env = SET\nenv = A=%(_)\nendif =\nif-env = UNSET\nenv = B=1\nendif\n\
             if-not-env = UNSET\nenv = C=1\nendif\nif-env = SET=other\nenv = D=1\nendif\n\
             if-exists = exists.txt\nenv = E=%(_)\nendif\nif-not-exists = nope\nenv = F=1\nendif\n\
             if-file = sub\nenv = G=1\nendif\nif-dir = sub\nenv = H=1\nendif\nif-not-file = sub\nenv = I=1\nendif\n\
             if-opt = master\nenv = J=%(_)\nendif\nif-opt = processes=3\nenv = K=1\nendif\n\
             for = a b c\nsocket = /tmp/%(_).sock\nendfor\nenv = L=1\n",
        ),
    ]);
    let c = load_env(d.path(), "--master --ini a.ini", &[("SET", "yes")]).unwrap();
    assert_eq!(
        c.list("env"),
        [
            "A=yes",
            "C=1",
            "E=exists.txt",
            "F=1",
            "H=1",
            "I=1",
            "J=",
            "L=1"
        ]
    );
    assert_eq!(
        c.list("socket"),
        ["/tmp/a.sock", "/tmp/b.sock", "/tmp/c.sock"]
    );
}

#[test]
fn ini_includes_with_sections() {
    let d = dir_with(&[
        ("base.ini", "[uwsgi]\nmaster = true\nprocesses = 2\n[extra]\nthreads = 4\n"),
        ("site.ini", "[uwsgi]\nini = base.ini\nini = base.ini:extra\nini = :more\nprocesses = 3\n[more]\nvacuum\n"),
        ("loop.ini", "[uwsgi]\nini = loop.ini\n"),
    ]);
    let c = load(d.path(), "site.ini").unwrap();
    assert!(c.flag("master"));
    assert_eq!(c.u64("threads"), Some(4));
    assert!(
        c.flag("vacuum"),
        "`ini = :section` reads a section of the same file"
    );
    assert_eq!(c.u64("processes"), Some(3));
    assert_eq!(c.origin("master"), Some(&file("base.ini", 2)));
    let err = load(d.path(), "--ini loop.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "config file loop.ini:uwsgi includes itself (loop.ini:2)"
    );
}

#[test]
fn json_yaml_toml_and_xml_in_the_same_shape() {
    let d = dir_with(&[
        ("a.json", r#"{"uwsgi": {"master": true, "socket": ["a", "b"], "processes": 4, "module": "m:app"}}"#),
        ("a.yaml", "uwsgi:\n  master: true\n  socket: a\n  socket: b\n  processes: 4\n  module: 'm:app'\n"),
        ("a.toml", "[uwsgi]\nmaster = true\nsocket = [\"a\", \"b\"]\nprocesses = 4\nmodule = \"m:app\"\n"),
        ("a.xml", "<uwsgi>\n<master/>\n<socket>a</socket>\n<socket>b</socket>\n<processes>4</processes>\n<module>m:app</module>\n</uwsgi>\n"),
    ]);
    for args in [
        "--json a.json",
        "--yaml a.yaml",
        "--toml a.toml",
        "--xml a.xml",
        "a.json",
        "a.yaml",
        "a.toml",
        "a.xml",
    ] {
        let c = load(d.path(), args).unwrap();
        assert!(c.flag("master"), "{args}");
        assert_eq!(c.list("socket"), ["a", "b"], "{args}");
        assert_eq!(c.u64("processes"), Some(4), "{args}");
        assert_eq!(c.str("module"), Some("m:app"), "{args}");
    }
    let c = load(d.path(), "--yaml a.yaml").unwrap();
    assert_eq!(c.origin("processes"), Some(&file("a.yaml", 5)));
}

#[test]
fn bare_arguments() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nmaster = true\n")]);
    let c = load(d.path(), "app.py").unwrap();
    assert_eq!(c.str("wsgi-file"), Some("app.py"));
    let c = load(d.path(), "app.wsgi a.ini").unwrap();
    assert_eq!(c.str("wsgi-file"), Some("app.wsgi"));
    assert!(c.flag("master"));
    let err = load(d.path(), "app.txt").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("don't know what to do with the argument \"app.txt\""),
        "{err}"
    );
}

#[test]
fn optional_values_and_key_value_lists() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nchmod-socket\nmule\nmule = m.py\n")]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(c.str("chmod-socket"), Some("666"));
    assert_eq!(c.list("mule"), ["", "m.py"]);
    let c = load(
        d.path(),
        "--chmod-socket=660 --mule --mule=x.py --cache2 name=c,items=100",
    )
    .unwrap();
    assert_eq!(c.str("chmod-socket"), Some("660"));
    assert_eq!(c.list("mule"), ["", "x.py"]);
    assert_eq!(c.list("cache2"), ["name=c,items=100"]);
    let err = load(d.path(), "--chmod-socket=rw").unwrap_err();
    assert_eq!(
        err.to_string(),
        "chmod-socket: \"rw\" is not valid (command line --chmod-socket); expected an octal mode such as 660 (or the option alone for 666)"
    );
    let err = load(d.path(), "--cron2 minute").unwrap_err();
    assert!(
        err.to_string()
            .contains("expected KEY=VALUE[,KEY=VALUE...]"),
        "{err}"
    );
}

#[test]
fn hooks() {
    let d = dir_with(&[]);
    let c = load(
        d.path(),
        "--hook-pre-app exec:./manage.py --hook-post-fork chdir:/tmp",
    )
    .unwrap();
    assert_eq!(c.list("hook-pre-app"), ["exec:./manage.py"]);
    assert_eq!(c.list("hook-post-fork"), ["chdir:/tmp"]);
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    let c = load(d.path(), "--hook-post-fork callret:foo").unwrap();
    assert_eq!(
        c.warnings(),
        ["hook-post-fork: hook action \"callret\" (command line --hook-post-fork) is not supported (ruwsgi runs exec, print, log, mkdir, unlink, chdir); it has no effect"]
    );
    let err = load(d.path(), "--hook-master-start echo").unwrap_err();
    assert_eq!(
        err.to_string(),
        "hook-master-start: \"echo\" is not valid (command line --hook-master-start); expected ACTION:ARGUMENTS such as exec:./manage.py migrate"
    );
}

#[test]
fn unknown_keys_warn_in_files_and_variables_with_a_suggestion() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nmaster = true\nvaccum = true\n")]);
    let c = load_env(
        d.path(),
        "--ini a.ini",
        &[("UWSGI_PROCESES", "2"), ("UWSGI_RELOADS", "3")],
    )
    .unwrap();
    assert_eq!(
        c.warnings(),
        [
            "unknown option UWSGI_PROCESES (environment variable UWSGI_PROCESES): did you mean UWSGI_PROCESSES? (ignored; `strict` makes this an error)",
            "unknown option vaccum (a.ini:3): did you mean vacuum? (ignored; `strict` makes this an error)",
        ]
    );
    let err = load(d.path(), "--strict --ini a.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option vaccum (a.ini:3): did you mean vacuum?"
    );
    assert!(matches!(err.kind(), ErrorKind::UnknownOption { .. }));
    let d = dir_with(&[("a.ini", "[uwsgi]\nstrict\nbase = /x\nchdir = %(base)\n")]);
    let err = load(d.path(), "--ini a.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "base is not an option: under strict, placeholders must be declared with set-placeholder = base=VALUE (a.ini:3)"
    );
}

#[test]
fn unknown_options_on_the_command_line_are_errors() {
    let d = dir_with(&[]);
    let err = load(d.path(), "--vaccum").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option --vaccum on the command line: did you mean --vacuum?"
    );
}

#[test]
fn plugins_name_what_is_built_in() {
    let d = dir_with(&[]);
    let c = load(d.path(), "--plugins python3,http --plugin python312").unwrap();
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    let c = load(d.path(), "--plugins python,sse_offload").unwrap();
    assert_eq!(
        c.warnings(),
        ["plugin \"sse_offload\" (command line --plugins) is not built into ruwsgi (Python and HTTP are); options that need it will not work"]
    );
}

#[test]
fn not_yet_implemented_options_warn_once() {
    let d = dir_with(&[("a.ini", "[uwsgi]\ngevent = 1\ngevent = 2   ; async cores\n")]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(c.u64("gevent"), Some(2));
    assert_eq!(
        c.warnings(),
        [
            "option gevent is parsed but not implemented yet (no issue filed yet); it has no effect",
            "gevent: reading 2 out of \"2   ; async cores\" (a.ini:3): text after a value is not a comment in uWSGI config files",
        ]
    );
}

#[test]
fn bad_and_missing_values_name_option_value_form_and_source() {
    let d = dir_with(&[
        ("a.ini", "[uwsgi]\nprocesses = four\n"),
        ("b.ini", "[uwsgi]\nchdir\n"),
        ("c.ini", "[uwsgi]\nenv = FOO\n"),
    ]);
    let err = load(d.path(), "--ini a.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "processes: \"four\" is not valid (a.ini:2); expected a whole number such as 4"
    );
    let err = load(d.path(), "--ini b.ini").unwrap_err();
    assert_eq!(err.to_string(), "chdir: a value is required (b.ini:2)");
    let err = load(d.path(), "--ini c.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "env: \"FOO\" is not valid (c.ini:2); expected NAME=VALUE"
    );
    let err = load_env(d.path(), "", &[("UWSGI_LISTEN", "lots")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "listen: \"lots\" is not valid (environment variable UWSGI_LISTEN); expected a whole number such as 4"
    );
}

#[test]
fn unreadable_and_malformed_files() {
    let d = dir_with(&[
        ("bad.json", "{\"uwsgi\": {\"a\": 1,}}"),
        ("bad.toml", "[uwsgi\n"),
    ]);
    let err = load(d.path(), "--ini nope.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read config file \"nope.ini\" (named by command line --ini)"
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the OS error is chained"
    );
    let err = load(d.path(), "--json bad.json").unwrap_err();
    assert!(
        err.to_string().starts_with("bad.json: invalid JSON: "),
        "{err}"
    );
    let err = load(d.path(), "--toml bad.toml").unwrap_err();
    assert!(
        err.to_string().starts_with("bad.toml: invalid TOML: "),
        "{err}"
    );
}

#[test]
fn show_config_names_each_origin() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nworkers = 2\nmaster\n")]);
    let c = load_env(
        d.path(),
        "--ini a.ini --http :8000",
        &[("UWSGI_VACUUM", "yes")],
    )
    .unwrap();
    let shown = c.show();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines[1], "[uwsgi]");
    let body: Vec<String> = lines[2..lines.len() - 1]
        .iter()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(
        body,
        [
            "vacuum = true ; environment variable UWSGI_VACUUM",
            "ini = a.ini ; command line --ini",
            "processes = 2 ; a.ini:2",
            "master = true ; a.ini:3",
            "http = :8000 ; command line --http",
        ]
    );
}

#[test]
fn strict_applies_wherever_it_is_set_and_its_last_value_counts() {
    let d = dir_with(&[(
        "a.ini",
        "[uwsgi]\nvaccum = 1\nstrict = true\nstrict = false\nhunder-lock = 1\n",
    )]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(c.warnings().len(), 2, "{:?}", c.warnings());
    // Set after the file that has the unknown key, as uWSGI checks once all is read.
    let d = dir_with(&[("a.ini", "[uwsgi]\nvaccum = 1\n")]);
    let err = load(d.path(), "--ini a.ini --strict").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option vaccum (a.ini:2): did you mean vacuum?"
    );
    let d = dir_with(&[("a.ini", "[uwsgi]\nvaccum = 1\nstrict\nhunder-lock = 1\n")]);
    let err = load(d.path(), "--ini a.ini").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown option vaccum (a.ini:2): did you mean vacuum?"
    );
}

#[test]
fn an_unset_variable_in_a_number_is_read_as_uwsgi_reads_it_and_named() {
    let d = dir_with(&[("a.ini", "[uwsgi]\nprocesses = $(UWSGI_WORKERS)\n")]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(c.u64("processes"), Some(0));
    assert_eq!(
        c.warnings(),
        ["processes = $(UWSGI_WORKERS) (a.ini:2): the environment variable UWSGI_WORKERS is not set; read as 0: one worker, as uWSGI does; write a number"]
    );
    // Under strict it stays an error, which names the variable.
    let err = load(d.path(), "--ini a.ini --strict").unwrap_err();
    assert_eq!(
        err.to_string(),
        "processes: \"$(UWSGI_WORKERS)\" is not valid (a.ini:2); expected a whole number such as 4 \
         (the environment variable UWSGI_WORKERS is not set)"
    );
    let c = load_env(d.path(), "--ini a.ini", &[("UWSGI_WORKERS", "3")]).unwrap();
    assert_eq!(
        c.list("processes"),
        ["3", "3"],
        "the variable is also an option, as in uWSGI"
    );
}

/// What real config files carry in number options, read as uWSGI's `atoi` reads it, with a
/// warning naming the file and line; an error on the command line and under `strict`, and
/// for any other value.
#[test]
fn number_options_read_what_real_files_carry_as_uwsgi_does() {
    let text = "[uwsgi]\ncheaper = true\nprocesses = 40-modoboab_processes\nthreads = ${UWSGI_THREADS:-4}\n\
                listen = {{ backlog }}\nmax-requests = <%= @max %>\nchdir = {{ path }}\n";
    let d = dir_with(&[("a.ini", text)]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(
        ["cheaper", "processes", "threads", "listen", "max-requests"].map(|o| c.u64(o)),
        [Some(0), Some(40), Some(0), Some(0), Some(0)]
    );
    let warnings: Vec<&String> = c
        .warnings()
        .iter()
        .filter(|w| !w.starts_with("option "))
        .collect();
    assert_eq!(
        warnings,
        [
            "cheaper = true (a.ini:2): \"true\" is a true/false word, not a number; read as 0: cheaper mode off, as uWSGI does; write a number",
            "processes = 40-modoboab_processes (a.ini:3): text after the number; read as 40, as uWSGI does; write a number",
            "threads = ${UWSGI_THREADS:-4} (a.ini:4): a template placeholder nobody filled in; read as 0: one thread per worker, as uWSGI does; write a number",
            "listen = {{ backlog }} (a.ini:5): a template placeholder nobody filled in; read as 0, as uWSGI does; write a number",
            "max-requests = < @max (a.ini:6): a template placeholder nobody filled in; read as 0, as uWSGI does; write a number",
            "chdir = {{ path }} (a.ini:7): a template placeholder nobody filled in; used as written, as uWSGI does",
        ]
    );
    // The same from an environment variable.
    let c = load_env(d.path(), "", &[("UWSGI_CHEAPER", "false")]).unwrap();
    assert_eq!(c.u64("cheaper"), Some(0));
    // Errors: under strict (wherever it is set), on the command line, and for other words.
    let err = load(d.path(), "--ini a.ini --strict").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cheaper: \"true\" is not valid (a.ini:2); expected a whole number such as 4"
    );
    let err = load(d.path(), "--cheaper true").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cheaper: \"true\" is not valid (command line --cheaper)"),
        "{err}"
    );
    let d = dir_with(&[("b.ini", "[uwsgi]\nprocesses = four\n")]);
    let err = load(d.path(), "--ini b.ini").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("processes: \"four\" is not valid (b.ini:2)"),
        "{err}"
    );
}

#[test]
fn internal_uwsgi_variables_are_not_options() {
    let d = dir_with(&[]);
    let env = [
        ("UWSGI_RELOADS", "2"),
        ("UWSGI_EMPEROR_FD", "3"),
        ("UWSGI_ORIGINAL_PROC_NAME", "x"),
    ];
    let c = load_env(d.path(), "", &env).unwrap();
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
}

/// `include` loads a file where its line is, in the format its extension names; `inherit`
/// loads its file after everything else (so a template's values come last, as uWSGI shows
/// them); `set` sets an option as if written there, or a placeholder for another name.
#[test]
fn include_inherit_and_set_as_uwsgi_orders_them() {
    let d = dir_with(&[
        (
            "main.ini",
            "[uwsgi]\ninherit = base.yaml\nprocesses = 2\ninclude = more.json\nthreads = 4\n\
             set = listen=64\nset = site=blog\nchdir = /srv/%(site)\n",
        ),
        ("base.yaml", "uwsgi:\n  processes: 5\n  master: true\n"),
        (
            "more.json",
            r#"{"uwsgi": {"threads": 8, "env": "FROM=json"}}"#,
        ),
        ("odd.conf", "[uwsgi]\nmaster = true\n"),
    ]);
    let c = load(d.path(), "--ini main.ini").unwrap();
    assert_eq!(
        c.u64("processes"),
        Some(5),
        "the template's value comes last"
    );
    assert_eq!(c.origin("processes"), Some(&file("base.yaml", 2)));
    assert!(c.flag("master"));
    assert_eq!(
        c.u64("threads"),
        Some(4),
        "include is read where its line is"
    );
    assert_eq!(c.list("env"), ["FROM=json"]);
    assert_eq!(c.u64("listen"), Some(64), "set of an option sets it");
    assert_eq!(c.origin("listen"), Some(&file("main.ini", 6)));
    assert_eq!(
        c.str("chdir"),
        Some("/srv/blog"),
        "set of another name is a placeholder"
    );

    let err = load(d.path(), "--include odd.conf")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("include") && err.contains(".ini, .yaml"),
        "{err}"
    );
    let err = load(d.path(), "--set nothing").unwrap_err().to_string();
    assert!(err.contains("NAME=VALUE"), "{err}");
}

/// uWSGI's other spellings of the `if-*` keywords (`ifenv`, `ifexists`, `ifdir`,
/// `if-directory`, `ifplugin`), and the tests on the host name, the plugins built in and
/// whether this start is a reload (the variable a re-executed master finds).
#[test]
fn if_aliases_hostname_plugin_and_reload() {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let d = dir_with(&[
        ("sub/x", ""),
        (
            "a.ini",
            &format!(
                "[uwsgi]\nifenv = SET\nenv = A=%(_)\nendif\nifexists = sub/x\nenv = B=%(_)\nendif\n\
                 ifdir = sub\nenv = C=1\nendif\nif-directory = sub/x\nenv = D=1\nendif\n\
                 if-hostname = {host}\nenv = E=%(_)\nendif\nif-hostname = not-{host}\nenv = F=1\nendif\n\
                 if-not-hostname = not-{host}\nenv = G=1\nendif\nif-not-hostname = {host}\nenv = H=1\nendif\n\
                 if-hostname-match = ^.+$\nenv = I=1\nendif\nif-hostname-match = ^not-{host}$\nenv = J=1\nendif\n\
                 if-not-hostname-match = ^not-{host}$\nenv = K=1\nendif\n\
                 if-plugin = python3\nenv = L=%(_)\nendif\nifplugin = http\nenv = M=1\nendif\n\
                 if-plugin = sse_offload\nenv = N=1\nendif\nif-not-plugin = sse_offload\nenv = O=%(_)\nendif\n\
                 if-reload\nenv = P=%(_)\nendif\nif-not-reload =\nenv = Q=1\nendif\n"
            ),
        ),
    ]);
    let c = load_env(d.path(), "--ini a.ini", &[("SET", "yes")]).unwrap();
    assert_eq!(
        c.list("env"),
        [
            "A=yes".to_string(),
            "B=sub/x".to_string(),
            "C=1".to_string(),
            format!("E={host}"),
            "G=1".to_string(),
            "I=1".to_string(),
            "K=1".to_string(),
            "L=python3".to_string(),
            "M=1".to_string(),
            "O=sse_offload".to_string(),
            "Q=1".to_string(),
        ]
    );
    let c = load_env(
        d.path(),
        "--ini a.ini",
        &[("SET", "yes"), ("RUWSGI_REEXEC", "x")],
    )
    .unwrap();
    let env = c.list("env");
    assert!(
        env.contains(&"P=%(_)") && !env.contains(&"Q=1"),
        "a re-executed master's start is a reload; if-reload substitutes nothing: {env:?}"
    );

    let err = load(d.path(), "--if-hostname-match=(unclosed --master")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "if-hostname-match: \"(unclosed\" is not valid (command line --if-hostname-match); expected a regular expression ("
        ),
        "{err}"
    );
}

/// `for-glob` repeats its lines per matching path (sorted, a directory's with a trailing
/// `/`, the pattern itself when nothing matches); `for-times` counts from 1; `for-readline`
/// repeats per line of a file (CR/LF dropped, empty lines kept); bad arguments are errors.
#[test]
fn for_glob_times_and_readline() {
    let d = dir_with(&[
        ("sites/b.ini", ""),
        ("sites/a.ini", ""),
        ("sites/.hidden.ini", ""),
        ("sites/c.ini/x", ""),
        ("sites/readme.txt", ""),
        ("lines.txt", "one\r\n\n two \nlast"),
        (
            "a.ini",
            "[uwsgi]\nfor-glob = sites/*.ini\nenv = G=%(_)\nendfor\n\
             for-glob = nothing/*.ini\nenv = N=%(_)\nendfor\n\
             for-times = 3\nsocket = /tmp/%(_).sock\nendfor\nfor-times = 0\nenv = Z=1\nendfor\n\
             for-readline = lines.txt\npythonpath = [%(_)]\nendfor\n",
        ),
    ]);
    let c = load(d.path(), "--ini a.ini").unwrap();
    assert_eq!(
        c.list("env"),
        [
            "G=sites/a.ini",
            "G=sites/b.ini",
            "G=sites/c.ini/",
            "N=nothing/*.ini"
        ]
    );
    assert_eq!(
        c.list("socket"),
        ["/tmp/1.sock", "/tmp/2.sock", "/tmp/3.sock"]
    );
    assert_eq!(c.list("pythonpath"), ["[one]", "[]", "[ two ]", "[last]"]);

    let abs = format!("--for-glob={}/sites/*.ini --env=X=%(_)", d.path().display());
    let c = load(d.path(), &abs).unwrap();
    assert_eq!(
        c.list("env")[0],
        format!("X={}/sites/a.ini", d.path().display())
    );

    let err = load(d.path(), "--for-times=four").unwrap_err().to_string();
    assert_eq!(
        err,
        "for-times: \"four\" is not valid (command line --for-times); expected a whole number of times such as 4, at most 100000"
    );
    let err = load(d.path(), "--for-times=10000000000")
        .unwrap_err()
        .to_string();
    assert!(err.contains("at most 100000"), "{err}");
    let err = load(d.path(), "--for-readline=missing.txt")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("for-readline: cannot read \"missing.txt\": ")
            && err.ends_with("(command line --for-readline)"),
        "{err}"
    );
    let err = load(d.path(), "--for-glob=sites/[*.ini")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("for-glob: \"sites/[*.ini\" is not valid (command line --for-glob); expected a glob pattern"),
        "{err}"
    );
}

/// `else` applies its lines when the `if-*` block before it tested false, without `%(_)`;
/// after an `endif` (which clears the failed state) or a `for` it applies nothing, as in
/// uWSGI. uWSGI tests an `if-*` once per line of its block, so after an `if-*` with no
/// lines nothing has failed yet and the `else` applies nothing either (`J`).
#[test]
fn else_inverts_the_if_block_before_it() {
    let d = dir_with(&[(
        "a.ini",
        "[uwsgi]\nif-env = SET\nenv = A=1\nelse =\nenv = B=1\nendif\n\
         if-env = UNSET\nenv = C=1\nelse\nenv = D=%(_)\nenv = E=1\nendif\n\
         else =\nenv = F=1\nendif\n\
         for = x\nenv = G=%(_)\nelse =\nenv = H=1\nendfor\n\
         if-env = UNSET\nelse =\nenv = J=1\nendif\nenv = I=1\n",
    )]);
    let c = load_env(d.path(), "--ini a.ini", &[("SET", "1")]).unwrap();
    assert_eq!(c.list("env"), ["A=1", "D=%(_)", "E=1", "G=x", "I=1"]);
}

/// `early-envdir` reads a daemontools envdir at once: later `$(VAR)` and `if-env` see its
/// variables, and they become `env` / `unenv` entries (an empty file unsets) applied
/// before every `env` option; `envdir` is read once the config is (after substitution, so
/// `$(VAR)` does not see it) and its entries come after every other. Values are the file up
/// to a NUL byte without trailing blanks; hidden files and directories are skipped.
#[test]
fn early_envdir_and_envdir_as_uwsgi_reads_them() {
    let d = dir_with(&[
        ("early/PORT", "8123 \t\r\n"),
        ("early/MULTI", "line one\nline two\n"),
        ("early/NUL", "before\0after"),
        ("early/GONE", ""),
        ("early/.hidden", "x"),
        ("early/sub/IGNORED", "x"),
        ("late/LATE", "from envdir\n"),
        ("late/DROP", ""),
        (
            "a.ini",
            "[uwsgi]\nenv = PORT=explicit\nhttp = :$(PORT)\nearly-envdir = early\n\
             if-env = PORT=8123\nenv = SEEN=%(_)\nendif\nif-env = GONE\nenv = NOT=1\nendif\n\
             envdir = $(ENVDIR)\nchdir = /$(LATE)\nenv = GONE=again\n",
        ),
    ]);
    let env = [("GONE", "inherited"), ("ENVDIR", "late")];
    let c = load_env(d.path(), "--ini a.ini", &env).unwrap();
    assert_eq!(c.list("http"), [":8123"], "$(VAR) sees early-envdir");
    assert_eq!(
        c.list("env"),
        [
            "MULTI=line one\nline two",
            "NUL=before",
            "PORT=8123",
            "PORT=explicit",
            "SEEN=8123",
            "GONE=again",
            "LATE=from envdir",
        ]
    );
    assert_eq!(
        c.list("unenv"),
        ["DROP"],
        "early-envdir's unset of GONE gives way to the env that sets it"
    );
    assert_eq!(
        c.str("chdir"),
        Some("/$(LATE)"),
        "envdir is read after $(VAR)"
    );
    assert_eq!(c.values("env")[0].origin, file("a.ini", 4));
    assert_eq!(c.values("env")[6].origin, file("a.ini", 11));

    let err = load(d.path(), "--early-envdir=missing")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("early-envdir: cannot read directory \"missing\": ")
            && err.ends_with("(command line --early-envdir)"),
        "{err}"
    );
    let d = dir_with(&[("bad/A=B", "x"), ("a.ini", "[uwsgi]\nenvdir = bad\n")]);
    let err = load(d.path(), "--ini a.ini").unwrap_err().to_string();
    assert_eq!(
        err,
        "envdir: \"bad/A=B\" cannot name an environment variable (it holds '=') (a.ini:2)"
    );
}

/// Aliases added with the options they name: `vhost-host` turns `vhost` on (all it does in
/// uWSGI), `rem-header` is `del-header`, `python-autoreload` is `py-autoreload`.
#[test]
fn aliases_of_vhost_del_header_and_py_autoreload() {
    let d = dir_with(&[]);
    let c = load(
        d.path(),
        "--vhost-host --rem-header Server --python-autoreload 2",
    )
    .unwrap();
    assert!(c.flag("vhost"));
    assert_eq!(c.list("del-header"), ["Server"]);
    assert_eq!(c.u64("py-autoreload"), Some(2));
}

/// `need-plugin` (`need-plugins`) names plugins ruwsgi has built in, or stops the start
/// naming the one it lacks, as uWSGI exits when a needed plugin does not load.
#[test]
fn need_plugin_accepts_the_built_in_and_refuses_the_rest() {
    let d = dir_with(&[]);
    let c = load(d.path(), "--need-plugin python3,http --need-plugins python").unwrap();
    assert_eq!(c.list("need-plugin"), ["python3,http", "python"]);
    let err = load(d.path(), "--need-plugin python3,gevent")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(
            "need-plugin: \"python3,gevent\" is not valid (command line --need-plugin)"
        ),
        "{err}"
    );
}
