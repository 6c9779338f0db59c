//! An Elle-style list-append checker: transactions read lists and append
//! unique values to them; from the observed reads it infers each key's
//! version order and the dependencies between committed transactions
//! (write-write, write-read, read-write), and fails with the cycle
//! printed when they admit no serial order.
//!
//! Assumptions (the workload's): every appended value is unique; a
//! transaction does its reads before its appends; a final read of every
//! key, after all transactions, is part of the history (so every
//! committed append has a known position).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Read `key`, which held this list.
    Read(u64, Vec<u64>),
    /// Appended this value to `key`.
    Append(u64, u64),
}

/// A committed transaction's operations.
#[derive(Debug, Clone, Default)]
pub struct Txn {
    pub ops: Vec<Op>,
}

/// A dependency between two transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dep {
    /// `a` appended the value before `b`'s on the key.
    Ww(u64),
    /// `b` read `a`'s append (as its last element).
    Wr(u64),
    /// `a` read a list that `b`'s append later extended.
    Rw(u64),
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dep::Ww(k) => write!(f, "ww(key {k})"),
            Dep::Wr(k) => write!(f, "wr(key {k})"),
            Dep::Rw(k) => write!(f, "rw(key {k})"),
        }
    }
}

/// Checks `committed` (indexed by position) and the values appended by
/// transactions that failed (`aborted`, which no read may show).
///
/// # Errors
/// A description of the anomaly: a read no single order explains, an
/// aborted or lost append, or a dependency cycle with its edges.
pub fn check(committed: &[Txn], aborted: &[u64]) -> Result<(), String> {
    let mut writer: HashMap<u64, usize> = HashMap::new();
    for (i, t) in committed.iter().enumerate() {
        for op in &t.ops {
            if let Op::Append(_, v) = op
                && writer.insert(*v, i).is_some()
            {
                return Err(format!("value {v} appended twice"));
            }
        }
    }
    // The version order of each key: the longest read; every read a prefix.
    let mut order: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for t in committed {
        for op in &t.ops {
            if let Op::Read(k, list) = op {
                let longest = order.entry(*k).or_default();
                if list.len() > longest.len() {
                    *longest = list.clone();
                }
            }
        }
    }
    for (i, t) in committed.iter().enumerate() {
        for op in &t.ops {
            match op {
                Op::Read(k, list) => {
                    let longest = &order[k];
                    if !longest.starts_with(list) {
                        return Err(format!(
                            "T{i} read key {k} as {list:?}, not a prefix of {longest:?}: no \
                             single order of appends explains both"
                        ));
                    }
                    if let Some(v) = list.iter().find(|v| aborted.contains(v)) {
                        return Err(format!(
                            "T{i} read {v} on key {k}, appended by an aborted txn"
                        ));
                    }
                    if let Some(v) = list.iter().find(|v| !writer.contains_key(v)) {
                        return Err(format!("T{i} read {v} on key {k}, which nobody appended"));
                    }
                }
                Op::Append(k, v) => {
                    if !order.get(k).is_some_and(|o| o.contains(v)) {
                        return Err(format!("T{i}'s committed append of {v} to key {k} is lost"));
                    }
                }
            }
        }
    }
    // Edges.
    let mut edges: Vec<Vec<(usize, Dep)>> = vec![Vec::new(); committed.len()];
    for (k, list) in &order {
        for pair in list.windows(2) {
            let (a, b) = (writer[&pair[0]], writer[&pair[1]]);
            if a != b {
                edges[a].push((b, Dep::Ww(*k)));
            }
        }
    }
    for (i, t) in committed.iter().enumerate() {
        for op in &t.ops {
            let Op::Read(k, list) = op else { continue };
            if let Some(last) = list.last() {
                let w = writer[last];
                if w != i {
                    edges[w].push((i, Dep::Wr(*k)));
                }
            }
            if let Some(next) = order[k].get(list.len()) {
                let w = writer[next];
                if w != i {
                    edges[i].push((w, Dep::Rw(*k)));
                }
            }
        }
    }
    match find_cycle(&edges) {
        None => Ok(()),
        Some(cycle) => {
            let mut text = String::from("dependency cycle (no serial order): ");
            for (from, dep, to) in &cycle {
                text.push_str(&format!("T{from} -{dep}-> T{to}; "));
            }
            for (from, _, _) in &cycle {
                text.push_str(&format!("\n  T{from}: {:?}", committed[*from].ops));
            }
            Err(text)
        }
    }
}

