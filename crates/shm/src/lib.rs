//! ruwsgi-shm: (to be filled).
#![deny(missing_docs)]
