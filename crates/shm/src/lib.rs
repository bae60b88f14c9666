//! ruwsgi-shm: the memory every process of one ruwsgi server shares.
//!
//! # The scoreboard
//! [`Scoreboard`] is one anonymous shared mapping (a `memfd`, so a later re-exec of the
//! master can keep it by passing the fd on) created by the master before it forks. It holds
//! one cache-line-aligned [`WorkerSlot`] per worker and one [`ThreadSlot`] per thread of each
//! worker, so two processes writing their own slots never share a cache line. Every field is
//! an atomic: workers write their own slot without locks on the request path, and the master
//! reads all of them (respawn, stats, later harakiri and reload-on-rss).
//!
//! Worker ids are 1-based as in uWSGI (`uwsgi.worker_id()`); slot 0 is never used for a
//! worker so an id can index the board directly.
//!
//! Later issues add the cache, locks and the signal and mule queues here.

#![deny(missing_docs)]

mod error;
mod scoreboard;

pub use error::{Error, ErrorKind};
pub use scoreboard::{Scoreboard, ThreadSlot, WorkerSlot, WorkerStatus};
