//! Substitutions, in uWSGI's order:
//!
//! 1. **Magic variables** (`%d`, `%n`, `%k`, ...) over the raw text of each config file before
//!    it is parsed, comments included, as uWSGI does. Every `%X` is replaced;
//!    an `X` uWSGI gives no meaning becomes empty, `%%` is `%` and `%(` is kept for step 4.
//! 2. `$(VAR)`: environment variables, over every value once all sources are read.
//! 3. `@(path)`: a file's content (one trailing newline dropped).
//! 4. `%(key)`: the first value given for `key` (an option or a custom placeholder), with
//!    uWSGI's little pipeline language: `%(a b)` concatenates, `%(a + 1)` adds, `- * /`,
//!    `++`, `--`.

use std::path::Path;

/// The magic variables of one config file.
#[derive(Debug, Clone, Default)]
pub struct Magic {
    table: Vec<(char, String)>,
}

fn proc_owner() -> (u32, u32) {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| (m.uid(), m.gid()))
        .unwrap_or((0, 0))
}

/// The machine's host name, as gethostname(2) gives it (Linux keeps it in
/// `/proc/sys/kernel/hostname`): `%h` and what `if-hostname` tests. Empty if unreadable.
pub(crate) fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The name of `id` in an `/etc/passwd`-shaped file (name:x:id:...).
fn name_of(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        f.next()?;
        (f.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
    })
}

/// uWSGI's `djb33x_hash` of the path, as the hex of its four bytes in memory order (`%j`).
fn djb33x_hex(s: &str) -> String {
    let mut hash: u32 = 5381;
    for b in s.bytes() {
        // uWSGI XORs a (signed) char: bytes above 0x7f are sign-extended.
        hash = (hash << 5).wrapping_add(hash) ^ (b as i8 as i32 as u32);
    }
    hash.to_le_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Magic {
    /// The variables for the config file `name` (as named, maybe with `:section`), with
    /// `first` the table of the first config file loaded (its values become the upper-case
    /// `%O %D %S %P %C %E %N %X %I %J`).
    pub fn for_file(name: &str, cwd: &Path, first: Option<&Magic>) -> Magic {
        let mut t: Vec<(char, String)> = Vec::new();
        let (uid, gid) = proc_owner();
        let hostname = hostname();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        t.push(('v', cwd.display().to_string()));
        t.push(('h', hostname));
        t.push(('t', now.as_secs().to_string()));
        t.push(('T', now.as_micros().to_string()));
        t.push(('V', env!("CARGO_PKG_VERSION").to_string()));
        t.push(('k', cpus.to_string()));
        t.push(('[', "\x1b".to_string()));
        t.push(('u', uid.to_string()));
        t.push((
            'U',
            name_of("/etc/passwd", uid).unwrap_or_else(|| uid.to_string()),
        ));
        t.push(('g', gid.to_string()));
        t.push((
            'G',
            name_of("/etc/group", gid).unwrap_or_else(|| gid.to_string()),
        ));
        if let Ok(exe) = std::env::current_exe() {
            t.push(('b', exe.display().to_string()));
        }
        t.push(('o', name.to_string()));
        let (file, section) = match name.rsplit_once(':') {
            Some((f, s)) => (f, Some(s)),
            None => (name, None),
        };
        if !file.is_empty() {
            let path = Path::new(file);
            let is_link = path
                .symlink_metadata()
                .map(|m| m.file_type().is_symlink())
                .unwrap_or(false);
            let full = if is_link {
                if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    cwd.join(path)
                }
            } else {
                std::fs::canonicalize(cwd.join(path)).unwrap_or_else(|_| cwd.join(path))
            };
            let full = full.display().to_string();
            let (dir, base) = match full.rfind('/') {
                Some(i) => (full[..=i].to_string(), full[i + 1..].to_string()),
                None => (String::new(), full.clone()),
            };
            let trimmed = dir.trim_end_matches('/');
            let c = trimmed.rsplit('/').next().unwrap_or("").to_string();
            let (n, e) = match base.rfind('.') {
                Some(i) => (base[..i].to_string(), base[i + 1..].to_string()),
                None => (base.clone(), String::new()),
            };
            {
                use std::os::unix::fs::MetadataExt;
                if let Ok(m) = std::fs::symlink_metadata(&full) {
                    t.push(('i', m.ino().to_string()));
                }
            }
            for (i, part) in trimmed
                .split('/')
                .filter(|p| !p.is_empty())
                .take(10)
                .enumerate()
            {
                let digit = char::from_digit(i as u32, 10).unwrap_or('0');
                t.push((digit, part.to_string()));
            }
            t.push(('j', djb33x_hex(&full)));
            t.push(('p', full.clone()));
            t.push(('s', base));
            t.push(('d', dir));
            t.push(('c', c));
            t.push(('n', n));
            t.push(('e', e));
        }
        t.push(('x', section.unwrap_or("").to_string()));
        let mut magic = Magic { table: t };
        let upper = ['o', 'd', 's', 'p', 'c', 'e', 'n', 'x', 'i', 'j'];
        for c in upper {
            let v = match first {
                Some(f) => f.get(c.to_ascii_uppercase()),
                None => magic.get(c),
            };
            magic.table.push((c.to_ascii_uppercase(), v.to_string()));
        }
        magic
    }

    /// A variable's value ("" for letters uWSGI gives no meaning).
    pub fn get(&self, c: char) -> &str {
        self.table
            .iter()
            .rev()
            .find(|(k, _)| *k == c)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    /// Replaces every `%X` of `text` (uWSGI's `magic_sub`).
    pub fn apply(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                None => out.push('%'),
                Some('%') => out.push('%'),
                Some('(') => out.push_str("%("),
                Some(x) => out.push_str(self.get(x)),
            }
        }
        out
    }
}

