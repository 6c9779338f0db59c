//! An append-only list per key with the built-in `Append` merge operator:
//! each event is one `merge`, kept in order, joined by a delimiter.
//!
//! ```text
//! cargo run --release --example append
//! ```

use rillkv::merge::Append;
use rillkv::{Db, Options};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let opts = || Options::default().merge_operator(Append::new(","));
    let db = Db::open(dir.path(), opts())?;
    db.put("log:alice", "signed-up")?;
    for event in ["login", "view:/blog", "logout"] {
        db.merge("log:alice", event)?;
    }
    db.merge("log:bob", "signed-up")?;
    db.merge("log:bob", "login")?;
    db.flush()?;
    db.close()?;

    let db = Db::open(dir.path(), opts())?;
    for item in db.prefix("log:") {
        let (key, value) = item?;
        println!(
            "{} = {}",
            String::from_utf8_lossy(&key),
            String::from_utf8_lossy(&value)
        );
    }
    let alice = db.get("log:alice")?.unwrap_or_default();
    if &alice[..] != b"signed-up,login,view:/blog,logout" {
        return Err(format!("alice's log is {alice:?}").into());
    }
    db.close()?;
    Ok(())
}
