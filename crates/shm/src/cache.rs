//! uWSGI's cache (`cache2`, the legacy `cache`, `uwsgi.cache_get` and its kin): a fixed
//! number of items, each a key and a value of at most one block, with an expiry, in one
//! shared `memfd` mapping per cache.
//!
//! ```text
//! | Header (2 lines) | lock (1 line) | buckets: u32 × buckets | ItemMeta × items |
//! | keys: keysize × items | values: blocksize × items |
//! ```
//!
//! Every part starts on a cache line (the mapping is page-aligned). Item `i` (1-based: 0
//! means "none" in every link) owns `ItemMeta` `i - 1`, key `i - 1` and block `i - 1`.
//!
//! - The **header** records the geometry (items, blocksize, keysize, buckets), the length
//!   and the hash seed, so a re-executed master adopts the cache ([`Cache::from_fd`]) or
//!   maps a new one when the configuration changed it; then the head of the free list, the
//!   number of live items and the hit, miss and full counters.
//! - The **lock** is a process-shared, robust `pthread_mutex_t`. Every read and write of
//!   the buckets, the item metadata, the keys and the values happens under it. Robust: a
//!   process killed while it holds the lock (SIGKILL, harakiri, the OOM killer) does not
//!   wedge the cache; the next process to lock gets `EOWNERDEAD`, marks the mutex
//!   consistent and rebuilds the index from the items' states before it goes on (an item
//!   the dead process was writing is dropped). A futex lock of our own could not tell that
//!   its holder died: the kernel releases a dead thread's robust list, which glibc
//!   registers for its own mutexes only.
//! - The **buckets** are the hash index: each holds the first item of a chain linked by
//!   `ItemMeta::next`. Their number is a power of two of at least `items`; the hash is
//!   FNV-1a with a per-cache random seed, finished by a mixer, so which keys share a chain
//!   is not known in advance (a chain is at most `items` long in any case).
//! - **ItemMeta**: the item's state (free, being written, live), key and value lengths,
//!   hash, expiry (microseconds since the epoch, 0 for never) and the next item of its
//!   chain, or of the free list while free.
//!
//! The metadata words are atomics (any bytes are valid, and they are only read under the
//! lock, so relaxed order suffices: the mutex orders them); keys and values are plain bytes
//! copied under the lock. Every index and length read from the mapping is checked against
//! the geometry before use, so even a corrupted cache cannot make a process read or write
//! outside it.
//!
//! Semantics are uWSGI's: [`Cache::set`] does not replace a live key, [`Cache::update`]
//! does; an empty key or value, a key longer than `keysize` and a value larger than
//! `blocksize` are refused. An item is gone the moment it expires (uWSGI's sweeper thread
//! removes expired items every few seconds and serves them until then); expired items are
//! freed when looked up and when the cache is full.

use std::ffi::CString;
use std::fmt;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::ptr;
use std::slice;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::clock::now_micros;
use crate::error::{Error, ErrorKind};
use crate::geometry::CacheGeometry;
use crate::mapping::Mapping;
use crate::robust;

const MAGIC: u64 = 0x7275_7773_6769_4341; // "ruwsgiCA"
/// Bumped whenever the memory layout of a cache changes, so a re-exec'd master of another
/// build maps a new cache instead of misreading an old one.
const VERSION: u64 = 1;

/// The longest key by default (uWSGI's `keysize` default).
pub const DEFAULT_KEYSIZE: usize = 2048;
/// The largest value by default (uWSGI's `blocksize` and `cache-blocksize` default).
pub const DEFAULT_BLOCKSIZE: usize = 65536;
/// The most items one cache holds.
pub const MAX_ITEMS: usize = i32::MAX as usize;
/// The longest key a cache may be configured for (uWSGI's limit).
pub const MAX_KEYSIZE: usize = 65535;

const LINE: usize = 64;
const MICROS: u64 = 1_000_000;

/// Where each part of a cache lies, in bytes from the start of the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Offsets {
    buckets: usize,
    bucket_count: usize,
    meta: usize,
    keys: usize,
    values: usize,
    len: usize,
}

impl CacheGeometry {
    /// The parts' offsets; `None` when the geometry is out of range (see
    /// [`ErrorKind::CacheSize`]).
    fn offsets(&self) -> Option<Offsets> {
        let ok = (1..=MAX_ITEMS).contains(&self.items)
            && (1..=u32::MAX as usize).contains(&self.blocksize)
            && (1..=MAX_KEYSIZE).contains(&self.keysize);
        if !ok {
            return None;
        }
        let line = |n: usize| n.checked_next_multiple_of(LINE);
        let bucket_count = self.items.next_power_of_two().max(16);
        let buckets = mem::size_of::<Header>() + LINE;
        let meta = buckets.checked_add(line(bucket_count.checked_mul(4)?)?)?;
        let keys = meta.checked_add(line(self.items.checked_mul(mem::size_of::<ItemMeta>())?)?)?;
        let values = keys.checked_add(line(self.items.checked_mul(self.keysize)?)?)?;
        let len = values.checked_add(self.items.checked_mul(self.blocksize)?)?;
        (len <= isize::MAX as usize).then_some(Offsets {
            buckets,
            bucket_count,
            meta,
            keys,
            values,
            len,
        })
    }
}

