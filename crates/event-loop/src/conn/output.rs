//! [`Output`]: a connection's queue of bytes and file ranges waiting for the socket.
//!
//! Small pieces are coalesced into one buffer (one `write`), larger ones are queued as they
//! came (no copy), several buffers go out in one `writev(2)`, and file ranges — a file the
//! app sent, or a reply's spill file — go out with `sendfile(2)`. Every byte queued in memory
//! is counted in the connection's [`Flow`] until it is written, which is the back-pressure a
//! replying thread feels.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

use crate::reply::Flow;
use crate::spill::BodyFile;
use crate::sys;

/// Bytes of output coalesced into one buffer (one write) before a new buffer is queued.
pub(crate) const COALESCE: usize = 16 * 1024;
/// An owned buffer up to this size is copied into the last queued one rather than queued
/// as a buffer of its own.
pub(crate) const COPY_MAX: usize = 4096;
/// Largest sendfile(2) call, so one big file does not starve other connections.
const SENDFILE_MAX: usize = 1 << 20;
/// Buffers handed to one writev(2).
const MAX_IOVECS: usize = 32;

#[derive(Debug)]
enum Chunk {
    Bytes {
        buf: Vec<u8>,
        pos: usize,
    },
    /// A range of a file: one the app sent, or the reply's spill file (shared by its chunks).
    File {
        file: Arc<BodyFile>,
        offset: u64,
        left: u64,
    },
}

/// One connection's output queue.
#[derive(Debug)]
pub(crate) struct Output {
    chunks: VecDeque<Chunk>,
    /// The connection's flow control, shared with its replies.
    pub(crate) flow: Arc<Flow>,
}

