//! Links the test binaries of this crate against the libpython pyo3 was built for, so they
//! load that one (pyenv's) and not a system libpython of the same version.

fn main() {
    pyo3_build_config::add_libpython_rpath_link_args();
}
