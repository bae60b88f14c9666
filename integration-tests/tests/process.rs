//! End-to-end tests: process. (Filled by its issue.)
