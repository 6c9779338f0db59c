//! The write-ahead log: torn tails, flipped bits, preallocation.

mod bit_flip;
mod preallocation;
mod torn_tail;