/// Finds the first `SYMBOL(...)` token at or after byte `from`, with nested parentheses:
/// returns the byte range of the whole token and of its inside.
pub(crate) fn find_token(value: &str, symbol: char, from: usize) -> Option<(usize, usize, usize)> {
    let bytes = value.as_bytes();
    let mut i = from;
    while i + 1 < bytes.len() {
        if bytes[i] == symbol as u8 && bytes[i + 1] == b'(' {
            let mut depth = 0usize;
            let mut j = i + 2;
            while j < bytes.len() {
                match bytes[j] {
                    b'(' => depth += 1,
                    b')' if depth > 0 => depth -= 1,
                    b')' => return Some((i, i + 2, j)),
                    _ => {}
                }
                j += 1;
            }
            return None;
        }
        i += 1;
    }
    None
}

/// Applies one pass to a value: each `SYMBOL(key)` whose hook answers is replaced, and the
/// value is scanned again from the start (so a substitution may itself contain tokens).
/// Returns `Err` after too many rounds (a placeholder that refers to itself).
pub(crate) fn pass(
    value: &str,
    symbol: char,
    mut hook: impl FnMut(&str) -> Result<Option<String>, String>,
) -> Result<String, String> {
    let mut value = value.to_string();
    let mut from = 0;
    let mut rounds = 0;
    while let Some((start, inner, end)) = find_token(&value, symbol, from) {
        let key = value[inner..end].to_string();
        match hook(&key)? {
            Some(v) => {
                rounds += 1;
                if rounds > 64 {
                    return Err(format!(
                        "{symbol}({key}) keeps expanding (does it refer to itself?)"
                    ));
                }
                value = format!("{}{}{}", &value[..start], v, &value[end + 1..]);
                from = 0;
            }
            None => from = end + 1,
        }
    }
    Ok(value)
}

fn parse_i64_prefix(s: &str) -> i64 {
    // strtoll: optional sign, then digits; anything else stops it.
    let s = s.trim_start();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let n: i64 = digits
        .chars()
        .take_while(char::is_ascii_digit)
        .fold(0i64, |acc, d| {
            acc.saturating_mul(10)
                .saturating_add(i64::from(d as u8 - b'0'))
        });
    if neg {
        -n
    } else {
        n
    }
}

