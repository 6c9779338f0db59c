//! Damaged and malformed files: targeted and random bit flips, crafted
//! fields behind valid checksums, bad paths, and `Db::verify`.

mod bad_inputs;
mod detected;
mod sweep;
mod verify_reports_damage;
