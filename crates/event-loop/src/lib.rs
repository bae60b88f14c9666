//! ruwsgi-event-loop: the mio event loop of one ruwsgi worker.
//!
//! (Crate front page to be written with the implementation.)

#![deny(missing_docs)]

mod handler;
mod reply;

pub use handler::{Address, Body, Gone, Handler, Head, Protocol, Request, ResponseHead};
pub use reply::Reply;
