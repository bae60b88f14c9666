//! The `ruwsgi` binary. To be filled.
fn main() {}
