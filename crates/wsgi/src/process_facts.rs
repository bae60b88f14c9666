//! What any part of the bridge may ask about this process: its host name, and whether the
//! interpreter is up. A leaf: it imports nothing of the crate.

use std::sync::atomic::{AtomicBool, Ordering};

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

pub(crate) use ruwsgi_event_loop::hostname;