/// The first two cache lines of a cache.
#[repr(C, align(64))]
struct Header {
    magic: AtomicU64,
    version: AtomicU64,
    items: AtomicU64,
    blocksize: AtomicU64,
    keysize: AtomicU64,
    buckets: AtomicU64,
    len: AtomicU64,
    seed: AtomicU64,
    // The second line, guarded by the lock.
    free_head: AtomicU64,
    count: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    full: AtomicU64,
    _pad: [AtomicU64; 3],
}

/// One item's metadata (see the module doc).
#[repr(C)]
struct ItemMeta {
    state: AtomicU32,
    key_len: AtomicU32,
    val_len: AtomicU32,
    next: AtomicU32,
    hash: AtomicU64,
    expires: AtomicU64,
}

const FREE: u32 = 0;
const WRITING: u32 = 1;
const LIVE: u32 = 2;

// The lock's line holds the mutex.
const _: () = assert!(mem::size_of::<libc::pthread_mutex_t>() <= LINE);
const _: () = assert!(mem::size_of::<Header>() == 2 * LINE);

/// Why a value was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheError {
    /// An empty key (uWSGI refuses it too).
    EmptyKey,
    /// An empty value (uWSGI refuses it too).
    EmptyValue,
    /// A key longer than the cache's `keysize`.
    KeyTooLong {
        /// The key's length.
        len: usize,
        /// The cache's `keysize`.
        max: usize,
    },
    /// A value larger than the cache's `blocksize`.
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The cache's `blocksize`.
        max: usize,
    },
    /// Every item holds a live value.
    Full,
    /// The lock could not be taken (logged).
    Lock,
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::EmptyKey => f.write_str("an empty key cannot be stored"),
            CacheError::EmptyValue => f.write_str("an empty value cannot be stored"),
            CacheError::KeyTooLong { len, max } => {
                write!(f, "a key of {len} bytes is longer than the keysize ({max})")
            }
            CacheError::ValueTooLarge { len, max } => write!(
                f,
                "a value of {len} bytes is larger than the blocksize ({max})"
            ),
            CacheError::Full => f.write_str("the cache is full"),
            CacheError::Lock => f.write_str("the cache's lock could not be taken"),
        }
    }
}

impl std::error::Error for CacheError {}

/// A cache's counters (see [`Cache::stats`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Live items (expired ones not yet freed included).
    pub items: u64,
    /// Lookups that found a value.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Values refused because the cache was full.
    pub full: u64,
}

/// One shared cache (see the module doc). The master creates it before forking, so every
/// worker and mule shares it, and passes it on to the program it re-execs.
///
/// `Send + Sync`: the mapping is only read and written under its process-shared lock.
#[derive(Debug)]
pub struct Cache {
    name: String,
    map: Mapping,
    geometry: CacheGeometry,
    offsets: Offsets,
    seed: u64,
}

// SAFETY: the mapping is owned by the value; its memory is only touched through atomics and
// under the process-shared lock.
unsafe impl Send for Cache {}
// SAFETY: as for Send: every access to shared bytes takes the lock.
unsafe impl Sync for Cache {}

impl Cache {
    /// Maps a new, empty cache named `name` for `items` values of at most `blocksize` bytes
    /// under keys of at most `keysize` bytes (close-on-exec until
    /// [`Cache::keep_across_exec`]). The memory is reserved, not touched: pages are
    /// allocated as items are written.
    pub fn create(
        name: &str,
        items: usize,
        blocksize: usize,
        keysize: usize,
    ) -> Result<Cache, Error> {
        let geometry = CacheGeometry {
            items,
            blocksize,
            keysize,
        };
        let offsets = geometry.offsets().ok_or(Error::new(ErrorKind::CacheSize))?;
        let memfd_name = CString::new(format!("ruwsgi-cache-{name}"))
            .unwrap_or_else(|_| CString::from(c"ruwsgi-cache"));
        let cache = Cache {
            name: name.to_string(),
            map: Mapping::create(&memfd_name, offsets.len)?,
            geometry,
            offsets,
            seed: random_seed(),
        };
        // SAFETY: the lock's line lies in the new mapping, which no other process or thread
        // sees yet.
        unsafe { robust::init(cache.mutex()) }.map_err(|e| Error::os(ErrorKind::CacheLock, e))?;
        let header = cache.header();
        let store = |word: &AtomicU64, value: usize| word.store(value as u64, Ordering::Relaxed);
        store(&header.items, items);
        store(&header.blocksize, blocksize);
        store(&header.keysize, keysize);
        store(&header.buckets, offsets.bucket_count);
        store(&header.len, offsets.len);
        header.seed.store(cache.seed, Ordering::Relaxed);
        header.version.store(VERSION, Ordering::Relaxed);
        // Nobody else sees it: no lock needed to chain the free list.
        cache.rebuild();
        header.magic.store(MAGIC, Ordering::Release);
        Ok(cache)
    }