impl Output {
    pub(crate) fn new(flow: Flow) -> Output {
        Output {
            chunks: VecDeque::new(),
            flow: Arc::new(flow),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Queues a copy of `data`.
    pub(crate) fn push_bytes(&mut self, data: &[u8]) {
        self.push_with(data.len(), |out| out.extend_from_slice(data));
    }

    /// Queues (and counts) the bytes `encode` appends, at most `room` of them: in the last
    /// output buffer when they fit within [`COALESCE`], else in a new one.
    pub(crate) fn push_with(&mut self, room: usize, encode: impl FnOnce(&mut Vec<u8>)) {
        let fits = matches!(self.chunks.back(), Some(Chunk::Bytes { buf, .. }) if buf.len() + room <= COALESCE);
        if !fits {
            self.chunks.push_back(Chunk::Bytes {
                buf: Vec::with_capacity(room),
                pos: 0,
            });
        }
        let Some(Chunk::Bytes { buf, .. }) = self.chunks.back_mut() else {
            unreachable!("a bytes buffer was just ensured");
        };
        let before = buf.len();
        encode(buf);
        let n = buf.len() - before;
        if buf.is_empty() {
            // Nothing was encoded: an empty buffer would make the next write return 0.
            self.chunks.pop_back();
        }
        self.flow.queued(n);
    }

    /// Queues `data` and counts it in the flow.
    pub(crate) fn push_owned(&mut self, data: Vec<u8>) {
        self.flow.queued(data.len());
        self.push_counted(data);
    }

    /// Queues `data`, already counted in the flow (by [`crate::Reply::send`]).
    pub(crate) fn push_counted(&mut self, data: Vec<u8>) {
        if data.is_empty() {
            return;
        }
        if let Some(Chunk::Bytes { buf, .. }) = self.chunks.back_mut() {
            if data.len() <= COPY_MAX && buf.len() + data.len() <= COALESCE {
                buf.extend_from_slice(&data);
                return;
            }
        }
        self.chunks.push_back(Chunk::Bytes { buf: data, pos: 0 });
    }

    /// Queues `len` bytes of `file` from `offset`, sent with `sendfile(2)` (not counted in
    /// the flow: they are not in memory).
    pub(crate) fn push_file(&mut self, file: Arc<BodyFile>, offset: u64, len: u64) {
        if len > 0 {
            self.chunks.push_back(Chunk::File {
                file,
                offset,
                left: len,
            });
        }
    }

    /// Writes queued output to `w` (whose descriptor is `fd`, for sendfile) until it is all
    /// written or the socket is full. Returns whether anything was written.
    pub(crate) fn flush(&mut self, w: &mut impl Write, fd: RawFd) -> io::Result<bool> {
        let mut progress = false;
        loop {
            let n = match self.chunks.front_mut() {
                None => return Ok(progress),
                Some(Chunk::File { file, offset, left }) => {
                    let count = (*left).min(SENDFILE_MAX as u64) as usize;
                    match sys::sendfile(fd, file.as_raw_fd(), offset, count) {
                        Ok(0) => {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shorter than announced",
                            ))
                        }
                        Ok(n) => {
                            *left -= n as u64;
                            if *left == 0 {
                                self.chunks.pop_front();
                            }
                            progress = true;
                            continue;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
                Some(Chunk::Bytes { .. }) => {
                    let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
                    let mut count = 0;
                    for c in self.chunks.iter().take(MAX_IOVECS) {
                        match c {
                            Chunk::Bytes { buf, pos } => {
                                slices[count] = IoSlice::new(&buf[*pos..]);
                                count += 1;
                            }
                            Chunk::File { .. } => break,
                        }
                    }
                    let r = if count == 1 {
                        w.write(&slices[0])
                    } else {
                        w.write_vectored(&slices[..count])
                    };
                    match r {
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(progress),
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            progress = true;
            self.flow.written(n);
            let mut left = n;
            while left > 0 {
                let Some(Chunk::Bytes { buf, pos }) = self.chunks.front_mut() else {
                    break;
                };
                let avail = buf.len() - *pos;
                if left >= avail {
                    left -= avail;
                    self.chunks.pop_front();
                } else {
                    *pos += left;
                    left = 0;
                }
            }
        }
    }

    /// What is queued, with file ranges read back (for tests).
    #[cfg(test)]
    pub(crate) fn contents(&self) -> Vec<u8> {
        use std::os::unix::fs::FileExt;
        let mut all = Vec::new();
        for c in &self.chunks {
            match c {
                Chunk::Bytes { buf, pos } => all.extend_from_slice(&buf[*pos..]),
                Chunk::File { file, offset, left } => {
                    let mut part = vec![0; *left as usize];
                    file.read_exact_at(&mut part, *offset).unwrap();
                    all.extend_from_slice(&part);
                }
            }
        }
        all
    }

    /// How many chunks are queued (for tests).
    #[cfg(test)]
    pub(crate) fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn read_all(s: &mut UnixStream, n: usize) -> Vec<u8> {
        let mut buf = vec![0; n];
        s.read_exact(&mut buf).unwrap();
        buf
    }

    #[test]
    fn small_pieces_coalesce_into_one_buffer() {
        let mut out = Output::new(Flow::new(1 << 20));
        out.push_bytes(b"head ");
        out.push_owned(b"body".to_vec());
        out.push_with(8, |v| v.extend_from_slice(b" end"));
        assert_eq!(out.chunks(), 1);
        assert_eq!(out.flow.pending(), 13);
        // A large owned buffer is queued as it is, not copied.
        out.push_owned(vec![b'x'; COPY_MAX + 1]);
        assert_eq!(out.chunks(), 2);
        // An encoder that writes nothing leaves no empty buffer behind.
        out.push_with(COALESCE, |_| {});
        assert_eq!(out.chunks(), 2);
    }

    #[test]
    fn flush_writes_everything_in_order_and_uncounts_it() {
        let (mut a, mut b) = pair();
        let mut out = Output::new(Flow::new(1 << 20));
        out.push_bytes(b"one ");
        out.push_owned(vec![b'2'; COPY_MAX + 10]);
        out.push_bytes(b" three");
        let fd = a.as_raw_fd();
        assert!(out.flush(&mut a, fd).unwrap());
        assert!(out.is_empty());
        assert_eq!(out.flow.pending(), 0);
        let got = read_all(&mut b, 4 + COPY_MAX + 10 + 6);
        assert!(got.starts_with(b"one 222"));
        assert!(got.ends_with(b"2 three"));
    }

    #[test]
    fn file_ranges_go_out_with_sendfile_between_bytes() {
        let (mut a, mut b) = pair();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"0123456789").unwrap();
        let mut out = Output::new(Flow::new(1 << 20));
        out.push_bytes(b"[");
        out.push_file(Arc::new(file.into()), 3, 4);
        out.push_bytes(b"]");
        assert_eq!(out.contents(), b"[3456]");
        // File bytes are not in memory: only the two brackets count.
        assert_eq!(out.flow.pending(), 2);
        let fd = a.as_raw_fd();
        out.flush(&mut a, fd).unwrap();
        assert!(out.is_empty());
        assert_eq!(read_all(&mut b, 6), b"[3456]");
    }

    #[test]
    fn a_full_socket_keeps_the_rest_queued() {
        let (mut a, mut b) = pair();
        let mut out = Output::new(Flow::new(1 << 30));
        let total = 8 << 20;
        out.push_owned(vec![7; total]);
        let fd = a.as_raw_fd();
        assert!(out.flush(&mut a, fd).unwrap());
        assert!(!out.is_empty(), "a socket buffer holds less than 8 MiB");
        let pending = out.flow.pending();
        assert!(pending > 0 && pending < total);
        // The reader drains; the rest goes out.
        let reader = std::thread::spawn(move || read_all(&mut b, total));
        while !out.is_empty() {
            out.flush(&mut a, fd).unwrap();
            std::thread::yield_now();
        }
        assert_eq!(out.flow.pending(), 0);
        assert!(reader.join().unwrap().iter().all(|&x| x == 7));
    }

    #[test]
    fn a_file_shorter_than_announced_is_an_error() {
        let (mut a, _b) = pair();
        let mut out = Output::new(Flow::new(1 << 20));
        out.push_file(Arc::new(tempfile::tempfile().unwrap().into()), 0, 10);
        let fd = a.as_raw_fd();
        let e = out.flush(&mut a, fd).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
