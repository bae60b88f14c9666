//! End-to-end tests: wsgi. (Filled by its issue.)
