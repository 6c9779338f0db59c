//! [`TreeShape`]: what the merge policy sees of a version — runs, tables,
//! key ranges and sizes, no I/O handles — so the policy is a pure function
//! that tests and the simulator can drive without files.

use bytes::Bytes;

use super::key_range::{KeyRange, overlap_groups};

/// One table as the policy sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    /// File number.
    pub number: u64,
    /// Smallest and largest user key.
    pub range: KeyRange,
    /// Bytes on disk.
    pub size: u64,
}

/// One sorted run: tables with disjoint key ranges.
///
/// Runs are ordered by `id`: for any user key, the tables that may hold it
/// (at most one per run) hold newer versions the larger their run's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunShape {
    /// The run's id; larger is newer.
    pub id: u64,
    /// Its tables, sorted by key.
    pub tables: Vec<TableShape>,
}

/// The shape of the tree: its runs, newest (largest id) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeShape {
    /// Runs, newest first.
    pub runs: Vec<RunShape>,
}

/// An overlap group: tables whose key ranges overlap transitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverlapGroup {
    /// The smallest range covering every table of the group.
    pub range: KeyRange,
    /// The group's part of each run that has tables in it, newest run
    /// first: `(run id, table numbers, bytes)`.
    pub runs: Vec<GroupRun>,
    /// The most tables of the group whose ranges hold one same key.
    pub depth: usize,
}

/// One run's part of an overlap group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRun {
    /// The run's id.
    pub id: u64,
    /// Tables of the run inside the group, sorted by key.
    pub tables: Vec<u64>,
    /// Their total size.
    pub bytes: u64,
}

impl OverlapGroup {
    /// Total bytes of the group.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![
    ///     run(2, &[(20, "a", "m", 300)]),
    ///     run(1, &[(10, "k", "z", 100), (11, "zz", "zzz", 50)]),
    /// ]);
    /// let groups = shape.overlap_groups();
    /// assert_eq!(groups[0].bytes(), 400);
    /// assert_eq!(groups[1].bytes(), 50);
    /// ```
    pub fn bytes(&self) -> u64 {
        self.runs.iter().map(|r| r.bytes).sum()
    }

    /// Number of tables in the group.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![
    ///     run(2, &[(20, "a", "m", 300)]),
    ///     run(1, &[(10, "k", "z", 100), (11, "zz", "zzz", 50)]),
    /// ]);
    /// let tables: Vec<usize> = shape.overlap_groups().iter().map(|g| g.tables()).collect();
    /// assert_eq!(tables, vec![2, 1]);
    /// ```
    pub fn tables(&self) -> usize {
        self.runs.iter().map(|r| r.tables.len()).sum()
    }

    /// How many tables a point read in the group's range may probe at
    /// most: the largest number of the group's tables whose ranges hold
    /// one same key. At most the number of runs in the group; for a chain
    /// of staggered tables it stays small however long the chain.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// // A chain: a..c overlaps b..e, which overlaps d..f; no key is in all three.
    /// let shape = TreeShape::new(vec![
    ///     run(3, &[(30, "d", "f", 100)]),
    ///     run(2, &[(20, "b", "e", 100)]),
    ///     run(1, &[(10, "a", "c", 100)]),
    /// ]);
    /// let groups = shape.overlap_groups();
    /// assert_eq!(groups.len(), 1);
    /// assert_eq!((groups[0].runs.len(), groups[0].depth()), (3, 2));
    /// ```
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The overlap ratio: the fraction of the group's bytes outside its
    /// largest run, `1 - largest_run_bytes / group_bytes`. 0 for a group
    /// with one run; it bounds the group's space amplification from
    /// duplicates by `1 / (1 - ratio)`.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![
    ///     run(2, &[(20, "a", "z", 100)]),
    ///     run(1, &[(10, "a", "z", 300)]),
    /// ]);
    /// let group = &shape.overlap_groups()[0];
    /// assert_eq!(group.overlap_ratio(), 0.25, "100 of 400 bytes lie outside the largest run");
    /// ```
    pub fn overlap_ratio(&self) -> f64 {
        let total = self.bytes();
        if total == 0 {
            return 0.0;
        }
        let largest = self.runs.iter().map(|r| r.bytes).max().unwrap_or(0);
        1.0 - largest as f64 / total as f64
    }
}

/// The largest number of `ranges` holding one same key: a sweep over the
/// range endpoints, O(N log N). Closed ranges: a range ending at `k` and one
/// starting at `k` both hold `k`.
fn point_depth<'a>(ranges: impl Iterator<Item = &'a KeyRange>) -> usize {
    // (key, 0 = start, 1 = end): at equal keys starts sort first.
    let mut events: Vec<(&Bytes, u8)> = Vec::new();
    for r in ranges {
        events.push((&r.min, 0));
        events.push((&r.max, 1));
    }
    events.sort_unstable();
    let (mut open, mut best) = (0usize, 0usize);
    for (_, kind) in events {
        if kind == 0 {
            open += 1;
            best = best.max(open);
        } else {
            open = open.saturating_sub(1);
        }
    }
    best
}

