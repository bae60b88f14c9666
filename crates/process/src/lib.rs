//! ruwsgi-process: (to be filled).
#![deny(missing_docs)]
