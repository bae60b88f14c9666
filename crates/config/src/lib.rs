//! ruwsgi-config: (to be filled).
#![deny(missing_docs)]
