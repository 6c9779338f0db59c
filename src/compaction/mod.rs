//! Compaction: how flush and compaction rewrite a sorted stream of versions
//! into fewer versions without changing what any reader can see.
//!
//! Today this holds the collapsing step shared by flush; the merge policy
//! and the K-way merge engine join it here.

mod collapse;

pub(crate) use collapse::{Collapse, CollapseOptions};
