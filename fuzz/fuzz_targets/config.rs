//! Fuzzes the config loader end to end: any text, read as an ini, YAML, JSON, XML or TOML
//! file (the first byte picks), through the magic variables, the `$()`, `@()` and `%()`
//! substitutions, the config language, includes and the option table's validation, either
//! loads or is refused with an error. Nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ruwsgi_config::Config;

/// The option that loads each format, and the file name it is written to.
const FORMATS: [(&str, &str); 5] = [
    ("ini", "a.ini"),
    ("yaml", "a.yaml"),
    ("json", "a.json"),
    ("xml", "a.xml"),
    ("toml", "a.toml"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let (option, name) = FORMATS[usize::from(pick) % FORMATS.len()];
    // One directory per fuzzing process; the file is rewritten for every input.
    let dir = std::env::temp_dir().join(format!("ruwsgi-fuzz-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
    let args = [format!("--{option}"), name.to_string()];
    let env = [("UWSGI_FUZZ".to_string(), "1".to_string())];
    let _ = Config::load_in(args, env, dir);
});
