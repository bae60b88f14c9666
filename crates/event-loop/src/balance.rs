//! [`Balance`]: what a worker's loop tells its sibling workers, and learns from them, so
//! that connections spread over the workers.
//!
//! A worker takes a new connection into an idle thread first (`Handler::idle`). When no
//! worker has one — every thread busy, the clients keeping their connections alive — the
//! connection goes to the worker holding the fewest connections, one at a time, rather than
//! waiting in the kernel's queue until some worker drains. And a keep-alive connection
//! belongs to the worker that accepted it: which one that is was decided by a race when the
//! client connected (a pool of 32 connections opening at once lands on whichever worker was
//! quickest in that millisecond), and a worker holding too few connections then idles
//! between its clients' requests while its sibling queues them. So a worker that has fallen
//! behind — every thread busy while a sibling has an idle one — and holds more than its
//! share of connections ([`over_share`]) answers the responses it finishes on keep-alive
//! connections with `Connection: close`: those clients reconnect and land on the worker with
//! room. Once the counts are even, or no sibling is idle, no connection is closed.

/// What the loop learns about its ready sibling workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Siblings {
    /// The fewest connections a sibling holds (`None`: no sibling).
    pub least_connections: Option<usize>,
    /// Whether some sibling has an idle thread (a new connection should go there).
    pub any_idle: bool,
}

/// Shares one worker's load with its siblings (the process crate does it over the
/// scoreboard in shared memory). Both calls run on the loop thread and must be cheap.
pub trait Balance: Send {
    /// The loop holds `connections` client connections and its handler has `idle` idle
    /// threads (called when either changes).
    fn publish(&mut self, connections: usize, idle: usize);

    /// The siblings' latest published figures.
    fn siblings(&self) -> Siblings;
}

/// Whether a worker holding `mine` connections holds more than its share when the sibling
/// holding the fewest holds `least`: at least 2 more and over 25 % more. The margins keep
/// the counts of a balanced server, which wobble by a connection or two as clients come
/// and go, from closing connections back and forth.
pub fn over_share(mine: usize, least: usize) -> bool {
    mine >= least + 2 && mine * 4 > least * 5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_clear_excess_is_over_share() {
        assert!(over_share(26, 6));
        assert!(over_share(20, 12));
        assert!(over_share(2, 0));
        assert!(!over_share(17, 15), "within 25 %");
        assert!(!over_share(1, 0), "one connection more");
        assert!(!over_share(16, 16));
        assert!(!over_share(6, 26));
    }
}
