//! `ksm N`: Linux's same-page merging (KSM) for the server's memory, as uWSGI's `ksm`
//! does it. Every N requests of a worker (and every N seconds in the master), the process
//! reads `/proc/self/maps` and, when its mappings changed since the last look, marks each
//! of them `MADV_MERGEABLE`, so the kernel's `ksmd` (when `/sys/kernel/mm/ksm/run` is 1)
//! may merge identical pages across the workers: Python heaps that hold the same objects
//! after a fork and a few requests. uWSGI's `ksm` alone means N = 1.
//!
//! The kernel refuses some mappings (shared ones, `[vsyscall]`): they are skipped; only a
//! look at which every mapping is refused logs a warning (no KSM in this kernel).

/// The mapper of one process.
#[derive(Debug)]
pub(crate) struct Ksm {
    every: u64,
    count: u64,
    /// `/proc/self/maps` as last read (unchanged mappings are not marked again).
    last: Vec<u8>,
    warned: bool,
}

impl Ksm {
    /// Marks the mappings at every `every`th call of [`Ksm::tick`]; `None` for 0 (off).
    pub(crate) fn every(every: u64) -> Option<Ksm> {
        (every > 0).then_some(Ksm {
            every,
            count: 0,
            last: Vec::new(),
            warned: false,
        })
    }

    /// One request done (a worker) or one second gone (the master).
    pub(crate) fn tick(&mut self) {
        self.count += 1;
        if self.count % self.every == 0 {
            self.map();
        }
    }

    /// Marks every mapping mergeable if the mappings changed since the last look.
    fn map(&mut self) {
        let maps = match std::fs::read("/proc/self/maps") {
            Ok(maps) => maps,
            Err(e) => {
                if !self.warned {
                    log::warn!("[ksm] cannot read /proc/self/maps: {e}");
                    self.warned = true;
                }
                return;
            }
        };
        if maps == self.last {
            return;
        }
        let (mut lines, mut refused) = (0, 0);
        for (start, end) in ranges(&maps) {
            lines += 1;
            if !mark_mergeable(start, end) {
                refused += 1;
            }
        }
        if lines > 0 && refused == lines && !self.warned {
            log::warn!(
                "[ksm] the kernel refuses MADV_MERGEABLE for every mapping: no page is shared"
            );
            self.warned = true;
        }
        self.last = maps;
    }
}

/// The address ranges of `/proc/self/maps` lines (`start-end perms ...`, in hex).
fn ranges(maps: &[u8]) -> impl Iterator<Item = (usize, usize)> + '_ {
    maps.split(|&b| b == b'\n').filter_map(|line| {
        let line = std::str::from_utf8(line).ok()?;
        let range = line.split(' ').next()?;
        let (start, end) = range.split_once('-')?;
        let start = usize::from_str_radix(start, 16).ok()?;
        let end = usize::from_str_radix(end, 16).ok()?;
        (end > start).then_some((start, end))
    })
}

/// `madvise(MADV_MERGEABLE)` over `[start, end)`; false when the kernel refuses it.
fn mark_mergeable(start: usize, end: usize) -> bool {
    // SAFETY: MADV_MERGEABLE changes neither the contents nor the validity of any page (it
    // only lets ksmd merge identical anonymous pages copy-on-write); the range is one the
    // kernel just listed as mapped, and a stale one fails with ENOMEM, harmlessly.
    unsafe {
        libc::madvise(
            start as *mut libc::c_void,
            end - start,
            libc::MADV_MERGEABLE,
        ) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_lines_give_their_ranges() {
        let maps = b"55d0c6a00000-55d0c6a21000 rw-p 00000000 00:00 0   [heap]\n\
                     7ffd5c1d0000-7ffd5c1f1000 rw-p 00000000 00:00 0   [stack]\nbad line\n";
        let got: Vec<_> = ranges(maps).collect();
        assert_eq!(
            got,
            [
                (0x55d0c6a00000, 0x55d0c6a21000),
                (0x7ffd5c1d0000, 0x7ffd5c1f1000)
            ]
        );
    }

    #[test]
    fn this_process_heap_becomes_mergeable() {
        let mut ksm = Ksm::every(2).unwrap();
        let big = vec![7u8; 1 << 20];
        ksm.tick();
        ksm.tick();
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let flags: Vec<&str> = smaps
            .lines()
            .filter(|l| l.starts_with("VmFlags:"))
            .collect();
        assert!(
            flags
                .iter()
                .any(|l| l.split_whitespace().any(|f| f == "mg")),
            "{flags:?}"
        );
        drop(big);
        assert!(Ksm::every(0).is_none());
    }
}
