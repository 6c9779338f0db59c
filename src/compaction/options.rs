//! `CompactionOptions`: when and how the merge policy compacts, and the
//! memory and threads one compaction may use.

use crate::error::{Error, Result};

/// How the tree is compacted: the merge policy's triggers and the merge
/// engine's budget. A consuming builder; every field is documented with its
/// default and its valid range (checked by [`Db::open`](crate::Db::open),
/// which returns `InvalidArgument` otherwise). The crate docs say
/// [when to change which](crate#choosing-compaction-options).
///
/// ```
/// use rillkv::CompactionOptions;
/// let c = CompactionOptions::default()
///     .max_merge_files(8)
///     .overlap_ratio_trigger(0.5)
///     .max_memory(256 << 20);
/// assert_eq!(c.max_merge_files, 8);
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CompactionOptions {
    /// A key range whose point reads may probe this many tables (an overlap
    /// group with this many runs) is always compacted. Also the number of
    /// runs past which runs made only of non-overlapping tables are folded
    /// into one (no bytes rewritten). Default: 8. At least 2.
    pub max_merge_files: usize,
    /// A group whose overlap ratio — the fraction of its bytes outside its
    /// largest run — exceeds this is merged whole. Bounds space
    /// amplification by `1 / (1 - ratio)`. Default: 0.5. Between 0 and 1,
    /// both excluded.
    pub overlap_ratio_trigger: f64,
    /// Memory one compaction may use for its merges, all workers together:
    /// fan-in, buffers and compression state are fitted to it, and a merge
    /// of more runs than fit runs in rounds (see
    /// [`fan_in_for`](crate::compaction::fan_in_for)). Default: 256 MiB. At
    /// least 8 MiB.
    pub max_memory: u64,
    /// Runs of similar size merged together once this many accumulate.
    /// Default: 4. At least 2.
    pub min_merge_width: usize,
    /// A run is "similar" to a window of newer runs when its size is at
    /// most this × the window's size. Default: 1.0. Positive.
    pub tier_size_ratio: f64,
    /// Upper bound on the number of runs one merge reads at once. Default:
    /// 32. At least 2.
    pub max_fan_in: usize,
    /// Threads one compaction uses (sub-jobs by key range, parallel rounds);
    /// they share `max_memory`. Default: half the cores, at least 1, at
    /// most 8. Between 1 and 64.
    pub merge_workers: usize,
    /// Compaction splits its output into tables of about this size, on
    /// user-key boundaries. Default: 64 MiB. At least 64 KiB.
    pub target_table_size: u64,
    /// Writes slow down (1 ms per commit group) once a point read may probe
    /// this many tables in some key range. Default: 20. Needs
    /// `max_merge_files <= slowdown_runs < stop_runs`.
    pub slowdown_runs: usize,
    /// Writes stop until compaction catches up once a point read may probe
    /// this many tables; they fail with `Io` instead if background
    /// compaction keeps failing. A soft bound: memtables sealed before the
    /// stop still flush, so the depth can pass it by up to
    /// `max_sealed_memtables`. Default: 36.
    pub stop_runs: usize,
    /// Whether a background thread compacts automatically. Default: true.
    /// With `false` the tree is compacted only by
    /// [`Db::compact`](crate::Db::compact) and
    /// [`Db::compact_range`](crate::Db::compact_range), and writes are
    /// never slowed or stopped by `slowdown_runs` and `stop_runs` (nothing
    /// would drain the runs): the caller bounds the tree.
    pub background: bool,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        CompactionOptions {
            max_merge_files: 8,
            overlap_ratio_trigger: 0.5,
            max_memory: 256 << 20,
            min_merge_width: 4,
            tier_size_ratio: 1.0,
            max_fan_in: 32,
            merge_workers: (cores / 2).clamp(1, 8),
            target_table_size: 64 << 20,
            slowdown_runs: 20,
            stop_runs: 36,
            background: true,
        }
    }
}

