//! [`Sink`]: where a request body accumulates while it arrives — memory up to
//! `post-buffering`, then an unlinked temp file (docs/architecture.md: the whole body is read
//! before the app sees the request, so a slow upload costs memory or disk, never a Python
//! thread). The file's bytes count against the worker's spill bound (`limit-spill`) from
//! before they are written until the app is done with the body.

use std::io::{self, Seek, SeekFrom, Write};
use std::mem::MaybeUninit;
use std::sync::Arc;

use crate::handler::Body;
use crate::spill::{BodyFile, SpillBudget};

/// Why a body cannot be received.
#[derive(Debug)]
pub(crate) enum SinkError {
    /// The temp file failed.
    Io(io::Error),
    /// The body alone is larger than the spill bound.
    TooLarge,
    /// The body would take the worker past its spill bound, with what others hold.
    Full,
}

impl From<io::Error> for SinkError {
    fn from(e: io::Error) -> SinkError {
        SinkError::Io(e)
    }
}

/// A request body being received.
#[derive(Debug)]
pub(crate) struct Sink {
    mem: Vec<u8>,
    file: Option<BodyFile>,
    len: u64,
    post_buffering: usize,
    budget: Arc<SpillBudget>,
}

impl Sink {
    /// A sink for a body of `expected` bytes (unknown when chunked). A body known to be
    /// larger than `post_buffering` goes straight to a temp file, and takes its whole
    /// length from `budget` at once: it is refused before a byte of it is read.
    pub(crate) fn new(
        expected: Option<u64>,
        post_buffering: usize,
        budget: &Arc<SpillBudget>,
    ) -> Result<Sink, SinkError> {
        let mut sink = Sink {
            mem: Vec::new(),
            file: None,
            len: 0,
            post_buffering,
            budget: budget.clone(),
        };
        match expected {
            Some(n) if n > post_buffering as u64 => sink.file = Some(sink.spill_file(n)?),
            Some(n) => sink.mem.reserve_exact(n as usize),
            None => {}
        }
        Ok(sink)
    }

    /// A temp file holding `n` bytes of the budget.
    fn spill_file(&self, n: u64) -> Result<BodyFile, SinkError> {
        if !self.budget.fits(n) {
            return Err(SinkError::TooLarge);
        }
        let file = BodyFile::temp(&self.budget)?;
        if file.hold(n) {
            Ok(file)
        } else {
            Err(SinkError::Full)
        }
    }

    /// Bytes received so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Appends `data`. A body of unknown length that grows past `post_buffering` moves to
    /// a temp file, which takes from the budget as it grows (a body of known length took
    /// all of it in [`Sink::new`]).
    /// A refused write leaves the body as it was.
    pub(crate) fn write(&mut self, data: &[u8]) -> Result<(), SinkError> {
        let len = self.len + data.len() as u64;
        if let Some(f) = &mut self.file {
            let more = len.saturating_sub(f.held());
            if more > 0 {
                if !self.budget.fits(len) {
                    return Err(SinkError::TooLarge);
                }
                if !f.hold(more) {
                    return Err(SinkError::Full);
                }
            }
            f.write_all(data)?;
        } else if self.mem.len() + data.len() > self.post_buffering {
            let mut f = self.spill_file(len)?;
            f.write_all(&self.mem)?;
            f.write_all(data)?;
            self.mem = Vec::new();
            self.file = Some(f);
        } else {
            self.mem.extend_from_slice(data);
        }
        self.len = len;
        Ok(())
    }

    /// Room for up to `want` more bytes of an in-memory body, to read the socket into
    /// directly (one copy fewer than through the loop's scratch buffer); then
    /// [`Sink::filled`]. `None` when the body goes to a file or its memory is full.
    pub(crate) fn room(&mut self, want: usize) -> Option<&mut [MaybeUninit<u8>]> {
        if self.file.is_some() {
            return None;
        }
        let spare = self.mem.spare_capacity_mut();
        let n = want.min(spare.len());
        (n > 0).then(move || &mut spare[..n])
    }

