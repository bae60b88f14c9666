//! The caches: `cache2 name=NAME,items=N[,blocksize=B][,keysize=K]` (repeatable) and the
//! legacy `cache N` (the cache named `default`, its values up to `cache-blocksize` bytes),
//! as uWSGI reads them. The master creates them before the app is imported (an app may
//! fill a cache at import), in uWSGI's order — the legacy one first, then each `cache2` —
//! so the first is the one `uwsgi.cache_get(key)` and its kin use when no name is given.
//! Every worker and mule inherits them through `fork`; a reload hands each one's `memfd`
//! to the re-executed master, which adopts it by name when its geometry is unchanged
//! ([`setup`]).

use std::os::fd::RawFd;
use std::sync::Arc;

use ruwsgi_shm::{Cache, DEFAULT_BLOCKSIZE, DEFAULT_KEYSIZE};

use crate::error::{Error, ErrorKind};

/// One cache to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheSpec {
    pub(crate) name: String,
    pub(crate) items: usize,
    pub(crate) blocksize: usize,
    pub(crate) keysize: usize,
}

/// The name uWSGI gives the cache of the legacy `cache` option.
const LEGACY_NAME: &str = "default";

/// uWSGI's `cache2` keys ruwsgi reads no meaning from: they are accepted with a warning.
const UNSUPPORTED: &[&str] = &[
    "blocks",
    "hash",
    "hashsize",
    "hash_size",
    "store",
    "store_sync",
    "storesync",
    "store_delete",
    "storedelete",
    "node",
    "nodes",
    "sync",
    "udp",
    "udp_servers",
    "udp_server",
    "udpservers",
    "udpserver",
    "bitmap",
    "lastmod",
    "math_initial",
    "ignore_full",
    "purge_lru",
    "lru",
    "sweep_on_full",
    "clear_on_full",
    "no_expire",
];

/// The caches the options ask for, in uWSGI's order: `cache N` (named `default`) first,
/// then each `cache2`. A name given twice keeps its first cache (the one uWSGI would find
/// by that name), with a warning.
pub(crate) fn from_options(
    cache: u64,
    cache_blocksize: u64,
    cache2: &[String],
) -> Result<Vec<CacheSpec>, String> {
    let mut specs = Vec::new();
    if cache > 0 {
        specs.push(CacheSpec {
            name: LEGACY_NAME.to_string(),
            items: usize::try_from(cache).map_err(|_| format!("cache {cache}: too many items"))?,
            blocksize: match cache_blocksize {
                0 => DEFAULT_BLOCKSIZE,
                n => usize::try_from(n).map_err(|_| format!("cache-blocksize {n}: too large"))?,
            },
            keysize: DEFAULT_KEYSIZE,
        });
    }
    for value in cache2 {
        let spec = parse_cache2(value).map_err(|e| format!("cache2 {value:?}: {e}"))?;
        if specs.iter().any(|s: &CacheSpec| s.name == spec.name) {
            log::warn!(
                "cache2 {value:?}: a cache named {:?} is defined already; this one is ignored",
                spec.name
            );
            continue;
        }
        specs.push(spec);
    }
    Ok(specs)
}

/// One `cache2` value: `name` and `items` (or `max_items`, `maxitems`) are required,
/// `blocksize` and `keysize` (or `key_size`) have uWSGI's defaults (65536 and 2048);
/// `lazy_expire` (or `lazy`) is what ruwsgi does anyway; other keys of uWSGI's warn.
fn parse_cache2(value: &str) -> Result<CacheSpec, String> {
    let mut name = None;
    let mut items = None;
    let mut blocksize = DEFAULT_BLOCKSIZE;
    let mut keysize = DEFAULT_KEYSIZE;
    let number = |key: &str, v: &str| -> Result<usize, String> {
        v.parse::<usize>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("{key}={v} is not a number above 0"))
    };
    for pair in value.split(',').filter(|p| !p.trim().is_empty()) {
        let (key, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not key=value"))?;
        let (key, v) = (key.trim(), v.trim());
        match key {
            "name" => name = Some(v.to_string()),
            "items" | "max_items" | "maxitems" => items = Some(number(key, v)?),
            "blocksize" => blocksize = number(key, v)?,
            "keysize" | "key_size" => keysize = number(key, v)?,
            "lazy_expire" | "lazy" => {}
            k if UNSUPPORTED.contains(&k) => log::warn!(
                "cache2 {value:?}: {k} is not supported by ruwsgi; ignored (see the README)"
            ),
            k => log::warn!("cache2 {value:?}: unknown key {k}; ignored"),
        }
    }
    let name = name
        .filter(|n| !n.is_empty())
        .ok_or("name= is missing (every cache2 needs a name)")?;
    let items = items.ok_or("items= is missing (how many values the cache holds)")?;
    if keysize > ruwsgi_shm::MAX_KEYSIZE {
        return Err(format!(
            "keysize={keysize} is above {}",
            ruwsgi_shm::MAX_KEYSIZE
        ));
    }
    Ok(CacheSpec {
        name,
        items,
        blocksize,
        keysize,
    })
}

