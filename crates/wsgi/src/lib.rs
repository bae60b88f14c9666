//! ruwsgi-wsgi: (to be filled).
#![deny(missing_docs)]
