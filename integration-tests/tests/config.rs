//! End-to-end tests: config. (Filled by its issue.)