macro_rules! setter {
    ($(#[$doc:meta])* $name:ident: $ty:ty) => {
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = value;
            self
        }
    };
}

impl CompactionOptions {
    setter!(
        /// Sets [`max_merge_files`](Self::max_merge_files).
        ///
        /// ```
        /// use rillkv::CompactionOptions;
        /// use rillkv::compaction::{CompactionPolicy, CompactionReason, TieredPolicy};
        /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
        /// # // Runs newest first, each one table over the same keys.
        /// # fn runs(sizes: &[u64]) -> TreeShape {
        /// #     let n = sizes.len() as u64;
        /// #     TreeShape::new(sizes.iter().zip(0..).map(|(&size, i)| RunShape {
        /// #         id: n - i,
        /// #         tables: vec![TableShape { number: n - i, range: KeyRange::new("a", "z"), size }],
        /// #     }).collect())
        /// # }
        /// // Three runs over the same keys: a point read there may probe 3 tables.
        /// let shape = runs(&[100, 100, 100]);
        /// let c = CompactionOptions::default().overlap_ratio_trigger(0.99).min_merge_width(10);
        /// let job = TieredPolicy.pick(&shape, &c.clone().max_merge_files(3));
        /// assert_eq!(job.map(|j| j.reason), Some(CompactionReason::FileCount));
        /// assert!(TieredPolicy.pick(&shape, &c.max_merge_files(4)).is_none());
        /// ```
        max_merge_files: usize
    );
    setter!(
        /// Sets [`overlap_ratio_trigger`](Self::overlap_ratio_trigger).
        ///
        /// ```
        /// use rillkv::CompactionOptions;
        /// use rillkv::compaction::{CompactionPolicy, CompactionReason, TieredPolicy};
        /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
        /// # // Runs newest first, each one table over the same keys.
        /// # fn runs(sizes: &[u64]) -> TreeShape {
        /// #     let n = sizes.len() as u64;
        /// #     TreeShape::new(sizes.iter().zip(0..).map(|(&size, i)| RunShape {
        /// #         id: n - i,
        /// #         tables: vec![TableShape { number: n - i, range: KeyRange::new("a", "z"), size }],
        /// #     }).collect())
        /// # }
        /// // A small run over a big one: 10% of the group's bytes may be duplicates.
        /// let shape = runs(&[100, 900]);
        /// let c = CompactionOptions::default().overlap_ratio_trigger(0.05);
        /// let job = TieredPolicy.pick(&shape, &c);
        /// assert_eq!(job.map(|j| j.reason), Some(CompactionReason::OverlapRatio));
        /// assert!(TieredPolicy.pick(&shape, &CompactionOptions::default()).is_none());
        /// ```
        overlap_ratio_trigger: f64
    );
    setter!(
        /// Sets [`max_memory`](Self::max_memory).
        ///
        /// ```
        /// use rillkv::{CompactionOptions, compaction::fan_in_for};
        /// // One worker: (8 MiB - 4 MiB for the output) / 256 KiB per input.
        /// let c = CompactionOptions::default().merge_workers(1).max_memory(8 << 20);
        /// assert_eq!(fan_in_for(&c), 16);
        /// ```
        max_memory: u64
    );
    setter!(
        /// Sets [`min_merge_width`](Self::min_merge_width).
        ///
        /// ```
        /// use rillkv::CompactionOptions;
        /// use rillkv::compaction::{CompactionPolicy, CompactionReason, TieredPolicy};
        /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
        /// # // Runs newest first, each one table over the same keys.
        /// # fn runs(sizes: &[u64]) -> TreeShape {
        /// #     let n = sizes.len() as u64;
        /// #     TreeShape::new(sizes.iter().zip(0..).map(|(&size, i)| RunShape {
        /// #         id: n - i,
        /// #         tables: vec![TableShape { number: n - i, range: KeyRange::new("a", "z"), size }],
        /// #     }).collect())
        /// # }
        /// let shape = runs(&[100, 100, 100]); // three runs of the same size
        /// let c = CompactionOptions::default().overlap_ratio_trigger(0.99);
        /// assert!(TieredPolicy.pick(&shape, &c).is_none(), "3 runs < 4");
        /// let job = TieredPolicy.pick(&shape, &c.min_merge_width(3));
        /// assert_eq!(job.map(|j| j.reason), Some(CompactionReason::SizeTiered));
        /// ```
        min_merge_width: usize
    );
    setter!(
        /// Sets [`tier_size_ratio`](Self::tier_size_ratio).
        ///
        /// ```
        /// use rillkv::CompactionOptions;
        /// use rillkv::compaction::{CompactionPolicy, CompactionReason, TieredPolicy};
        /// # use rillkv::compaction::{KeyRange, RunShape, TableShape, TreeShape};
        /// # // Runs newest first, each one table over the same keys.
        /// # fn runs(sizes: &[u64]) -> TreeShape {
        /// #     let n = sizes.len() as u64;
        /// #     TreeShape::new(sizes.iter().zip(0..).map(|(&size, i)| RunShape {
        /// #         id: n - i,
        /// #         tables: vec![TableShape { number: n - i, range: KeyRange::new("a", "z"), size }],
        /// #     }).collect())
        /// # }
        /// // Each run about twice the size of the newer ones together.
        /// let shape = runs(&[100, 150, 300, 600]);
        /// let c = CompactionOptions::default().overlap_ratio_trigger(0.99);
        /// assert!(TieredPolicy.pick(&shape, &c).is_none());
        /// let job = TieredPolicy.pick(&shape, &c.tier_size_ratio(2.0)).expect("a job");
        /// assert_eq!((job.reason, job.inputs.len()), (CompactionReason::SizeTiered, 4));
        /// ```
        tier_size_ratio: f64
    );
    setter!(
        /// Sets [`max_fan_in`](Self::max_fan_in).
        ///
        /// ```
        /// use rillkv::CompactionOptions;
        /// use rillkv::compaction::{fan_in_for, rounds_for};
        /// let c = CompactionOptions::default().max_fan_in(4);
        /// assert_eq!(fan_in_for(&c), 4);
        /// assert_eq!(rounds_for(10, fan_in_for(&c)), 2, "10 runs: one earlier round, then the last");
        /// ```
        max_fan_in: usize
    );
    setter!(
        /// Sets [`merge_workers`](Self::merge_workers).
        ///
        /// ```
        /// use rillkv::{CompactionOptions, compaction::fan_in_for};
        /// // Workers share max_memory: the more of them, the smaller each merge.
        /// let c = CompactionOptions::default().max_memory(16 << 20);
        /// assert_eq!(fan_in_for(&c.clone().merge_workers(1)), 32); // capped by max_fan_in
        /// assert_eq!(fan_in_for(&c.merge_workers(2)), 16);
        /// ```
        merge_workers: usize
    );
    setter!(
        /// Sets [`target_table_size`](Self::target_table_size).
        ///
        /// ```
        /// # fn main() -> rillkv::Result<()> {
        /// # let dir = tempfile::tempdir()?;
        /// use rillkv::{CompactionOptions, Db, Options};
        /// let c = CompactionOptions::default().target_table_size(64 << 10);
        /// let db = Db::open(dir.path(), Options::default().compaction(c))?;
        /// let mut x = 1u64;
        /// for i in 0..2000u32 {
        ///     // 100 bytes of noise per value, which compression cannot shrink.
        ///     let value: Vec<u8> = (0..100)
        ///         .map(|_| {
        ///             x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ///             (x >> 56) as u8
        ///         })
        ///         .collect();
        ///     db.put(i.to_be_bytes(), value)?;
        /// }
        /// db.compact()?;
        /// let stats = db.stats();
        /// assert_eq!(stats.runs.len(), 1);
        /// assert!(stats.runs[0].tables.len() >= 3, "about 200 KiB cut into tables of about 64 KiB");
        /// # Ok(()) }
        /// ```
        target_table_size: u64
    );
    setter!(
        /// Sets [`slowdown_runs`](Self::slowdown_runs).
        ///
        /// ```
        /// # fn main() -> rillkv::Result<()> {
        /// # let dir = tempfile::tempdir()?;
        /// use rillkv::{CompactionOptions, Db, ErrorKind, Options};
        /// let c = CompactionOptions::default().max_merge_files(4).slowdown_runs(6).stop_runs(10);
        /// let db = Db::open(dir.path(), Options::default().compaction(c))?;
        /// # drop(db);
        /// let below_max_merge_files = CompactionOptions::default().slowdown_runs(4);
        /// let err = Db::open(dir.path(), Options::default().compaction(below_max_merge_files));
        /// assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidArgument);
        /// # Ok(()) }
        /// ```
        slowdown_runs: usize
    );
    setter!(
        /// Sets [`stop_runs`](Self::stop_runs).
        ///
        /// ```
        /// # fn main() -> rillkv::Result<()> {
        /// # let dir = tempfile::tempdir()?;
        /// use rillkv::{CompactionOptions, Db, ErrorKind, Options};
        /// let not_above_slowdown = CompactionOptions::default().stop_runs(20);
        /// let err = Db::open(dir.path(), Options::default().compaction(not_above_slowdown));
        /// assert_eq!(err.unwrap_err().kind(), ErrorKind::InvalidArgument);
        /// let db = Db::open(dir.path(), Options::default().compaction(CompactionOptions::default().stop_runs(64)))?;
        /// # drop(db);
        /// # Ok(()) }
        /// ```
        stop_runs: usize
    );
    setter!(
        /// Sets [`background`](Self::background).
        ///
        /// ```
        /// # fn main() -> rillkv::Result<()> {
        /// # let dir = tempfile::tempdir()?;
        /// use rillkv::{CompactionOptions, Db, Options};
        /// let c = CompactionOptions::default().background(false).max_merge_files(2);
        /// let db = Db::open(dir.path(), Options::default().compaction(c))?;
        /// for round in ["1", "2", "3"] {
        ///     db.put(b"k", round)?;
        ///     db.flush()?;
        /// }
        /// assert_eq!(db.stats().runs.len(), 3, "nothing compacts by itself");
        /// db.compact()?;
        /// assert_eq!(db.stats().runs.len(), 1);
        /// # Ok(()) }
        /// ```
        background: bool
    );

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::invalid(format!("compaction option {what}")));
        if self.max_merge_files < 2 {
            return bad("max_merge_files must be at least 2");
        }
        if !(self.overlap_ratio_trigger > 0.0 && self.overlap_ratio_trigger < 1.0) {
            return bad("overlap_ratio_trigger must be between 0 and 1 (exclusive)");
        }
        if self.max_memory < 8 << 20 {
            return bad("max_memory must be at least 8 MiB");
        }
        if self.min_merge_width < 2 {
            return bad("min_merge_width must be at least 2");
        }
        if !(self.tier_size_ratio.is_finite() && self.tier_size_ratio > 0.0) {
            return bad("tier_size_ratio must be a positive number");
        }
        if self.max_fan_in < 2 {
            return bad("max_fan_in must be at least 2");
        }
        if !(1..=64).contains(&self.merge_workers) {
            return bad("merge_workers must be between 1 and 64");
        }
        if self.target_table_size < 64 << 10 {
            return bad("target_table_size must be at least 64 KiB");
        }
        if self.slowdown_runs < self.max_merge_files || self.stop_runs <= self.slowdown_runs {
            return bad("needs max_merge_files <= slowdown_runs < stop_runs");
        }
        Ok(())
    }
}