/// A cycle in the graph, as its edges, found by an iterative depth-first
/// search.
fn find_cycle(edges: &[Vec<(usize, Dep)>]) -> Option<Vec<(usize, Dep, usize)>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnStack,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for root in 0..edges.len() {
        if mark[root] != Mark::New {
            continue;
        }
        // (node, next edge index, edge that led here)
        let mut stack: Vec<(usize, usize, Option<Dep>)> = vec![(root, 0, None)];
        mark[root] = Mark::OnStack;
        while let Some(&mut (node, ref mut next, _)) = stack.last_mut() {
            if let Some(&(to, dep)) = edges[node].get(*next) {
                *next += 1;
                match mark[to] {
                    Mark::New => {
                        mark[to] = Mark::OnStack;
                        stack.push((to, 0, Some(dep)));
                    }
                    Mark::OnStack => {
                        let start = stack.iter().position(|(n, _, _)| *n == to)?;
                        let mut cycle = Vec::new();
                        for w in stack[start..].windows(2) {
                            let dep = w[1].2?;
                            cycle.push((w[0].0, dep, w[1].0));
                        }
                        cycle.push((node, dep, to));
                        return Some(cycle);
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

#[test]
fn a_serial_history_passes() {
    let t = |ops| Txn { ops };
    let history = [
        t(vec![Op::Read(1, vec![]), Op::Append(1, 10)]),
        t(vec![
            Op::Read(1, vec![10]),
            Op::Append(1, 11),
            Op::Append(2, 20),
        ]),
        t(vec![Op::Read(1, vec![10, 11]), Op::Read(2, vec![20])]),
    ];
    assert_eq!(check(&history, &[]), Ok(()));
}

#[test]
fn write_skew_is_a_cycle_and_is_printed() {
    let t = |ops| Txn { ops };
    // Each reads the other's key empty, then appends to its own.
    let history = [
        t(vec![Op::Read(2, vec![]), Op::Append(1, 10)]),
        t(vec![Op::Read(1, vec![]), Op::Append(2, 20)]),
        t(vec![Op::Read(1, vec![10]), Op::Read(2, vec![20])]),
    ];
    let err = check(&history, &[]).expect_err("write skew");
    assert!(
        err.contains("T0 -rw(key 2)-> T1") || err.contains("T1 -rw(key 1)-> T0"),
        "{err}"
    );
    assert!(err.contains("cycle"), "{err}");
}

#[test]
fn aborted_and_lost_appends_are_anomalies() {
    let t = |ops| Txn { ops };
    let read_aborted = [t(vec![Op::Read(1, vec![99])])];
    assert!(
        check(&read_aborted, &[99])
            .expect_err("aborted read")
            .contains("aborted")
    );
    let lost = [t(vec![Op::Append(1, 5)]), t(vec![Op::Read(1, vec![])])];
    assert!(check(&lost, &[]).expect_err("lost").contains("lost"));
    let forked = [
        t(vec![Op::Append(1, 5)]),
        t(vec![Op::Append(1, 6)]),
        t(vec![Op::Read(1, vec![5])]),
        t(vec![Op::Read(1, vec![6, 5])]),
    ];
    assert!(
        check(&forked, &[])
            .expect_err("fork")
            .contains("not a prefix")
    );
}
