//! Link the binary against the libpython it was built with, and record its path in the
//! binary's rpath, so that at run time it loads that same libpython and not whichever one
//! the dynamic loader would find first (Debian's, another pyenv version, ...).
fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
