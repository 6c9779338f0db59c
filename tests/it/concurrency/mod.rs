//! Many threads at once: group commit, write stalls, reads during
//! background work, and a long stress run.

mod concurrent_writers;
mod reads_match_model_during_background_work;
mod stress;
mod write_stall_backpressure;
