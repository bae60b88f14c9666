//! [`Value`]: one value of an option as a source gave it, with its origin.

use crate::source::Origin;
use crate::table::Typed;

/// One value of an option, with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value {
    /// The value, validated and normalised: flags are `true`/`false`, numbers plain digits,
    /// an option given alone holds its implied value (`chmod-socket` alone is `666`).
    pub value: String,
    /// Where it came from.
    pub origin: Origin,
    /// The value as its option's kind read it, for the typed extraction.
    pub(crate) typed: Typed,
}

impl Value {
    pub(crate) fn new(typed: Typed, origin: Origin) -> Value {
        Value {
            value: typed.to_string(),
            origin,
            typed,
        }
    }
}
