//! Process titles (`auto-procname` and the `procname*` options), as uWSGI sets them on
//! Linux: the title is written over the memory that holds the process's command-line
//! arguments, which is what `/proc/PID/cmdline`, `ps` and `pgrep -f` show. A title longer
//! than the original command line is cut to its length (uWSGI also takes the environment's
//! memory, which it moves away first; ruwsgi leaves the environment alone).
//!
//! The original arguments are copied first ([`remember`], at the start of [`crate::run`]): a
//! reload re-executes the binary with them ([`original_args`]), and a forked child puts them
//! back ([`restore`]) before it takes its own title, so nothing reads the master's title as
//! arguments.

use std::ffi::OsString;
use std::sync::OnceLock;

use crate::options::Options;

/// The arguments' memory: where it starts, how long it is, and what it held at start.
struct Area {
    start: usize,
    original: Vec<u8>,
}

static ARGS: OnceLock<Vec<OsString>> = OnceLock::new();
static AREA: OnceLock<Option<Area>> = OnceLock::new();

/// Copies the command line and finds its memory, once, before any title is set.
pub(crate) fn remember() {
    ARGS.get_or_init(|| std::env::args_os().collect());
    AREA.get_or_init(read_area);
}

/// The arguments the process started with, whatever its title says now.
pub(crate) fn original_args() -> &'static [OsString] {
    remember();
    ARGS.get().map(Vec::as_slice).unwrap_or_default()
}

/// `arg_start` and `arg_end` of `/proc/self/stat` (fields 48 and 49, proc(5)): the memory
/// of the argument strings, copied as it is now. `None` where they cannot be read.
fn read_area() -> Option<Area> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields counted from 3 on, after the command name, which may hold spaces and ")".
    let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    if end <= start {
        return None;
    }
    // SAFETY: the kernel reports [start, end) as this process's argument strings, on the
    // initial stack, mapped and readable for the process's whole life.
    let original = unsafe { std::slice::from_raw_parts(start as *const u8, end - start) };
    Some(Area {
        start,
        original: original.to_vec(),
    })
}

/// Writes `bytes` over the arguments' memory, cut to its length less one, the rest zeroed.
fn write(area: &Area, bytes: &[u8]) {
    let len = area.original.len();
    let n = bytes.len().min(len - 1);
    // SAFETY: the memory is the process's own argument strings (see `read_area`), writable
    // like the rest of the initial stack. No Rust reference points into it: the standard
    // library reads it only when asked for the arguments, which this crate copied first
    // (`remember`) and takes from the copy.
    unsafe {
        let p = area.start as *mut u8;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p, n);
        std::ptr::write_bytes(p.add(n), 0, len - n);
    }
}

/// Sets the title; nothing where the arguments' memory is unknown.
fn set(title: &str) {
    if let Some(Some(area)) = AREA.get() {
        write(area, title.as_bytes());
    }
}

/// Puts the original arguments back (a child forked by a master that has a title).
pub(crate) fn restore() {
    if let Some(Some(area)) = AREA.get() {
        let original = area.original.clone();
        write(area, &original);
    }
}

/// Which process a title is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role {
    Master,
    Worker(usize),
    Mule(usize),
    Spooler,
}

/// Sets the title of a `role` process as uWSGI names it ("uWSGI worker 1"; `procname`,
/// `procname-master`), between `procname-prefix` (or `procname-prefix-spaced` and a space)
/// and `procname-append`. Any of those options turns titles on, as in uWSGI; without them
/// and without `auto-procname` nothing changes.
pub(crate) fn name(opts: &Options, role: Role) {
    if let Some(title) = title(opts, role) {
        set(&title);
    }
}

fn title(opts: &Options, role: Role) -> Option<String> {
    let prefix = match (&opts.procname_prefix_spaced, &opts.procname_prefix) {
        (Some(spaced), _) => Some(format!("{spaced} ")),
        (None, prefix) => prefix.clone(),
    };
    let on = opts.auto_procname
        || prefix.is_some()
        || opts.procname.is_some()
        || opts.procname_append.is_some()
        || opts.procname_master.is_some();
    if !on {
        return None;
    }
    let own = match role {
        Role::Master => opts.procname_master.clone().or(opts.procname.clone()),
        _ => opts.procname.clone(),
    };
    let name = own.unwrap_or_else(|| match role {
        Role::Master => "uWSGI master".to_string(),
        Role::Worker(id) => format!("uWSGI worker {id}"),
        Role::Mule(id) => format!("uWSGI mule {id}"),
        Role::Spooler => "uWSGI spooler".to_string(),
    });
    Some(format!(
        "{}{name}{}",
        prefix.unwrap_or_default(),
        opts.procname_append.as_deref().unwrap_or("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_follow_uwsgis_options() {
        let mut opts = Options::default();
        assert_eq!(title(&opts, Role::Master), None, "off by default");
        opts.auto_procname = true;
        assert_eq!(title(&opts, Role::Master).unwrap(), "uWSGI master");
        assert_eq!(title(&opts, Role::Worker(2)).unwrap(), "uWSGI worker 2");
        opts.auto_procname = false;
        opts.procname_prefix_spaced = Some("zulip".into());
        assert_eq!(title(&opts, Role::Spooler).unwrap(), "zulip uWSGI spooler");
        opts.procname = Some("app".into());
        opts.procname_master = Some("boss".into());
        opts.procname_append = Some("!".into());
        assert_eq!(title(&opts, Role::Mule(1)).unwrap(), "zulip app!");
        assert_eq!(title(&opts, Role::Master).unwrap(), "zulip boss!");
    }

    #[test]
    fn the_arguments_memory_is_found_and_restored() {
        remember();
        let area = AREA
            .get()
            .unwrap()
            .as_ref()
            .expect("/proc/self/stat has arg_start");
        let cmdline = std::fs::read("/proc/self/cmdline").unwrap();
        assert_eq!(cmdline, area.original);
        assert!(!original_args().is_empty());
    }
}
