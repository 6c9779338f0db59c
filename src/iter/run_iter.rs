//! [`RunIter`]: one sorted run read as one stream, opening its tables one
//! at a time in the iteration direction.

use std::collections::VecDeque;
use std::ops::Bound;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::key::InternalKey;
use crate::table::{Direction, TableIter};
use crate::version::TableFile;

/// Concatenates the tables of a run (disjoint, sorted) within bounds.
pub(crate) struct RunIter {
    /// Tables still to read, in iteration order.
    tables: VecDeque<Arc<TableFile>>,
    bounds: (Bound<InternalKey>, Bound<InternalKey>),
    direction: Direction,
    current: Option<TableIter>,
    failed: bool,
}

impl RunIter {
    /// `tables` must be the run's tables overlapping the bounds, sorted by
    /// key ascending.
    pub(crate) fn new(
        tables: Vec<Arc<TableFile>>,
        bounds: (Bound<InternalKey>, Bound<InternalKey>),
        direction: Direction,
    ) -> Self {
        let mut tables: VecDeque<_> = tables.into();
        if direction == Direction::Reverse {
            tables = tables.into_iter().rev().collect();
        }
        RunIter {
            tables,
            bounds,
            direction,
            current: None,
            failed: false,
        }
    }
}

impl Iterator for RunIter {
    type Item = Result<(InternalKey, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(it) = &mut self.current {
                match it.next() {
                    Some(Err(e)) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                    Some(ok) => return Some(ok),
                    None => self.current = None,
                }
            }
            let file = self.tables.pop_front()?;
            match file.table() {
                Ok(table) => self.current = Some(table.iter(self.bounds.clone(), self.direction)),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
    }
}
