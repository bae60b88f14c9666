//! What any part of the bridge may ask about this process: its host name, and whether the
//! interpreter is up. A leaf: it imports nothing of the crate.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

static INTERPRETER_UP: AtomicBool = AtomicBool::new(false);

/// Whether [`crate::initialize`] has started the interpreter in this process (a forked
/// worker inherits it).
pub(crate) fn interpreter_up() -> bool {
    INTERPRETER_UP.load(Ordering::Acquire)
}

/// Called once the interpreter runs.
pub(crate) fn set_interpreter_up() {
    INTERPRETER_UP.store(true, Ordering::Release);
}

/// The host name (`uwsgi.hostname`, `uwsgi.node`, `SERVER_NAME` on HTTP sockets), read once;
/// `localhost` if the system has none to give.
pub(crate) fn hostname() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| match nix::unistd::gethostname() {
        Ok(name) => name.to_string_lossy().into_owned(),
        Err(_) => "localhost".to_string(),
    })
}