    /// Maps the cache an earlier master passed on across `exec`, if it holds the geometry
    /// asked for: an [`ErrorKind::CacheGeometry`] error says the configuration changed it,
    /// and the caller maps a new one with [`Cache::create`]. The fd is made close-on-exec
    /// again, so commands the new master runs do not inherit it.
    pub fn from_fd(
        fd: OwnedFd,
        name: &str,
        items: usize,
        blocksize: usize,
        keysize: usize,
    ) -> Result<Cache, Error> {
        let not_a_cache = || Error::new(ErrorKind::NotACache);
        let map = Mapping::open(fd).map_err(|e| match e.kind() {
            ErrorKind::NotABoard => not_a_cache(),
            _ => e,
        })?;
        if map.len() < mem::size_of::<Header>() + LINE {
            return Err(not_a_cache());
        }
        // SAFETY: the mapping is at least one header long (checked above), page-aligned,
        // and any bytes are valid atomics; the reference lives no longer than `map`.
        let header = unsafe { map.base().cast::<Header>().as_ref() };
        let load = |word: &AtomicU64| word.load(Ordering::Relaxed);
        if header.magic.load(Ordering::Acquire) != MAGIC || load(&header.version) != VERSION {
            return Err(not_a_cache());
        }
        let found = CacheGeometry {
            items: load(&header.items) as usize,
            blocksize: load(&header.blocksize) as usize,
            keysize: load(&header.keysize) as usize,
        };
        let wanted = CacheGeometry {
            items,
            blocksize,
            keysize,
        };
        if found != wanted {
            return Err(Error::new(ErrorKind::CacheGeometry { found, wanted }));
        }
        let offsets = wanted.offsets().ok_or(Error::new(ErrorKind::CacheSize))?;
        if load(&header.len) != map.len() as u64
            || offsets.len != map.len()
            || load(&header.buckets) != offsets.bucket_count as u64
        {
            return Err(not_a_cache());
        }
        map.set_close_on_exec(true)?;
        Ok(Cache {
            name: name.to_string(),
            seed: load(&header.seed),
            map,
            geometry: wanted,
            offsets,
        })
    }

    /// The cache's name (`cache2 name=...`; `default` for the legacy `cache`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the cache is sized for.
    pub fn geometry(&self) -> CacheGeometry {
        self.geometry
    }

