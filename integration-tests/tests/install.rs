//! Installed the way Python servers are installed (issue 17): the checkout's sdist, built by
//! its PEP 517 backend (maturin, `pyproject.toml`), installed with pip into fresh venvs of
//! two Python versions gives a `ruwsgi` in each venv's `bin/`, linked to that venv's own
//! libpython, which serves from its venv without `--home`.
//!
//! The builds share the workspace's target directory (`CARGO_TARGET_DIR`), in the
//! `install-test` profile (`MATURIN_PEP517_ARGS`): third-party crates are built once and
//! shared, the workspace's own crates are rebuilt from the sdist each time (see
//! `forget_workspace_builds`), and the binary the other tests run (target/debug) is never
//! replaced. `cargo test` runs this test binary before the `integration` one, never beside
//! it, so its builds do not slow the timing-sensitive tests.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use std::time::Duration;

use ruwsgi_integration_tests::{
    free_port, get, run_command, run_command_for, test_venv, workspace_root, ServerBuilder,
    SYSTEMD_PATH,
};

/// A build of the workspace from an sdist (our crates, pyo3 for another Python) takes
/// minutes on 2 cores.
const BUILD_LIMIT: Duration = Duration::from_secs(900);

/// The Python the test venv was made from (the one the workspace builds against).
fn base_python() -> PathBuf {
    let out = run_command({
        let mut c = Command::new(test_venv().join("bin/python"));
        c.args(["-c", "import sys; print(sys._base_executable)"]);
        c
    });
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// `python`'s `major.minor`.
fn version_of(python: &Path) -> String {
    let out = run_command({
        let mut c = Command::new(python);
        c.args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"]);
        c
    });
    assert!(out.status.success(), "{}: {out:?}", python.display());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The other Python the install is tried with: `RUWSGI_TEST_OTHER_PYTHON`, else pyenv's
/// 3.12 (3.11 when the base is 3.12). Missing, the test fails naming it (CI machines have
/// it).
fn other_python(base_version: &str) -> PathBuf {
    if let Ok(p) = std::env::var("RUWSGI_TEST_OTHER_PYTHON") {
        return PathBuf::from(p);
    }
    let wanted = if base_version == "3.12" {
        "3.11"
    } else {
        "3.12"
    };
    pyenv_python(wanted).unwrap_or_else(|| {
        panic!(
            "the install test needs a second Python ({wanted} with its shared library): set \
             RUWSGI_TEST_OTHER_PYTHON or install it with pyenv \
             (PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install {wanted})"
        )
    })
}

/// pyenv's `python{version}` executable (`version` is `major.minor`), if pyenv has one.
fn pyenv_python(version: &str) -> Option<PathBuf> {
    let root = std::env::var("PYENV_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".pyenv"));
    std::fs::read_dir(root.join("versions"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join(format!("bin/python{version}")))
        .find(|p| p.exists())
}

/// A Python below 3.9 stops the build in ruwsgi's own build script, with the cause and the
/// fix, before anything is compiled against it. The Python is described to pyo3 by a
/// `PYO3_CONFIG_FILE` (a CPython 3.8 with its shared library), so the test needs no 3.8
/// installed; `cargo check` of the bridge runs in its own target directory, kept between
/// runs.
#[test]
fn a_python_below_3_9_stops_the_build_naming_the_fix() {
    let dir = workspace_root().join("target/python3.8-check");
    std::fs::create_dir_all(&dir).unwrap();
    let python = "/opt/python3.8/bin/python3.8";
    let config = dir.join("pyo3-python3.8.cfg");
    std::fs::write(
        &config,
        format!(
            "implementation=CPython\nversion=3.8\nshared=true\nabi3=false\n\
             lib_name=python3.8\nlib_dir=/opt/python3.8/lib\nexecutable={python}\n\
             pointer_width=64\nbuild_flags=\nsuppress_build_script_link_lines=false\n"
        ),
    )
    .unwrap();
    let mut check = Command::new(env!("CARGO"));
    check
        .current_dir(workspace_root())
        .args(["check", "-p", "ruwsgi-wsgi"])
        .env("PYO3_CONFIG_FILE", &config)
        .env("CARGO_TARGET_DIR", &dir);
    let done = run_command_for(check, BUILD_LIMIT);
    let stderr = String::from_utf8_lossy(&done.stderr);
    assert!(!done.status.success(), "3.8 was accepted: {stderr}");
    assert!(
        stderr.contains(&format!(
            "ruwsgi cannot embed {python}: it is Python 3.8, and ruwsgi needs 3.9 or newer."
        )) && stderr.contains("Fix: set PYO3_PYTHON to the python3 executable of a CPython 3.9"),
        "{stderr}"
    );
}

/// Forgets the `install-test` builds of the workspace's own crates, so the next pip build
/// compiles them from the sdist. An sdist's files all carry one fixed, old mtime, which
/// cargo's mtime-based freshness check would take for "unchanged since the last build":
/// an earlier checkout's code would be linked. Third-party crates stay built.
fn forget_workspace_builds() {
    let meta = run_command({
        let mut c = Command::new(env!("CARGO"));
        c.current_dir(workspace_root())
            .args(["metadata", "--no-deps", "--format-version", "1"]);
        c
    });
    assert!(meta.status.success(), "cargo metadata: {meta:?}");
    let meta: serde_json::Value = serde_json::from_slice(&meta.stdout).unwrap();
    let mut clean = Command::new(env!("CARGO"));
    clean
        .current_dir(workspace_root())
        .args(["clean", "--profile", "install-test"]);
    for package in meta["packages"].as_array().unwrap() {
        clean.args(["-p", package["name"].as_str().unwrap()]);
    }
    let done = run_command(clean);
    assert!(done.status.success(), "cargo clean: {done:?}");
}

/// Builds the checkout's sdist into `out` with the test venv's maturin; its path.
fn sdist(out: &Path) -> PathBuf {
    let mut c = Command::new(test_venv().join("bin/maturin"));
    c.current_dir(workspace_root())
        .args(["sdist", "--out"])
        .arg(out);
    let done = run_command_for(c, BUILD_LIMIT);
    assert!(done.status.success(), "maturin sdist: {done:?}");
    std::fs::read_dir(out)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .expect("an sdist")
}

/// A fresh venv of `python` at `dir` with the sdist installed by pip (offline: the build
/// backend comes from the test venv's wheels); pip's output.
fn install(python: &Path, dir: &Path, sdist: &Path) -> String {
    let made = run_command({
        let mut c = Command::new(python);
        c.args(["-m", "venv"]).arg(dir);
        c
    });
    assert!(made.status.success(), "venv: {made:?}");
    forget_workspace_builds();
    let mut pip = Command::new(dir.join("bin/python"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-cache-dir",
        "--no-index",
        "--find-links",
    ])
    .arg(test_venv().join("wheels"))
    .arg("-v")
    .arg(sdist)
    .env("CARGO_TARGET_DIR", workspace_root().join("target"))
    .env("MATURIN_PEP517_ARGS", "--profile install-test")
    // maturin picks the interpreter of the venv it builds for; nothing else may.
    .env_remove("PYO3_PYTHON")
    .env_remove("VIRTUAL_ENV");
    let done = run_command_for(pip, BUILD_LIMIT);
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&done.stdout),
        String::from_utf8_lossy(&done.stderr)
    );
    assert!(done.status.success(), "pip install: {output}");
    output
}

/// The file of the libpython the binary at `bin` loads, as the dynamic loader resolves it
/// (`ldd`'s `libpython3.X.so.1.0 => /path (0x...)`).
fn libpython_of(bin: &Path) -> PathBuf {
    let out = run_command({
        let mut c = Command::new("ldd");
        c.arg(bin);
        c
    });
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.contains("libpython"))
        .unwrap_or_else(|| panic!("{} links no libpython: {text}", bin.display()));
    let path = line
        .split("=>")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| panic!("{} does not resolve its libpython: {line}", bin.display()));
    PathBuf::from(path).canonicalize().unwrap()
}

