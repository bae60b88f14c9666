//! [`Sink`]: where a request body accumulates while it arrives — memory up to
//! `post-buffering`, then an unlinked temp file (docs/architecture.md: the whole body is read
//! before the app sees the request, so a slow upload costs memory or disk, never a Python
//! thread).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::mem::MaybeUninit;

use crate::handler::Body;

/// A request body being received.
#[derive(Debug)]
pub(crate) struct Sink {
    mem: Vec<u8>,
    file: Option<File>,
    len: u64,
    post_buffering: usize,
}

impl Sink {
    /// A sink for a body of `expected` bytes (unknown when chunked). A body known to be
    /// larger than `post_buffering` goes straight to a temp file.
    pub(crate) fn new(expected: Option<u64>, post_buffering: usize) -> io::Result<Sink> {
        let mut sink = Sink {
            mem: Vec::new(),
            file: None,
            len: 0,
            post_buffering,
        };
        match expected {
            Some(n) if n > post_buffering as u64 => sink.file = Some(tempfile::tempfile()?),
            Some(n) => sink.mem.reserve_exact(n as usize),
            None => {}
        }
        Ok(sink)
    }

    /// Bytes received so far.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(data);
        }
        if self.mem.len() + data.len() > self.post_buffering {
            let mut f = tempfile::tempfile()?;
            f.write_all(&self.mem)?;
            f.write_all(data)?;
            self.mem = Vec::new();
            self.file = Some(f);
        } else {
            self.mem.extend_from_slice(data);
        }
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

    #[test]
    fn small_bodies_stay_in_memory() {
        let mut s = Sink::new(None, 10).unwrap();
        s.write(b"hello").unwrap();
        s.write(b"world").unwrap();
        match s.finish().unwrap() {
            Body::Memory(v) => assert_eq!(v, b"helloworld"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_growing_body_spills_to_a_file_at_post_buffering() {
        let mut s = Sink::new(None, 10).unwrap();
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
        let mut s = Sink::new(Some(10), 100).unwrap();
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
        assert!(Sink::new(Some(11), 10).unwrap().room(64).is_none());
    }

    #[test]
    fn a_known_large_body_goes_to_a_file_at_once() {
        let s = Sink::new(Some(11), 10).unwrap();
        assert!(s.file.is_some());
        assert!(matches!(
            Sink::new(None, 10).unwrap().finish().unwrap(),
            Body::Empty
        ));
    }
}