    /// The first `n` bytes of the last [`Sink::room`] were written (by a read of the socket).
    ///
    /// # Panics
    /// If `n` is more than that room.
    pub(crate) fn filled(&mut self, n: usize) {
        assert!(
            n <= self.mem.capacity() - self.mem.len(),
            "filled past the room"
        );
        // SAFETY: the `n` bytes after the Vec's length lie in its spare capacity (checked
        // above) and were initialized by the read that filled the slice `room` returned.
        unsafe { self.mem.set_len(self.mem.len() + n) };
        self.len += n as u64;
    }

    /// The whole body, a file positioned at its start.
    pub(crate) fn finish(self) -> io::Result<Body> {
        match self.file {
            Some(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                Ok(Body::File {
                    file,
                    len: self.len,
                })
            }
            None if self.mem.is_empty() => Ok(Body::Empty),
            None => Ok(Body::Memory(self.mem)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn unbounded() -> Arc<SpillBudget> {
        SpillBudget::new(0)
    }

    #[test]
    fn small_bodies_stay_in_memory() {
        let mut s = Sink::new(None, 10, &unbounded()).unwrap();
        s.write(b"hello").unwrap();
        s.write(b"world").unwrap();
        match s.finish().unwrap() {
            Body::Memory(v) => assert_eq!(v, b"helloworld"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_growing_body_spills_to_a_file_at_post_buffering() {
        let mut s = Sink::new(None, 10, &unbounded()).unwrap();
        s.write(b"hello").unwrap();
        s.write(b"world!").unwrap();
        assert_eq!(s.len(), 11);
        match s.finish().unwrap() {
            Body::File { mut file, len } => {
                assert_eq!(len, 11);
                let mut all = String::new();
                file.read_to_string(&mut all).unwrap();
                assert_eq!(all, "helloworld!");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_known_body_is_read_into_its_own_memory() {
        let mut s = Sink::new(Some(10), 100, &unbounded()).unwrap();
        let room = s.room(64).unwrap();
        assert_eq!(
            room.len(),
            10,
            "the room is what is left of the announced length"
        );
        for (slot, b) in room.iter_mut().zip(b"hello") {
            slot.write(*b);
        }
        s.filled(5);
        s.write(b"world").unwrap();
        assert!(s.room(64).is_none(), "full");
        assert_eq!(s.len(), 10);
        match s.finish().unwrap() {
            Body::Memory(v) => assert_eq!(v, b"helloworld"),
            other => panic!("{other:?}"),
        }
        // A body bound for a file has no room in memory.
        assert!(Sink::new(Some(11), 10, &unbounded())
            .unwrap()
            .room(64)
            .is_none());
    }

    #[test]
    fn a_known_large_body_goes_to_a_file_at_once() {
        let s = Sink::new(Some(11), 10, &unbounded()).unwrap();
        assert!(s.file.is_some());
        assert!(matches!(
            Sink::new(None, 10, &unbounded()).unwrap().finish().unwrap(),
            Body::Empty
        ));
    }

    #[test]
    fn spilled_bodies_are_bounded_and_give_their_bytes_back() {
        let budget = SpillBudget::new(100);
        // A known length past the bound is refused before a byte is read...
        assert!(matches!(
            Sink::new(Some(101), 10, &budget),
            Err(SinkError::TooLarge)
        ));
        // ...one that fits takes all of it at once, and the next one finds the rest.
        let first = Sink::new(Some(70), 10, &budget).unwrap();
        assert_eq!(budget.held(), 70);
        assert!(matches!(
            Sink::new(Some(31), 10, &budget),
            Err(SinkError::Full)
        ));
        // A chunked body takes as it grows past post-buffering.
        let mut chunked = Sink::new(None, 10, &budget).unwrap();
        chunked.write(&[b'x'; 10]).unwrap();
        assert_eq!(budget.held(), 70, "in memory, nothing held");
        chunked.write(&[b'x'; 15]).unwrap();
        assert_eq!(budget.held(), 95);
        assert!(matches!(chunked.write(&[b'x'; 6]), Err(SinkError::Full)));
        drop(first);
        assert_eq!(budget.held(), 25);
        chunked.write(&[b'x'; 75]).unwrap();
        assert!(matches!(chunked.write(b"x"), Err(SinkError::TooLarge)));
        // The finished body holds its bytes until the app drops it.
        let body = chunked.finish().unwrap();
        assert_eq!(budget.held(), 100);
        drop(body);
        assert_eq!(budget.held(), 0);
    }
}