    /// The `memfd` behind the cache.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.map.fd()
    }

    /// Clears `FD_CLOEXEC` on the cache's `memfd` so the program the master is about to
    /// `exec` inherits it, and returns its number (to tell that program, which adopts it
    /// with [`Cache::from_fd`]).
    pub fn keep_across_exec(&self) -> Result<RawFd, Error> {
        self.map.set_close_on_exec(false)?;
        Ok(self.map.fd().as_raw_fd())
    }

    /// The value under `key`, if a live one is there (`uwsgi.cache_get`).
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get_at(key, now_micros())
    }

    /// Whether a live value is under `key` (`uwsgi.cache_exists`).
    pub fn exists(&self, key: &[u8]) -> bool {
        self.exists_at(key, now_micros())
    }

    /// Stores `value` under `key` unless a live value is there already (`uwsgi.cache_set`):
    /// `Ok(false)` then, and nothing changes. It expires `expires` seconds from now (0:
    /// never).
    pub fn set(&self, key: &[u8], value: &[u8], expires: u64) -> Result<bool, CacheError> {
        self.store_at(key, value, expires, false, now_micros())
    }

    /// Stores `value` under `key`, replacing a live value and its expiry
    /// (`uwsgi.cache_update`); `expires` as for [`Cache::set`].
    pub fn update(&self, key: &[u8], value: &[u8], expires: u64) -> Result<(), CacheError> {
        self.store_at(key, value, expires, true, now_micros())
            .map(drop)
    }

    /// Removes the value under `key`; whether a live one was there (`uwsgi.cache_del`).
    pub fn del(&self, key: &[u8]) -> bool {
        self.del_at(key, now_micros())
    }

    /// Removes every value (`uwsgi.cache_clear`).
    pub fn clear(&self) {
        let Some(_locked) = self.lock() else { return };
        for i in 1..=self.geometry.items as u32 {
            self.meta(i).state.store(FREE, Ordering::Relaxed);
        }
        self.rebuild();
    }

    /// The cache's counters.
    pub fn stats(&self) -> CacheStats {
        let Some(_locked) = self.lock() else {
            return CacheStats::default();
        };
        let h = self.header();
        let load = |word: &AtomicU64| word.load(Ordering::Relaxed);
        CacheStats {
            items: load(&h.count),
            hits: load(&h.hits),
            misses: load(&h.misses),
            full: load(&h.full),
        }
    }

    fn get_at(&self, key: &[u8], now: u64) -> Option<Vec<u8>> {
        let _locked = self.lock()?;
        let header = self.header();
        let Some((i, _)) = self.find(key, now) else {
            header.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        header.hits.fetch_add(1, Ordering::Relaxed);
        let len = self.meta(i).val_len.load(Ordering::Relaxed) as usize;
        // `find` checked the length against the blocksize. SAFETY: the block of item `i`
        // lies in the mapping and nobody writes it while the lock is held.
        Some(unsafe { slice::from_raw_parts(self.value_ptr(i), len) }.to_vec())
    }

    fn exists_at(&self, key: &[u8], now: u64) -> bool {
        self.lock()
            .is_some_and(|_locked| self.find(key, now).is_some())
    }

    fn del_at(&self, key: &[u8], now: u64) -> bool {
        let Some(_locked) = self.lock() else {
            return false;
        };
        match self.find(key, now) {
            Some((i, prev)) => {
                self.remove(i, prev);
                true
            }
            None => false,
        }
    }

    fn store_at(
        &self,
        key: &[u8],
        value: &[u8],
        expires: u64,
        replace: bool,
        now: u64,
    ) -> Result<bool, CacheError> {
        let g = self.geometry;
        if key.is_empty() {
            return Err(CacheError::EmptyKey);
        }
        if value.is_empty() {
            return Err(CacheError::EmptyValue);
        }
        if key.len() > g.keysize {
            return Err(CacheError::KeyTooLong {
                len: key.len(),
                max: g.keysize,
            });
        }
        if value.len() > g.blocksize {
            return Err(CacheError::ValueTooLarge {
                len: value.len(),
                max: g.blocksize,
            });
        }
        let deadline = match expires {
            0 => 0,
            secs => now.saturating_add(secs.saturating_mul(MICROS)),
        };
        let _locked = self.lock().ok_or(CacheError::Lock)?;
        if let Some((i, _)) = self.find(key, now) {
            if !replace {
                return Ok(false);
            }
            let meta = self.meta(i);
            meta.state.store(WRITING, Ordering::Relaxed);
            // SAFETY: the value fits the block of item `i` (checked above), which lies in
            // the mapping; the lock is held, and `value` is our own memory.
            unsafe { ptr::copy_nonoverlapping(value.as_ptr(), self.value_ptr(i), value.len()) };
            meta.val_len.store(value.len() as u32, Ordering::Relaxed);
            meta.expires.store(deadline, Ordering::Relaxed);
            meta.state.store(LIVE, Ordering::Relaxed);
            return Ok(true);
        }
        let i = match self.take_free() {
            Some(i) => i,
            None => {
                self.sweep(now);
                self.take_free().ok_or_else(|| {
                    self.header().full.fetch_add(1, Ordering::Relaxed);
                    CacheError::Full
                })?
            }
        };
        let hash = self.hash(key);
        let meta = self.meta(i);
        meta.state.store(WRITING, Ordering::Relaxed);
        meta.key_len.store(key.len() as u32, Ordering::Relaxed);
        meta.val_len.store(value.len() as u32, Ordering::Relaxed);
        meta.hash.store(hash, Ordering::Relaxed);
        meta.expires.store(deadline, Ordering::Relaxed);
        // SAFETY: key and value fit their places of item `i` (checked above), which lie in
        // the mapping; the lock is held.
        unsafe {
            ptr::copy_nonoverlapping(key.as_ptr(), self.key_ptr(i), key.len());
            ptr::copy_nonoverlapping(value.as_ptr(), self.value_ptr(i), value.len());
        }
        let bucket = &self.buckets()[self.bucket_of(hash)];
        meta.next
            .store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
        bucket.store(i, Ordering::Relaxed);
        meta.state.store(LIVE, Ordering::Relaxed);
        self.header().count.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// The live item under `key` and the one before it in its chain (0: the bucket); an
    /// expired item found is removed. The lock must be held.
    fn find(&self, key: &[u8], now: u64) -> Option<(u32, u32)> {
        if key.is_empty() || key.len() > self.geometry.keysize {
            return None;
        }
        let hash = self.hash(key);
        let mut prev = 0;
        let mut i = self.buckets()[self.bucket_of(hash)].load(Ordering::Relaxed);
        // A chain is never longer than the cache; a longer one is corrupt: stop.
        for _ in 0..self.geometry.items {
            if !self.is_item(i) {
                return None;
            }
            let meta = self.meta(i);
            let key_len = meta.key_len.load(Ordering::Relaxed) as usize;
            let matches = meta.hash.load(Ordering::Relaxed) == hash
                && key_len == key.len()
                && meta.state.load(Ordering::Relaxed) == LIVE
                && (meta.val_len.load(Ordering::Relaxed) as usize) <= self.geometry.blocksize
                // SAFETY: the key of item `i` lies in the mapping and `key_len` fits it
                // (equal to `key.len()`, checked against the keysize above); the lock is
                // held.
                && unsafe { slice::from_raw_parts(self.key_ptr(i), key_len) } == key;
            if matches {
                let expires = meta.expires.load(Ordering::Relaxed);
                if expires != 0 && expires <= now {
                    self.remove(i, prev);
                    return None;
                }
                return Some((i, prev));
            }
            prev = i;
            i = meta.next.load(Ordering::Relaxed);
        }
        None
    }

    /// Unlinks item `i` (whose chain predecessor is `prev`, 0 for the bucket) and frees it.
    /// The lock must be held.
    fn remove(&self, i: u32, prev: u32) {
        let meta = self.meta(i);
        // First, so a process that dies past this line leaves an item the rebuild frees.
        meta.state.store(FREE, Ordering::Relaxed);
        let next = meta.next.load(Ordering::Relaxed);
        if prev == 0 {
            let hash = meta.hash.load(Ordering::Relaxed);
            self.buckets()[self.bucket_of(hash)].store(next, Ordering::Relaxed);
        } else {
            self.meta(prev).next.store(next, Ordering::Relaxed);
        }
        let header = self.header();
        meta.next.store(
            header.free_head.load(Ordering::Relaxed) as u32,
            Ordering::Relaxed,
        );
        header.free_head.store(u64::from(i), Ordering::Relaxed);
        let _ = header
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// Takes an item off the free list. The lock must be held.
    fn take_free(&self) -> Option<u32> {
        let header = self.header();
        let head = header.free_head.load(Ordering::Relaxed);
        let i = u32::try_from(head).ok().filter(|&i| self.is_item(i))?;
        let meta = self.meta(i);
        if meta.state.load(Ordering::Relaxed) != FREE {
            // Corrupt: rebuild, which chains the free items again.
            self.rebuild();
            return self.take_free_checked();
        }
        header.free_head.store(
            u64::from(meta.next.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Some(i)
    }

    /// [`Cache::take_free`] right after a rebuild (no second rebuild).
    fn take_free_checked(&self) -> Option<u32> {
        let header = self.header();
        let i = u32::try_from(header.free_head.load(Ordering::Relaxed))
            .ok()
            .filter(|&i| self.is_item(i))?;
        header.free_head.store(
            u64::from(self.meta(i).next.load(Ordering::Relaxed)),
            Ordering::Relaxed,
        );
        Some(i)
    }

    /// Frees every expired item; how many. The lock must be held.
    fn sweep(&self, now: u64) -> usize {
        let mut freed = 0;
        for i in 1..=self.geometry.items as u32 {
            let meta = self.meta(i);
            let expires = meta.expires.load(Ordering::Relaxed);
            if meta.state.load(Ordering::Relaxed) == LIVE && expires != 0 && expires <= now {
                meta.state.store(FREE, Ordering::Relaxed);
                freed += 1;
            }
        }
        if freed > 0 {
            self.rebuild();
        }
        freed
    }

    /// Builds the buckets, the free list and the count again from the items' states: a
    /// live item with sane lengths is indexed, any other is freed. Returns the live items.
    /// The lock must be held (or the cache be seen by nobody else yet).
    fn rebuild(&self) -> u64 {
        for bucket in self.buckets() {
            bucket.store(0, Ordering::Relaxed);
        }
        let g = self.geometry;
        let mut free_head = 0u32;
        let mut count = 0;
        for i in (1..=g.items as u32).rev() {
            let meta = self.meta(i);
            let key_len = meta.key_len.load(Ordering::Relaxed) as usize;
            let val_len = meta.val_len.load(Ordering::Relaxed) as usize;
            let live = meta.state.load(Ordering::Relaxed) == LIVE
                && (1..=g.keysize).contains(&key_len)
                && val_len <= g.blocksize;
            if live {
                // SAFETY: the key of item `i` lies in the mapping and `key_len` fits it
                // (checked above); the lock is held.
                let key = unsafe { slice::from_raw_parts(self.key_ptr(i), key_len) };
                let hash = self.hash(key);
                meta.hash.store(hash, Ordering::Relaxed);
                let bucket = &self.buckets()[self.bucket_of(hash)];
                meta.next
                    .store(bucket.load(Ordering::Relaxed), Ordering::Relaxed);
                bucket.store(i, Ordering::Relaxed);
                count += 1;
            } else {
                meta.state.store(FREE, Ordering::Relaxed);
                meta.next.store(free_head, Ordering::Relaxed);
                free_head = i;
            }
        }
        let header = self.header();
        header
            .free_head
            .store(u64::from(free_head), Ordering::Relaxed);
        header.count.store(count, Ordering::Relaxed);
        count
    }

    /// Takes the lock; `None` (logged) when it cannot be taken. A holder that died is
    /// recovered from here (see the module doc).
    fn lock(&self) -> Option<Locked<'_>> {
        // SAFETY: the mutex was initialized process-shared by `create` and lives as long
        // as the mapping, which outlives the guard.
        match unsafe { robust::lock(self.mutex()) } {
            Ok(false) => Some(Locked(self)),
            Ok(true) => {
                let locked = Locked(self);
                let kept = self.rebuild();
                log::warn!(
                    "a process died holding the lock of cache {:?}; its index was rebuilt \
                     ({kept} items kept, an item being written dropped)",
                    self.name
                );
                Some(locked)
            }
            Err(e) => {
                log::error!("cannot lock cache {:?}: {e}", self.name);
                None
            }
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        hash(self.seed, key)
    }

    fn bucket_of(&self, hash: u64) -> usize {
        (hash as usize) & (self.offsets.bucket_count - 1)
    }

    fn is_item(&self, i: u32) -> bool {
        i != 0 && (i as usize) <= self.geometry.items
    }

    fn header(&self) -> &Header {
        // SAFETY: the mapping starts with a Header (its length was checked at
        // `create`/`from_fd`), page-aligned, any bytes valid atomics; the reference lives
        // no longer than `self`.
        unsafe { self.map.base().cast::<Header>().as_ref() }
    }

    fn mutex(&self) -> *mut libc::pthread_mutex_t {
        // SAFETY: the lock's line follows the header inside the mapping.
        unsafe {
            self.map
                .base()
                .add(mem::size_of::<Header>())
                .cast::<libc::pthread_mutex_t>()
                .as_ptr()
        }
    }

    fn buckets(&self) -> &[AtomicU32] {
        // SAFETY: `bucket_count` words lie at their offset inside the mapping (length
        // checked at `create`/`from_fd`), 4-byte aligned, any bytes valid atomics.
        unsafe {
            slice::from_raw_parts(
                self.map
                    .base()
                    .add(self.offsets.buckets)
                    .cast::<AtomicU32>()
                    .as_ptr(),
                self.offsets.bucket_count,
            )
        }
    }

    /// The metadata of item `i` (1-based).
    ///
    /// # Panics
    /// If `i` is no item of this cache.
    fn meta(&self, i: u32) -> &ItemMeta {
        assert!(self.is_item(i), "item {i} is not in cache {:?}", self.name);
        // SAFETY: item `i`'s metadata lies inside the mapping (`i` checked above), 8-byte
        // aligned, any bytes valid atomics.
        unsafe {
            self.map
                .base()
                .add(self.offsets.meta + (i as usize - 1) * mem::size_of::<ItemMeta>())
                .cast::<ItemMeta>()
                .as_ref()
        }
    }

    /// Where the key of item `i` (1-based, checked by the caller) starts.
    fn key_ptr(&self, i: u32) -> *mut u8 {
        debug_assert!(self.is_item(i));
        // SAFETY: `keysize` bytes for each of `items` keys lie at their offset inside the
        // mapping.
        unsafe {
            self.map
                .base()
                .add(self.offsets.keys + (i as usize - 1) * self.geometry.keysize)
                .as_ptr()
        }
    }

    /// Where the block of item `i` (1-based, checked by the caller) starts.
    fn value_ptr(&self, i: u32) -> *mut u8 {
        debug_assert!(self.is_item(i));
        // SAFETY: `blocksize` bytes for each of `items` values lie at their offset inside
        // the mapping.
        unsafe {
            self.map
                .base()
                .add(self.offsets.values + (i as usize - 1) * self.geometry.blocksize)
                .as_ptr()
        }
    }
}

/// The lock of a cache, held until dropped.
struct Locked<'a>(&'a Cache);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: this thread locked the mutex when the guard was made.
        let _ = unsafe { robust::unlock(self.0.mutex()) };
    }
}

/// A seed for a new cache's hash, from the kernel's random pool (the clock and pid if that
/// fails).
fn random_seed() -> u64 {
    let mut seed = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into `seed`.
    let got = unsafe { libc::getrandom((&raw mut seed).cast(), 8, libc::GRND_NONBLOCK) };
    if got != 8 {
        seed = now_micros() ^ (u64::from(std::process::id()) << 32);
    }
    seed
}

/// FNV-1a over `key` from `seed`, then splitmix64's finalizer, so the low bits the buckets
/// use depend on every byte.
fn hash(seed: u64, key: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in key {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const NOW: u64 = 1_700_000_000 * MICROS;

    fn cache(items: usize, blocksize: usize) -> Cache {
        Cache::create("test", items, blocksize, 64).unwrap()
    }

    #[test]
    fn set_does_not_replace_a_live_key_and_update_does() {
        let c = cache(4, 16);
        assert_eq!(c.get(b"k"), None);
        assert_eq!(c.set(b"k", b"one", 0), Ok(true));
        assert_eq!(
            c.set(b"k", b"two", 0),
            Ok(false),
            "set keeps the live value"
        );
        assert_eq!(c.get(b"k").as_deref(), Some(&b"one"[..]));
        assert_eq!(c.update(b"k", b"three", 0), Ok(()));
        assert_eq!(c.get(b"k").as_deref(), Some(&b"three"[..]));
        assert_eq!(c.update(b"new", b"made by update", 0), Ok(()));
        assert_eq!(c.get(b"new").as_deref(), Some(&b"made by update"[..]));
        assert!(c.exists(b"k"));
        assert!(c.del(b"k"));
        assert!(!c.del(b"k"), "deleted once");
        assert!(!c.exists(b"k"));
        assert_eq!(c.set(b"k", b"again", 0), Ok(true));
        assert_eq!(
            c.stats(),
            CacheStats {
                items: 2,
                hits: 3,
                misses: 1,
                full: 0
            }
        );
        c.clear();
        assert_eq!(c.get(b"new"), None);
        assert_eq!(c.stats().items, 0);
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        let c = cache(2, 8);
        assert_eq!(c.set(b"", b"v", 0), Err(CacheError::EmptyKey));
        assert_eq!(c.set(b"k", b"", 0), Err(CacheError::EmptyValue));
        assert_eq!(
            c.set(b"k", b"123456789", 0),
            Err(CacheError::ValueTooLarge { len: 9, max: 8 })
        );
        assert_eq!(
            c.update(&[b'k'; 65], b"v", 0),
            Err(CacheError::KeyTooLong { len: 65, max: 64 })
        );
        assert_eq!(c.set(b"k", b"12345678", 0), Ok(true), "a full block fits");
        assert_eq!(c.set(b"k2", b"v", 0), Ok(true));
        assert_eq!(c.set(b"k3", b"v", 0), Err(CacheError::Full));
        assert_eq!(c.update(b"k3", b"v", 0), Err(CacheError::Full));
        assert_eq!(
            c.update(b"k2", b"w", 0),
            Ok(()),
            "a live key is updated in place"
        );
        assert_eq!(c.stats().full, 2);
        assert!(c.del(b"k"));
        assert_eq!(
            c.set(b"k3", b"v", 0),
            Ok(true),
            "a freed item is taken again"
        );
        assert_eq!(c.get(&[b'k'; 65]), None);
        assert!(!c.exists(b""));
    }

    #[test]
    fn items_expire_on_time() {
        let c = cache(2, 8);
        let second = MICROS;
        assert_eq!(c.store_at(b"a", b"1", 2, false, NOW), Ok(true));
        assert_eq!(c.store_at(b"never", b"1", 0, false, NOW), Ok(true));
        assert!(c.get_at(b"a", NOW + 2 * second - 1).is_some());
        assert!(c.exists_at(b"a", NOW + 2 * second - 1));
        assert_eq!(
            c.get_at(b"a", NOW + 2 * second),
            None,
            "gone at its deadline"
        );
        assert!(c.get_at(b"never", NOW + 1_000_000 * second).is_some());
        // An expired key is free for `set`, and its item is reused.
        assert_eq!(c.store_at(b"b", b"1", 1, false, NOW), Ok(true));
        assert_eq!(c.store_at(b"b", b"2", 0, false, NOW + 5 * second), Ok(true));
        assert_eq!(c.get_at(b"b", NOW + 9 * second).as_deref(), Some(&b"2"[..]));
        // `update` sets the new expiry (0: never) as uWSGI does.
        assert_eq!(c.store_at(b"b", b"3", 1, true, NOW + 9 * second), Ok(true));
        assert_eq!(c.get_at(b"b", NOW + 10 * second), None);
        // A full cache frees its expired items before it refuses a value.
        assert_eq!(c.store_at(b"c", b"1", 1, false, NOW), Ok(true));
        assert_eq!(c.store_at(b"d", b"1", 0, false, NOW), Err(CacheError::Full));
        assert_eq!(c.store_at(b"d", b"1", 0, false, NOW + second), Ok(true));
        assert!(!c.del_at(b"c", NOW + second));
    }

    #[test]
    fn many_keys_share_few_buckets_and_all_are_found() {
        let c = Cache::create("many", 1000, 16, 32).unwrap();
        assert_eq!(c.offsets.bucket_count, 1024);
        for n in 0..1000 {
            let v = format!("v{n}");
            assert_eq!(
                c.set(format!("key-{n}").as_bytes(), v.as_bytes(), 0),
                Ok(true)
            );
        }
        assert_eq!(c.set(b"one too many", b"v", 0), Err(CacheError::Full));
        for n in (0..1000).step_by(3) {
            assert!(c.del(format!("key-{n}").as_bytes()), "{n}");
        }
        for n in 0..1000 {
            let got = c.get(format!("key-{n}").as_bytes());
            if n % 3 == 0 {
                assert_eq!(got, None, "{n}");
            } else {
                assert_eq!(got, Some(format!("v{n}").into_bytes()), "{n}");
            }
        }
        assert_eq!(c.stats().items, 666);
        assert_eq!(c.rebuild(), 666, "a rebuild keeps every live item");
        assert_eq!(c.get(b"key-1").as_deref(), Some(&b"v1"[..]));
    }

    #[test]
    fn geometry_is_checked() {
        for (items, blocksize, keysize) in [
            (0, 8, 8),
            (1, 0, 8),
            (1, 8, 0),
            (1, 8, 65536),
            (MAX_ITEMS + 1, 1, 1),
            (MAX_ITEMS, u32::MAX as usize, 1),
        ] {
            let err = Cache::create("bad", items, blocksize, keysize).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::CacheSize,
                "{items} {blocksize} {keysize}"
            );
        }
        let c = cache(3, 8);
        assert_eq!(
            c.geometry(),
            CacheGeometry {
                items: 3,
                blocksize: 8,
                keysize: 64
            }
        );
        assert_eq!(c.geometry().to_string(), "items=3,blocksize=8,keysize=64");
        assert_eq!(c.map.len() % LINE, 8 * 3 % LINE);
    }

    #[test]
    fn from_fd_maps_the_same_cache_or_refuses_another_geometry() {
        let c = cache(4, 8);
        c.set(b"k", b"kept", 0).unwrap();
        let fd = c.fd().try_clone_to_owned().unwrap();
        let adopted = Cache::from_fd(fd, "test", 4, 8, 64).unwrap();
        assert_eq!(adopted.get(b"k").as_deref(), Some(&b"kept"[..]));
        adopted.set(b"k2", b"both", 0).unwrap();
        assert_eq!(c.get(b"k2").as_deref(), Some(&b"both"[..]), "one memory");
        assert!(adopted.map.closes_on_exec());

        let fd = c.fd().try_clone_to_owned().unwrap();
        let err = Cache::from_fd(fd, "test", 5, 8, 64).unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::CacheGeometry {
                found: c.geometry(),
                wanted: CacheGeometry {
                    items: 5,
                    blocksize: 8,
                    keysize: 64
                }
            }
        );
        assert!(err.to_string().contains("map a new one"), "{err}");

        let file = tempfile::tempfile().unwrap();
        file.set_len(4096).unwrap();
        let err = Cache::from_fd(file.into(), "test", 4, 8, 64).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotACache);
        let empty = tempfile::tempfile().unwrap();
        let err = Cache::from_fd(empty.into(), "test", 4, 8, 64).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotACache);
        let board = crate::Scoreboard::create(crate::Layout::new(1, 1, 0)).unwrap();
        let fd = board.fd().try_clone_to_owned().unwrap();
        let err = Cache::from_fd(fd, "test", 4, 8, 64).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotACache, "a board is no cache");
    }

    #[test]
    fn the_memfd_can_be_kept_across_exec() {
        let c = cache(1, 8);
        assert!(c.map.closes_on_exec());
        let raw = c.keep_across_exec().unwrap();
        assert_eq!(raw, c.fd().as_raw_fd());
        assert!(!c.map.closes_on_exec());
        let target = std::fs::read_link(format!("/proc/self/fd/{raw}")).unwrap();
        assert!(
            target.to_string_lossy().contains("ruwsgi-cache-test"),
            "{target:?}"
        );
    }

    #[test]
    fn a_thread_that_dies_holding_the_lock_does_not_wedge_the_cache() {
        let c = Arc::new(cache(4, 8));
        c.set(b"kept", b"v", 0).unwrap();
        let holder = c.clone();
        std::thread::spawn(move || {
            let locked = holder.lock().unwrap();
            // Half way through writing an item, the thread ends.
            let i = holder.take_free().unwrap();
            let meta = holder.meta(i);
            meta.state.store(WRITING, Ordering::Relaxed);
            meta.key_len.store(4, Ordering::Relaxed);
            mem::forget(locked);
        })
        .join()
        .unwrap();
        // The robust mutex hands the lock over (EOWNERDEAD); the index is rebuilt.
        assert_eq!(c.get(b"kept").as_deref(), Some(&b"v"[..]));
        assert_eq!(c.stats().items, 1);
        for k in [&b"a"[..], b"b", b"c"] {
            assert_eq!(
                c.set(k, b"v", 0),
                Ok(true),
                "the half-written item is free again"
            );
        }
        assert_eq!(c.set(b"d", b"v", 0), Err(CacheError::Full));
    }

    /// Processes and threads at once: each writes keys of its own and rewrites one shared
    /// key with a value of one repeated byte; every read of the shared key must be whole
    /// (one byte repeated), and every key written must be read back. One child is killed
    /// while it holds the lock; the others go on.
    #[test]
    fn processes_and_threads_hammering_it_see_whole_values() {
        use nix::sys::wait::{waitpid, WaitStatus};
        use nix::unistd::{fork, pipe, read, write, ForkResult, Pid};

        const ROUNDS: usize = 2000;
        let c = Arc::new(Cache::create("hammer", 4096, 256, 32).unwrap());
        c.set(b"shared", &[b'0'; 200], 0).unwrap();

        // A child that takes the lock, says so, and is killed with it.
        let (said, say) = pipe().unwrap();
        // SAFETY: the child only locks the shared mutex, writes a byte and waits to be
        // killed.
        let doomed = match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                let _locked = c.lock();
                let _ = write(&say, b"!");
                loop {
                    // SAFETY: pause(2) just waits for a signal.
                    unsafe { libc::pause() };
                }
            }
            ForkResult::Parent { child } => child,
        };

        let work = |who: u8, c: &Cache| -> Result<(), String> {
            for n in 0..ROUNDS {
                let len = 1 + (n * 7 + usize::from(who)) % 256;
                c.update(b"shared", &vec![who; len], 0)
                    .map_err(|e| e.to_string())?;
                let got = c.get(b"shared").ok_or("shared key missing")?;
                if got.is_empty() || got.iter().any(|&b| b != got[0]) {
                    return Err(format!("a torn value: {got:?}"));
                }
                let key = format!("{who}-{n}");
                if n % 4 == 0 {
                    if c.set(key.as_bytes(), key.as_bytes(), 0) != Ok(true) {
                        return Err(format!("{key} not stored"));
                    }
                    if c.get(key.as_bytes()).as_deref() != Some(key.as_bytes()) {
                        return Err(format!("{key} not read back"));
                    }
                }
            }
            Ok(())
        };

        let mut children: Vec<Pid> = Vec::new();
        for who in [b'a', b'b', b'c'] {
            // SAFETY: the child only works on the shared mapping and calls `_exit`.
            match unsafe { fork() }.unwrap() {
                ForkResult::Child => {
                    let code = match work(who, &c) {
                        Ok(()) => 0,
                        Err(e) => {
                            eprintln!("child {}: {e}", who as char);
                            1
                        }
                    };
                    // SAFETY: `_exit` ends the child at once, skipping the parent's
                    // destructors.
                    unsafe { libc::_exit(code) };
                }
                ForkResult::Parent { child } => children.push(child),
            }
        }
        // The doomed child holds the lock until it dies: kill it once the others wait.
        let mut byte = [0u8; 1];
        assert_eq!(read(&said, &mut byte).unwrap(), 1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(doomed.as_raw(), libc::SIGKILL) };
        let threads: Vec<_> = [b'x', b'y']
            .into_iter()
            .map(|who| {
                let c = c.clone();
                std::thread::spawn(move || work(who, &c))
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        for child in children {
            assert_eq!(waitpid(child, None).unwrap(), WaitStatus::Exited(child, 0));
        }
        assert!(matches!(
            waitpid(doomed, None).unwrap(),
            WaitStatus::Signaled(_, nix::sys::signal::Signal::SIGKILL, _)
        ));
        for who in [b'a', b'b', b'c', b'x', b'y'] {
            for n in (0..ROUNDS).step_by(4) {
                let key = format!("{who}-{n}");
                assert_eq!(c.get(key.as_bytes()).as_deref(), Some(key.as_bytes()));
            }
        }
        assert_eq!(c.stats().items as usize, 1 + 5 * ROUNDS / 4);
    }
}
