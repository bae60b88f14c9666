//! The configuration loader and the command line (issue 2), through the real binary: the seed
//! tutorial's ini, `--show-config`, the same settings as `UWSGI_*` variables and as flags,
//! `--help`, `--version`, and the exit status and message of each kind of config error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ruwsgi_integration_tests::{apps_dir, run_command, ruwsgi_bin};

/// A `ruwsgi` command run in `dir`, without the developer's `UWSGI_*` variables.
fn ruwsgi_in(dir: &Path, args: &[&str], env: &[(String, String)]) -> Output {
    let mut cmd = Command::new(ruwsgi_bin());
    cmd.args(args).current_dir(dir);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("UWSGI_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_command(cmd)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A temp dir holding a copy of the seed's ini (`integration-tests/apps/seed/uwsgi.ini`, the
/// `[uwsgi]` block of the seed tutorial byte for byte).
fn seed_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("uwsgi.ini");
    std::fs::copy(apps_dir().join("seed/uwsgi.ini"), &ini).unwrap();
    (dir, ini)
}

/// The seed ini's settings as (key, value), in file order.
fn seed_settings() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(apps_dir().join("seed/uwsgi.ini")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// `--show-config` lines as (key = value, origin), without the commands themselves.
fn shown(out: &str) -> Vec<(String, String)> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.starts_with('['))
        .map(|l| {
            let (kv, origin) = l.rsplit_once(" ; ").expect("an origin comment");
            (kv.trim().to_string(), origin.to_string())
        })
        .filter(|(kv, _)| !kv.starts_with("ini = ") && !kv.starts_with("show-config = "))
        .collect()
}