/// What `python` says of itself: its shared library's directory (`sysconfig`'s `LIBDIR`)
/// and its base prefix, both resolved.
fn libdir_and_prefix(python: &Path) -> (PathBuf, PathBuf) {
    let out = run_command({
        let mut c = Command::new(python);
        c.args([
            "-c",
            "import os, sys, sysconfig\n\
             print(os.path.realpath(sysconfig.get_config_var('LIBDIR')))\n\
             print(os.path.realpath(sys.base_prefix))",
        ]);
        c
    });
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines().map(PathBuf::from);
    (lines.next().unwrap(), lines.next().unwrap())
}

/// Serves a request with `venv`'s `bin/ruwsgi` (not activated, no `--home`, and the bare
/// `PATH` systemd gives a service, on which `python3` is the system's) from an app that
/// imports a module only that venv has; the answer.
fn serve_from(venv: &Path, app_dir: &Path) -> String {
    let version = version_of(&venv.join("bin/python"));
    let site = venv.join(format!("lib/python{version}/site-packages"));
    std::fs::write(site.join("only_in_this_venv.py"), "WHERE = __file__\n").unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let mut server = ServerBuilder::with_binary(
        venv.join("bin/ruwsgi"),
        [
            "--http-socket".to_string(),
            addr.to_string(),
            "--wsgi-file".to_string(),
            app_dir.join("app.py").display().to_string(),
        ],
    )
    .env_remove("VIRTUAL_ENV")
    .env("PATH", SYSTEMD_PATH)
    .start();
    server.wait_for_tcp(addr);
    let answer = get(addr, "/").text();
    drop(server);
    answer
}

