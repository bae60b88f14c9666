//! End-to-end tests: serving. (Filled by its issue.)