#[test]
fn seed_ini_loads_and_show_config_names_file_and_line() {
    let (dir, _) = seed_dir();
    let out = ruwsgi_in(dir.path(), &["--ini", "uwsgi.ini", "--show-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let lines = shown(&stdout(&out));
    let expected = [
        ("chdir = ./", "uwsgi.ini:3"),
        ("module = mysite.wsgi", "uwsgi.ini:6"),
        ("py-autoreload = 1", "uwsgi.ini:9"),
        ("socket = ./uwsgi/uwsgi.sock", "uwsgi.ini:12"),
        ("processes = 2", "uwsgi.ini:15"),
        ("pidfile = ./uwsgi/uwsgi.pid", "uwsgi.ini:17"),
        ("uid = root", "uwsgi.ini:24"),
        ("gid = root", "uwsgi.ini:25"),
        ("master = true", "uwsgi.ini:28"),
        ("enable-threads = true", "uwsgi.ini:31"),
        ("vacuum = true", "uwsgi.ini:34"),
        ("daemonize = ./logs/uwsgi.log", "uwsgi.ini:37"),
        ("disable-logging = true", "uwsgi.ini:40"),
        ("thunder-lock = true", "uwsgi.ini:43"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(lines, expected);
    // Every option of the seed's ini works: none draws a "not implemented yet" warning.
    assert!(
        !stderr(&out).contains("not implemented yet"),
        "{}",
        stderr(&out)
    );
    // A config check starts nothing: no pidfile, no daemon log, no socket directory.
    assert!(!dir.path().join("uwsgi").exists());
    assert!(!dir.path().join("logs").exists());
}

#[test]
fn seed_settings_as_ini_environment_and_flags_merge_the_same() {
    let (dir, _) = seed_dir();
    let settings = seed_settings();
    assert_eq!(settings.len(), 14);

    let from_ini = ruwsgi_in(dir.path(), &["uwsgi.ini", "--show-config"], &[]);
    let env: Vec<(String, String)> = settings
        .iter()
        .map(|(k, v)| {
            (
                format!("UWSGI_{}", k.to_uppercase().replace('-', "_")),
                v.clone(),
            )
        })
        .collect();
    let from_env = ruwsgi_in(dir.path(), &["--show-config"], &env);
    let flags: Vec<String> = settings.iter().map(|(k, v)| format!("--{k}={v}")).collect();
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.push("--show-config");
    let from_flags = ruwsgi_in(dir.path(), &args, &[]);

    let mut merged = Vec::new();
    for out in [&from_ini, &from_env, &from_flags] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        let mut values: Vec<String> = shown(&stdout(out)).into_iter().map(|(kv, _)| kv).collect();
        values.sort();
        merged.push(values);
    }
    assert_eq!(merged[0].len(), 14, "{:?}", merged[0]);
    assert_eq!(merged[0], merged[1], "ini and UWSGI_* variables");
    assert_eq!(merged[0], merged[2], "ini and flags");
    // Each value names its own source; `workers` is the alias of `processes` everywhere.
    let origins = |out: &Output| {
        shown(&stdout(out))
            .into_iter()
            .find(|(kv, _)| kv == "processes = 2")
            .unwrap()
            .1
    };
    assert_eq!(origins(&from_ini), "uwsgi.ini:15");
    assert_eq!(origins(&from_env), "environment variable UWSGI_WORKERS");
    assert_eq!(origins(&from_flags), "command line --processes");
}

#[test]
fn unknown_options_on_the_command_line_exit_1_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    // The seed blog's command, with its en dashes as pasted.
    let out = ruwsgi_in(
        dir.path(),
        &["\u{2013}http", ":8001", "\u{2013}wsgi-file", "test.py"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: unknown option \u{2013}http on the command line: did you mean --http?"
    );
    let out = ruwsgi_in(dir.path(), &["--htpp", ":8001"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: unknown option --htpp on the command line: did you mean --http?"
    );
}

#[test]
fn bad_values_exit_1_naming_option_value_form_and_source() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.ini"),
        "[uwsgi]\nmaster = true\nprocesses = four\n",
    )
    .unwrap();
    let out = ruwsgi_in(dir.path(), &["--ini", "site.ini"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: processes: \"four\" is not valid (site.ini:3); expected a whole number such as 4"
    );
    let out = ruwsgi_in(
        dir.path(),
        &["--show-config"],
        &[("UWSGI_MASTER".into(), "maybe".into())],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("master: \"maybe\" is not valid (environment variable UWSGI_MASTER)"),
        "{}",
        stderr(&out)
    );
    let out = ruwsgi_in(
        dir.path(),
        &["--socket", ":0", "--protocol", "fastcgi"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: protocol: \"fastcgi\" is not valid (command line --protocol); expected uwsgi, http or http11 (the protocols ruwsgi speaks)"
    );
    let out = ruwsgi_in(dir.path(), &["--ini", "missing.ini"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: cannot read config file \"missing.ini\" (named by command line --ini)"
    );
}

#[test]
fn unknown_keys_in_files_warn_and_strict_refuses_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("site.ini"),
        "[uwsgi]\nmaster = true\nvaccum = true\n",
    )
    .unwrap();
    let out = ruwsgi_in(dir.path(), &["site.ini", "--show-config"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown option vaccum (site.ini:3): did you mean vacuum? (ignored; `strict` makes this an error)"),
        "{}",
        stderr(&out)
    );
    let out = ruwsgi_in(dir.path(), &["--strict", "site.ini", "--show-config"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: unknown option vaccum (site.ini:3): did you mean vacuum?"
    );
}

#[test]
fn version_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let out = ruwsgi_in(dir.path(), &["--version"], &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        stdout(&out).trim(),
        format!("ruwsgi {}", env!("CARGO_PKG_VERSION"))
    );
    let out = ruwsgi_in(dir.path(), &["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let help = stdout(&out);
    for needle in [
        "-p, --processes <N>",
        "--workers",
        "-M, --master",
        "--virtualenv",
        "--venv",
        "--pyhome",
        "--show-config",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
}

#[test]
fn type_errors_name_the_file_and_line_also_through_an_include() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("site.ini", "[uwsgi]\nmaster = true\nprocesses = lots\n");
    write("main.ini", "[uwsgi]\nhttp-socket = :0\nini = common.ini\n");
    write(
        "common.ini",
        "[uwsgi]\n; shared by every site\nmaster = maybe\n",
    );
    write(
        "site.xml",
        "<uwsgi>\n  <master/>\n  <processes>lots</processes>\n</uwsgi>\n",
    );
    for (args, message) in [
        (
            &["--ini", "site.ini"][..],
            "processes: \"lots\" is not valid (site.ini:3); expected a whole number such as 4",
        ),
        (
            &["--ini", "main.ini"][..],
            "master: \"maybe\" is not valid (common.ini:3); expected true/false, on/off, yes/no or 1/0 (or the key alone)",
        ),
        (
            &["--xml", "site.xml"][..],
            "processes: \"lots\" is not valid (site.xml:3); expected a whole number such as 4",
        ),
    ] {
        let out = ruwsgi_in(dir.path(), args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert_eq!(stderr(&out).trim(), format!("ruwsgi: {message}"), "{args:?}");
    }
}

#[test]
fn a_value_out_of_its_fields_range_names_the_included_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.ini"),
        "[uwsgi]\nhttp-socket = 127.0.0.1:0\nbuiltin-handler = true\nini = sockets.ini\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("sockets.ini"),
        "[uwsgi]\nlisten = 99999999999\n",
    )
    .unwrap();
    let out = ruwsgi_in(dir.path(), &["--ini", "main.ini"], &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(
        stderr(&out).trim(),
        "ruwsgi: listen: \"99999999999\" is not valid (sockets.ini:2); expected a whole number that fits a u32"
    );
}

/// `GET /` of `wsgi_options.py` as JSON (`foo` is the app's `RUWSGI_T_FOO`, `gone` whether
/// `RUWSGI_T_GONE` is in its `os.environ`).
fn app_environ(addr: std::net::SocketAddr) -> serde_json::Value {
    let r = ruwsgi_integration_tests::get(addr, "/");
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.text()))
}

/// `wsgi_options.py` behind a master on an HTTP socket, with `site.ini` of `dir` (whose
/// `[uwsgi]` section is `ini` plus the app), started in `dir` with `RUWSGI_T_GONE` set.
fn environ_server(
    dir: &Path,
    ini: &str,
) -> (ruwsgi_integration_tests::Server, std::net::SocketAddr) {
    use ruwsgi_integration_tests::{app, free_port, ServerBuilder};
    let text = format!("[uwsgi]\n{ini}wsgi-file = {}\n", app("wsgi_options.py"));
    std::fs::write(dir.join("site.ini"), text).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let args = [
        "--master",
        "--http-socket",
        &addr.to_string(),
        "--ini",
        "site.ini",
    ];
    let mut server = ServerBuilder::new(args)
        .cwd(dir)
        .env("RUWSGI_T_GONE", "1")
        .start();
    server.wait_for_tcp(addr);
    (server, addr)
}

/// `envdir` and `early-envdir` reach the app's `os.environ`: an envdir file's content
/// (trailing newline dropped) sets a variable, an empty file unsets one the server
/// inherited.
#[test]
fn envdir_variables_reach_the_apps_os_environ() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("early")).unwrap();
    std::fs::write(dir.path().join("early/RUWSGI_T_GONE"), "").unwrap();
    std::fs::create_dir(dir.path().join("late")).unwrap();
    std::fs::write(dir.path().join("late/RUWSGI_T_FOO"), "from envdir\n").unwrap();
    let (_server, addr) = environ_server(dir.path(), "early-envdir = early\nenvdir = late\n");
    let v = app_environ(addr);
    assert_eq!(v["foo"], "from envdir");
    assert_eq!(v["gone"], false);
}

/// `if-reload` / `if-not-reload` tell a first start from the master's re-execution on
/// SIGHUP: the app sees the first block's `env`, then after the reload the other's.
#[test]
fn if_reload_applies_after_a_reload_only() {
    let dir = tempfile::tempdir().unwrap();
    let ini = "if-not-reload\nenv = RUWSGI_T_FOO=first\nendif\n\
               if-reload\nenv = RUWSGI_T_FOO=reloaded\nendif\n";
    let (server, addr) = environ_server(dir.path(), ini);
    assert_eq!(app_environ(addr)["foo"], "first");
    server.signal(libc::SIGHUP);
    ruwsgi_integration_tests::wait_until("the reloaded master's workers to serve", || {
        (app_environ(addr)["foo"] == "reloaded").then_some(())
    });
}

/// `need-plugin` takes the plugins ruwsgi has built in and serves; one it lacks stops the
/// start with status 1, naming it, as uWSGI exits when a needed plugin does not load.
#[test]
fn need_plugin_serves_with_built_in_plugins_and_stops_without() {
    use ruwsgi_integration_tests::{get, run_ruwsgi, Server};
    let (_server, addr) = Server::http(["--builtin-handler", "--need-plugin", "python3,http"]);
    assert_eq!(get(addr, "/").status, 200);
    let out = run_ruwsgi([
        "--http-socket",
        "127.0.0.1:0",
        "--builtin-handler",
        "--need-plugins",
        "gevent",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("need-plugin: \"gevent\" is not valid"),
        "{err}"
    );
}
