//! The bank under `SIGKILL`: a child process (this binary running only
//! [`child_bank`]) runs transfers from 4 threads, each transaction also
//! recording its thread's transfer count (`last/<t>`), and prints `ack t
//! c` once transfer `c` of thread `t` committed. The parent kills it after
//! a random 20-200 ms, reopens, and checks that the total is unchanged (no
//! torn transaction) and that no acknowledged transfer is lost; the next
//! child continues in the same directory. `RILLKV_CRASH_CYCLES` cycles
//! (default 20).

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use rillkv::Db;

use super::bank::{ACCOUNTS, INITIAL, create_accounts, opts, total, transfer};
use super::num;
use crate::support::{child_command, env_num, run_then_kill, seed};

const ENV_DIR: &str = "RILLKV_TXN_KILL_CHILD_DIR";
const THREADS: u64 = 4;

fn last_key(t: u64) -> Vec<u8> {
    format!("last/{t}").into_bytes()
}

#[test]
fn child_bank() {
    let Ok(dir) = std::env::var(ENV_DIR) else {
        return;
    };
    let db = Db::open(&dir, opts()).expect("child: open");
    create_accounts(&db);
    // The leading newline ends libtest's unterminated "test ... " line.
    std::io::stdout().write_all(b"\nstart\n").expect("stdout");
    for t in 0..THREADS {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut rng = fastrand::Rng::new();
            let mut count = num(db.get(last_key(t)).expect("get"));
            loop {
                let next = (count + 1).to_le_bytes();
                if transfer(&db, &mut rng, Some((&last_key(t), &next))) {
                    count += 1;
                    // One write(2) per line: never a partial line.
                    let line = format!("ack {t} {count}\n");
                    std::io::stdout()
                        .write_all(line.as_bytes())
                        .expect("stdout");
                }
            }
        });
    }
    // The transfers run until the parent kills this process.
    std::thread::sleep(Duration::from_secs(3600));
}

#[test]
fn sigkill_keeps_the_bank_total_and_every_acknowledged_transfer() {
    let cycles = env_num("RILLKV_CRASH_CYCLES", 20);
    let mut rng = fastrand::Rng::with_seed(seed("txn kill loop"));
    let dir = tempfile::tempdir().expect("tempdir");
    let mut acked_total = 0;
    for cycle in 0..cycles {
        let mut cmd = child_command(module_path!(), "child_bank");
        cmd.env(ENV_DIR, dir.path());
        let lines = run_then_kill(cmd, Duration::from_millis(rng.u64(20..=200)));
        let mut acked: BTreeMap<u64, u64> = BTreeMap::new();
        for l in &lines {
            let mut parts = l
                .strip_prefix("ack ")
                .into_iter()
                .flat_map(str::split_whitespace);
            if let (Some(Ok(t)), Some(Ok(c))) = (
                parts.next().map(str::parse::<u64>),
                parts.next().map(str::parse::<u64>),
            ) {
                let e = acked.entry(t).or_default();
                *e = (*e).max(c);
                acked_total += 1;
            }
        }
        let db = Db::open(dir.path(), opts()).expect("reopen after kill");
        let (sum, accounts) = total(&db);
        if accounts > 0 {
            assert_eq!(
                (sum, accounts),
                (ACCOUNTS * INITIAL, ACCOUNTS as usize),
                "cycle {cycle}: a torn transaction"
            );
        }
        for (t, c) in acked {
            let kept = num(db.get(last_key(t)).expect("get"));
            assert!(
                kept >= c,
                "cycle {cycle}: thread {t} acked {c}, only {kept} survived"
            );
        }
        db.close().expect("close");
    }
    eprintln!("txn kill loop: {cycles} cycles, {acked_total} acknowledged transfers");
    assert!(acked_total > 0, "no child ever committed a transfer");
}