/// Creates the caches `specs` describe, or adopts those a previous image handed over
/// (`inherited`: name and fd) when their geometry is the configured one; a cache whose
/// geometry changed is replaced by a new, empty one (logged). The inherited fds are not
/// closed here (the master closes every handed-over fd once it runs).
pub(crate) fn setup(
    specs: &[CacheSpec],
    inherited: &[(String, RawFd)],
) -> Result<Vec<Arc<Cache>>, Error> {
    specs
        .iter()
        .map(|spec| {
            let fd = inherited
                .iter()
                .find(|(name, _)| *name == spec.name)
                .map(|(_, fd)| *fd);
            if let Some(cache) = fd.and_then(|fd| adopt(spec, fd)) {
                return Ok(Arc::new(cache));
            }
            let cache = Cache::create(&spec.name, spec.items, spec.blocksize, spec.keysize)
                .map_err(|e| {
                    Error::with(
                        ErrorKind::Os(format!("cannot set up cache {:?}", spec.name)),
                        e,
                    )
                })?;
            log::info!(
                "cache {:?} created: {} items of up to {} bytes, keys up to {} bytes ({} of \
                 memory reserved, used as items are written)",
                spec.name,
                spec.items,
                spec.blocksize,
                spec.keysize,
                size(spec.items.saturating_mul(spec.blocksize + spec.keysize))
            );
            Ok(Arc::new(cache))
        })
        .collect()
}

/// `bytes` for a log line: in KiB below a MiB, else in MiB.
fn size(bytes: usize) -> String {
    match bytes {
        b if b < 1 << 20 => format!("{} KiB", b.div_ceil(1 << 10)),
        b => format!("{} MiB", b.div_ceil(1 << 20)),
    }
}

/// The handed-over cache `fd` for `spec`, if it holds `spec`'s geometry.
fn adopt(spec: &CacheSpec, fd: RawFd) -> Option<Cache> {
    let fd = crate::reexec::adopt(fd)
        .map_err(|e| log::warn!("cannot take over cache {:?}: {e}", spec.name))
        .ok()?;
    match Cache::from_fd(fd, &spec.name, spec.items, spec.blocksize, spec.keysize) {
        Ok(cache) => {
            log::info!(
                "cache {:?} taken over from the previous image ({} items)",
                spec.name,
                cache.stats().items
            );
            Some(cache)
        }
        Err(e) => {
            log::warn!(
                "cache {:?} is not taken over from the previous image, a new empty one \
                 replaces it: {e}",
                spec.name
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, items: usize, blocksize: usize, keysize: usize) -> CacheSpec {
        CacheSpec {
            name: name.into(),
            items,
            blocksize,
            keysize,
        }
    }

    #[test]
    fn the_legacy_cache_comes_first_then_each_cache2() {
        let specs = from_options(
            10,
            0,
            &[
                "name=pages,items=100,blocksize=4096".into(),
                "name = small , maxitems=5, keysize=64, lazy=1, store=/tmp/x".into(),
                "name=pages,items=7".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            specs,
            [
                spec("default", 10, 65536, 2048),
                spec("pages", 100, 4096, 2048),
                spec("small", 5, 65536, 64),
            ]
        );
        assert_eq!(
            from_options(3, 512, &[]).unwrap(),
            [spec("default", 3, 512, 2048)]
        );
        assert!(from_options(0, 65536, &[]).unwrap().is_empty());
    }

    #[test]
    fn a_cache2_without_name_or_items_is_refused() {
        for (value, why) in [
            ("items=10", "name= is missing"),
            ("name=x", "items= is missing"),
            ("name=x,items=0", "items=0 is not a number above 0"),
            ("name=x,items=ten", "items=ten is not a number"),
            ("name=x,items=1,blocksize=0", "blocksize=0"),
            (
                "name=x,items=1,keysize=65536",
                "keysize=65536 is above 65535",
            ),
            ("name=x,items", "\"items\" is not key=value"),
        ] {
            let err = from_options(0, 0, &[value.into()]).unwrap_err();
            assert!(err.contains(why), "{value}: {err}");
            assert!(err.starts_with("cache2 "), "{err}");
        }
    }

    #[test]
    fn setup_adopts_a_cache_of_the_same_geometry_and_replaces_a_changed_one() {
        let first = setup(&[spec("a", 4, 8, 16), spec("b", 4, 8, 16)], &[]).unwrap();
        first[0].set(b"k", b"in a", 0).unwrap();
        first[1].set(b"k", b"in b", 0).unwrap();
        let handed: Vec<(String, RawFd)> = first
            .iter()
            .map(|c| (c.name().to_string(), c.keep_across_exec().unwrap()))
            .collect();
        let again = setup(
            &[spec("b", 5, 8, 16), spec("a", 4, 8, 16), spec("c", 1, 1, 1)],
            &handed,
        )
        .unwrap();
        let names: Vec<&str> = again.iter().map(|c| c.name()).collect();
        assert_eq!(names, ["b", "a", "c"], "in the configured order");
        assert_eq!(again[1].get(b"k").as_deref(), Some(&b"in a"[..]), "adopted");
        assert_eq!(again[0].get(b"k"), None, "b changed: a new cache");
        assert_eq!(again[0].geometry().items, 5);
    }
}
