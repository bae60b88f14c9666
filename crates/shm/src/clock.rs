//! The board's clock.

use std::time::{SystemTime, UNIX_EPOCH};

/// Microseconds since the Unix epoch: the unit of every time on the board (0 means "none").
/// Wall-clock time, so a stats reader in another process can show it as a date.
pub fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}
