//! Opening a database again: after a clean close, right after a recovery,
//! in each `RecoveryMode`, across manifest rollovers.

mod format_fixtures;
mod manifest_rollover;
mod modes;
mod reopen_after_clean_close;
mod reopen_right_after_recovery;
mod skip_corrupted;
mod synced_write_after_reopen_covers_replayed_writes;
mod writes_after_recovery_survive_point_in_time_reopen;