impl TreeShape {
    /// Builds a shape from `(run id, tables)` pairs in any order.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![
    ///     run(1, &[(12, "m", "z", 10), (11, "a", "f", 10)]),
    ///     run(2, &[(20, "a", "z", 10)]),
    /// ]);
    /// let ids: Vec<u64> = shape.runs.iter().map(|r| r.id).collect();
    /// assert_eq!(ids, vec![2, 1], "newest run first");
    /// let tables: Vec<u64> = shape.runs[1].tables.iter().map(|t| t.number).collect();
    /// assert_eq!(tables, vec![11, 12], "each run's tables sorted by key");
    /// ```
    pub fn new(mut runs: Vec<RunShape>) -> Self {
        runs.sort_by_key(|r| std::cmp::Reverse(r.id));
        for r in &mut runs {
            r.tables.sort_by(|a, b| a.range.min.cmp(&b.range.min));
        }
        TreeShape { runs }
    }

    /// The tree's overlap groups, in key order. O(N log N) in the number of
    /// tables.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![
    ///     run(2, &[(20, "a", "c", 100), (21, "x", "z", 100)]),
    ///     run(1, &[(10, "b", "d", 100)]),
    /// ]);
    /// let groups = shape.overlap_groups();
    /// assert_eq!(groups.len(), 2);
    /// assert_eq!(groups[0].range, KeyRange::new("a", "d"));
    /// let runs: Vec<(u64, Vec<u64>)> = groups[0].runs.iter().map(|r| (r.id, r.tables.clone())).collect();
    /// assert_eq!(runs, vec![(2, vec![20]), (1, vec![10])]);
    /// ```
    pub fn overlap_groups(&self) -> Vec<OverlapGroup> {
        let tables: Vec<(usize, &TableShape)> = self
            .runs
            .iter()
            .enumerate()
            .flat_map(|(ri, r)| r.tables.iter().map(move |t| (ri, t)))
            .collect();
        let ranges: Vec<KeyRange> = tables.iter().map(|(_, t)| t.range.clone()).collect();
        overlap_groups(&ranges)
            .into_iter()
            .map(|members| {
                // Collect per run, keeping runs newest first.
                let mut per_run: Vec<(usize, GroupRun)> = Vec::new();
                let mut range: Option<KeyRange> = None;
                let depth = point_depth(members.iter().filter_map(|&i| ranges.get(i)));
                for idx in members {
                    let Some(&(ri, t)) = tables.get(idx) else {
                        continue;
                    };
                    range = Some(match range {
                        Some(r) => r.union(&t.range),
                        None => t.range.clone(),
                    });
                    match per_run.iter_mut().find(|(r, _)| *r == ri) {
                        Some((_, g)) => {
                            g.tables.push(t.number);
                            g.bytes += t.size;
                        }
                        None => per_run.push((
                            ri,
                            GroupRun {
                                id: self.runs.get(ri).map_or(0, |r| r.id),
                                tables: vec![t.number],
                                bytes: t.size,
                            },
                        )),
                    }
                }
                per_run.sort_by_key(|(ri, _)| *ri);
                OverlapGroup {
                    range: range.unwrap_or_else(|| KeyRange::new(Bytes::new(), Bytes::new())),
                    runs: per_run.into_iter().map(|(_, g)| g).collect(),
                    depth,
                }
            })
            .collect()
    }

    /// The deepest overlap group's depth: the most tables a point read may
    /// probe. Backpressure counts "sorted runs" this way.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![
    ///     run(3, &[(30, "a", "c", 10)]),
    ///     run(2, &[(20, "a", "c", 10), (21, "x", "z", 10)]),
    ///     run(1, &[(10, "a", "c", 10)]),
    /// ]);
    /// assert_eq!(shape.max_depth(), 3, "three tables hold the keys a..c");
    /// assert_eq!(TreeShape::default().max_depth(), 0);
    /// ```
    pub fn max_depth(&self) -> usize {
        self.overlap_groups()
            .iter()
            .map(OverlapGroup::depth)
            .max()
            .unwrap_or(0)
    }

    /// Total bytes of every table.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![run(2, &[(20, "a", "c", 100)]), run(1, &[(10, "x", "z", 50)])]);
    /// assert_eq!(shape.bytes(), 150);
    /// ```
    pub fn bytes(&self) -> u64 {
        self.runs
            .iter()
            .flat_map(|r| &r.tables)
            .map(|t| t.size)
            .sum()
    }

    /// Number of tables.
    ///
    /// ```
    /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
    /// # fn run(id: u64, tables: &[(u64, &str, &str, u64)]) -> RunShape {
    /// #     let tables = tables.iter().map(|&(number, min, max, size)| TableShape {
    /// #         number, range: KeyRange::new(min.to_owned(), max.to_owned()), size,
    /// #     }).collect();
    /// #     RunShape { id, tables }
    /// # }
    /// let shape = TreeShape::new(vec![run(2, &[(20, "a", "c", 100), (21, "d", "e", 1)]), run(1, &[(10, "x", "z", 50)])]);
    /// assert_eq!(shape.table_count(), 3);
    /// ```
    pub fn table_count(&self) -> usize {
        self.runs.iter().map(|r| r.tables.len()).sum()
    }
}
