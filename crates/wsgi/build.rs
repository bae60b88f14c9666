//! Refuses, with the fix in the message, a Python ruwsgi cannot embed; then links the test
//! binaries of this crate against the libpython pyo3 was built for, so they load that one
//! (pyenv's) and not a system libpython of the same version.

use pyo3_build_config::{PythonImplementation, PythonVersion};

/// The oldest CPython ruwsgi supports (and `just test-pythons` tests).
const MINIMUM: PythonVersion = PythonVersion { major: 3, minor: 9 };

fn main() {
    let config = pyo3_build_config::get();
    let python = config
        .executable
        .as_deref()
        .unwrap_or("the configured Python");
    let fix = "set PYO3_PYTHON to the python3 executable of a CPython 3.9 or newer built with \
               its shared library (Debian/Ubuntu: apt install python3-dev; pyenv: \
               PYTHON_CONFIGURE_OPTS=--enable-shared pyenv install 3.12), then build again \
               (cargo clean -p pyo3-build-config if PYO3_PYTHON did not change)";
    // Cargo shows a failed build script's stderr: two lines, the cause and the fix.
    let refuse = |why: String| -> ! {
        eprintln!("ruwsgi cannot embed {python}: {why}.\nFix: {fix}.");
        std::process::exit(1)
    };
    if config.implementation != PythonImplementation::CPython {
        refuse(format!(
            "it is {}, and ruwsgi embeds CPython",
            config.implementation
        ));
    }
    if config.version < MINIMUM {
        refuse(format!(
            "it is Python {}, and ruwsgi needs {MINIMUM} or newer",
            config.version
        ));
    }
    if !config.shared {
        refuse(
            "it was built without its shared library (libpython), which an embedding server \
             links to so that C extensions find the interpreter's symbols"
                .into(),
        );
    }
    // The linker needs the unversioned libpythonX.Y.so, which distributions ship in the
    // -dev package (Debian's python3.11 has only libpython3.11.so.1.0 without it).
    if let (Some(dir), Some(name)) = (&config.lib_dir, &config.lib_name) {
        let lib = std::path::Path::new(dir).join(format!("lib{name}.so"));
        if !lib.exists() {
            refuse(format!(
                "its shared library {} is missing (Debian/Ubuntu ship it in python{}-dev)",
                lib.display(),
                config.version
            ));
        }
    }
    if config.is_free_threaded() {
        refuse("it is a free-threaded build (3.13t), and ruwsgi's bridge relies on the GIL".into());
    }
    // The interpreter's program name at run time (see `interp::program_name`): the real
    // file behind the build's python3 (a venv's python is a link to its base install's).
    if let Some(exe) = &config.executable {
        let real = std::fs::canonicalize(exe).unwrap_or_else(|_| exe.into());
        println!("cargo:rustc-env=RUWSGI_BUILD_PYTHON={}", real.display());
    }
    println!(
        "cargo:rustc-env=RUWSGI_BUILD_PYTHON_VERSION={}.{}",
        config.version.major, config.version.minor
    );
    pyo3_build_config::add_libpython_rpath_link_args();
}