fn is_number(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// uWSGI's `uwsgi_manage_placeholder`: a key alone is looked up; with spaces it is a
/// pipeline of values (looked up or numbers) and operators.
pub(crate) fn placeholder(key: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    if !key.contains(' ') {
        return lookup(key);
    }
    #[derive(Clone, Copy)]
    enum Op {
        Concat,
        Add,
        Sub,
        Mul,
        Div,
    }
    let mut op = Op::Concat;
    let mut current: Option<String> = None;
    for token in key.split(' ').filter(|t| !t.is_empty()) {
        let value = match token {
            "+" | "-" | "*" | "/" => {
                op = match token {
                    "+" => Op::Add,
                    "-" => Op::Sub,
                    "*" => Op::Mul,
                    _ => Op::Div,
                };
                continue;
            }
            "++" | "--" => {
                if let Some(c) = &current {
                    let delta = if token == "++" { 1 } else { -1 };
                    current = Some((parse_i64_prefix(c) + delta).to_string());
                }
                op = Op::Concat;
                continue;
            }
            t if is_number(t) => t.to_string(),
            t => lookup(t).unwrap_or_default(),
        };
        let a = current.as_deref().map(parse_i64_prefix).unwrap_or(0);
        let b = parse_i64_prefix(&value);
        current = Some(match op {
            Op::Concat => format!("{}{}", current.as_deref().unwrap_or(""), value),
            Op::Add => a.wrapping_add(b).to_string(),
            Op::Sub => a.wrapping_sub(b).to_string(),
            Op::Mul => a.wrapping_mul(b).to_string(),
            Op::Div => if b == 0 { 0 } else { a / b }.to_string(),
        });
        op = Op::Concat;
    }
    current
}

/// Every key a value refers to with `%(...)` (each word of a pipeline that is not a number
/// or an operator): such keys are placeholders and draw no unknown-option warning.
pub(crate) fn referenced_keys(value: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut from = 0;
    while let Some((_, inner, end)) = find_token(value, '%', from) {
        for word in value[inner..end].split(' ') {
            if !word.is_empty()
                && !is_number(word)
                && !matches!(word, "+" | "-" | "*" | "/" | "++" | "--")
            {
                keys.push(word.to_string());
            }
        }
        from = end + 1;
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_variables_of_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let dir = std::fs::canonicalize(dir.path()).unwrap();
        let file = dir.join("site.ini");
        std::fs::write(&file, "").unwrap();
        let name = format!("{}:prod", file.display());
        let m = Magic::for_file(&name, Path::new("/work"), None);
        let d = format!("{}/", dir.display());
        assert_eq!(m.apply("%d"), d);
        assert_eq!(m.apply("%p"), file.display().to_string());
        assert_eq!(m.apply("%s %n %e %x"), "site.ini site ini prod");
        assert_eq!(m.apply("%c"), dir.file_name().unwrap().to_str().unwrap());
        assert_eq!(m.apply("%v"), "/work");
        assert_eq!(m.apply("100%% %(keep) %q"), "100% %(keep) ");
        assert_eq!(
            m.apply("%k"),
            std::thread::available_parallelism()
                .unwrap()
                .get()
                .to_string()
        );
        assert_eq!(
            m.apply("%h"),
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .unwrap()
                .trim()
        );
        assert_eq!(m.apply("%D"), d, "the first file's %d is %D");
        let second = Magic::for_file("/etc/other.ini", Path::new("/"), Some(&m));
        assert_eq!(second.apply("%d|%D|%N"), format!("/etc/|{d}|site"));
        assert_eq!(second.apply("%0"), "etc");
    }

    #[test]
    fn uwsgi_eats_unknown_magic_letters() {
        let m = Magic::default();
        // modoboa's `%uwsgi_plugin` installer markers meet `%u` (uid) first.
        assert_eq!(m.apply("{% if x %}"), "{if x ");
        assert_eq!(m.apply("50%"), "50%");
    }

    #[test]
    fn passes_substitute_and_rescan() {
        let env = |k: &str| {
            Ok(match k {
                "PORT" => Some("8000".to_string()),
                "NEST" => Some("$(PORT)".to_string()),
                _ => None,
            })
        };
        assert_eq!(pass(":$(PORT)", '$', env).unwrap(), ":8000");
        assert_eq!(pass("$(NEST)/$(NOPE)", '$', env).unwrap(), "8000/$(NOPE)");
        let looping = pass("%(a)", '%', |_| Ok(Some("%(a)".into()))).unwrap_err();
        assert!(looping.contains("refer to itself"), "{looping}");
    }

    #[test]
    fn placeholder_pipelines() {
        let lookup = |k: &str| match k {
            "processes" => Some("2".to_string()),
            "cpu_cores" => Some("8".to_string()),
            "base" => Some("/srv".to_string()),
            _ => None,
        };
        assert_eq!(placeholder("base", &lookup).as_deref(), Some("/srv"));
        assert_eq!(placeholder("nope", &lookup), None);
        assert_eq!(
            placeholder("processes cpu_cores + 2", &lookup).as_deref(),
            Some("30")
        );
        assert_eq!(placeholder("4 * 2", &lookup).as_deref(), Some("8"));
        assert_eq!(placeholder("9 / 0", &lookup).as_deref(), Some("0"));
        assert_eq!(placeholder("processes - 5", &lookup).as_deref(), Some("-3"));
        assert_eq!(placeholder("processes ++", &lookup).as_deref(), Some("3"));
        assert_eq!(
            referenced_keys("%(base)/x %(%k * 2) %(a + b)"),
            ["base", "%k", "a", "b"]
        );
    }
}
