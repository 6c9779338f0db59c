//! Crashes and failing disks: power losses and I/O errors at every step of
//! a workload, a flush or a failed fsync, and `SIGKILL` of a child process
//! at random moments.

mod during_flush;
mod io_error_countdown;
mod kill_loop;
mod kill_loop_merges_compaction;
mod poison_after_failed_fsync;
mod recovery_fault_fs;
