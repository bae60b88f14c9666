//! Prints the README's migration table (every option, its aliases and whether it works
//! yet), generated from the option table: paste it over the table in README.md's
//! "Migrating from uWSGI" section when an option changes. A test fails while they differ.
//!
//! `cargo run -p ruwsgi-config --example migration_table`

fn main() {
    print!("{}", ruwsgi_config::migration_table());
}