#[test]
fn one_sdist_installs_into_venvs_of_two_pythons_each_binary_on_its_own_libpython() {
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("app");
    std::fs::create_dir(&app_dir).unwrap();
    std::fs::write(
        app_dir.join("app.py"),
        "import os, sys, only_in_this_venv\n\
         def application(environ, start_response):\n\
         \x20   start_response('200 OK', [('Content-Type', 'text/plain')])\n\
         \x20   return [('%d.%d %s|%s|%s|%s' % (sys.version_info[0], sys.version_info[1], \
         only_in_this_venv.WHERE, sys.executable, sys.prefix, os.__file__)).encode()]\n",
    )
    .unwrap();
    let sdist = sdist(&dir.path().join("dist"));
    let base = base_python();
    let base_version = version_of(&base);
    let other = other_python(&base_version);
    let other_version = version_of(&other);
    assert_ne!(base_version, other_version, "two Python versions");
    for (python, version) in [(base, base_version), (other, other_version)] {
        let venv = dir.path().join(format!("venv-{version}"));
        let pip = install(&python, &venv, &sdist);
        let tag = format!(
            "cp{}-cp{}",
            version.replace('.', ""),
            version.replace('.', "")
        );
        assert!(
            pip.contains(&format!("-{tag}-")),
            "the wheel is tagged for its interpreter ({tag}): {pip}"
        );
        let bin = venv.join("bin/ruwsgi");
        let (libdir, base_prefix) = libdir_and_prefix(&python);
        let lib = libpython_of(&bin);
        assert!(
            lib.starts_with(&libdir)
                && lib.file_name().is_some_and(|n| n
                    .to_string_lossy()
                    .starts_with(&format!("libpython{version}"))),
            "{} loads {}, not the libpython{version} in {}",
            bin.display(),
            lib.display(),
            libdir.display()
        );
        let answer = serve_from(&venv, &app_dir);
        let venv = venv.canonicalize().unwrap();
        let fields: Vec<&str> = answer.split('|').collect();
        let [first, executable, prefix, os_file] = fields[..] else {
            panic!("venv {} answered {answer:?}", venv.display());
        };
        assert!(
            first.starts_with(&format!("{version} ")) && first.contains(venv.to_str().unwrap()),
            "venv {} answered {answer:?}",
            venv.display()
        );
        // Under systemd's PATH the interpreter still knows its venv and takes its standard
        // library from the install whose libpython it loaded, not the system's python3.
        assert_eq!(Path::new(executable), venv.join("bin/python"), "{answer:?}");
        assert_eq!(Path::new(prefix), venv, "{answer:?}");
        assert!(
            Path::new(os_file).starts_with(&base_prefix),
            "the standard library comes from {os_file}, not {}",
            base_prefix.display()
        );
    }
}
