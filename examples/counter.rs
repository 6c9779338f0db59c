//! Page-view counters with the built-in `U64Add` merge operator: every view
//! is one `merge`, never a read-modify-write. Prints the busiest pages.
//!
//! ```text
//! cargo run --release --example counter [DIR]
//! ```

use rillkv::merge::U64Add;
use rillkv::{Db, Options, WriteBatch};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| tmp.path().join("counter"), Into::into);
    let db = Db::open(&dir, Options::default().merge_operator(U64Add))?;
    let pages = ["/", "/about", "/blog", "/blog/lsm", "/pricing"];
    // 100,000 views, skewed towards the last pages.
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..100 {
        let mut batch = WriteBatch::new();
        for _ in 0..1000 {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let page = pages[(rng % 31 + 1).ilog2() as usize];
            batch.merge(format!("views:{page}"), 1u64.to_le_bytes());
        }
        db.write(batch)?;
    }
    db.flush()?;
    let mut total = 0;
    for item in db.prefix("views:") {
        let (key, value) = item?;
        let n = u64::from_le_bytes(value[..].try_into()?);
        total += n;
        println!("{:<20}{n:>8}", String::from_utf8_lossy(&key));
    }
    if total != 100_000 {
        return Err(format!("counted {total} views, expected 100000").into());
    }
    println!("{:<20}{total:>8}", "total");
    db.close()?;
    Ok(())
}
