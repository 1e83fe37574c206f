//! A session's waved orders by the time each counts as at risk ([`super::keys::session_risk`]):
//! one record per wave, `wave|ms id,id…;ms id…`, appended with a newline to the session's log
//! by `commit_wave.lua`, pruned by `risk_prune.lua`; builds from issue 20's fifteenth session to
//! before its twenty-second kept the same records as the members of a sorted set
//! ([`super::keys::session_risk_waves`]). Order and wave ids are `A-Z a-z 0-9 . _ -`, so the
//! separators cannot occur in them.

use std::collections::{HashMap, HashSet};

use super::waves::WaveOrder;
use super::StoreError;

/// A record's entries: (from when the order counts as at risk in ms, its id), in the order
/// written.
type Entries<'a> = Vec<(i64, &'a str)>;

/// The records of a log, in the order appended (an empty line, as a log never holds, is
/// skipped). Bytes: a record that is not UTF-8 is the reader's to leave out, not the log's.
pub(crate) fn records(log: &[u8]) -> impl Iterator<Item = &[u8]> {
    log.split(|b| *b == b'\n').filter(|r| !r.is_empty())
}

/// A record's (or a member's) wave and entries.
pub(crate) fn parse(member: &str) -> Result<(&str, Entries<'_>), StoreError> {
    let bad = || StoreError::Corrupt(format!("a session risk record: {member:?}"));
    let (wave, groups) = member.split_once('|').ok_or_else(bad)?;
    let mut out = Vec::new();
    for group in groups.split(';').filter(|g| !g.is_empty()) {
        let (ms, ids) = group.split_once(' ').ok_or_else(bad)?;
        let ms: i64 = ms.parse().map_err(|_| bad())?;
        out.extend(
            ids.split(',')
                .filter(|id| !id.is_empty())
                .map(|id| (ms, id)),
        );
    }
    Ok((wave, out))
}

/// One session's part of a wave commit: its orders in the wave, and its risk record (with
/// its newline, as appended to the log).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SessionWave<'a> {
    pub seller: &'a str,
    pub session: &'a str,
    pub orders: usize,
    pub record: String,
}

/// Per session of a wave's orders (first seen first), its count and its risk record: the
/// ids grouped by their time (times and ids first seen first).
pub(crate) fn of_wave<'a>(wave_id: &str, orders: &'a [WaveOrder]) -> Vec<SessionWave<'a>> {
    let mut out: Vec<SessionWave<'a>> = Vec::new();
    let mut groups: Vec<Vec<(i64, Vec<&'a str>)>> = Vec::new();
    let mut index: HashMap<(&'a str, &'a str), usize> = HashMap::new();
    for o in orders {
        let i = *index
            .entry((o.seller.as_str(), o.session.as_str()))
            .or_insert_with(|| {
                out.push(SessionWave {
                    seller: &o.seller,
                    session: &o.session,
                    orders: 0,
                    record: String::new(),
                });
                groups.push(Vec::new());
                out.len() - 1
            });
        out[i].orders += 1;
        match groups[i].iter_mut().find(|(ms, _)| *ms == o.risk_from_ms) {
            Some((_, ids)) => ids.push(&o.order_id),
            None => groups[i].push((o.risk_from_ms, vec![o.order_id.as_str()])),
        }
    }
    for (e, times) in out.iter_mut().zip(groups) {
        let entries: Entries<'_> = times
            .iter()
            .flat_map(|(ms, ids)| ids.iter().map(move |id| (*ms, *id)))
            .collect();
        e.record = write_member(wave_id, &entries);
        e.record.push('\n');
    }
    out
}

/// A member of `wave` with `entries` in their order: each run of ids of the same time is one
/// group (`ms id,id`), groups separated by `;`.
fn write_member(wave: &str, entries: &[(i64, &str)]) -> String {
    let mut out = String::with_capacity(wave.len() + 1 + 20 * entries.len());
    out.push_str(wave);
    out.push('|');
    let mut last: Option<i64> = None;
    for &(ms, id) in entries {
        if last == Some(ms) {
            out.push(',');
        } else {
            if last.is_some() {
                out.push(';');
            }
            out.push_str(&ms.to_string());
            out.push(' ');
            last = Some(ms);
        }
        out.push_str(id);
    }
    out
}

/// What pruning makes of a member.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pruned {
    /// None of the orders is in it.
    Unchanged,
    /// Every order of it is gone.
    Empty,
    /// The member that replaces it, and its score (its earliest time).
    Left { member: String, score: i64 },
}

/// The log without the orders of `gone` (`None`: none of them is in it): records that lose
/// every order go, the others keep their place.
pub(crate) fn prune_log(log: &[u8], gone: &HashSet<&str>) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(log.len());
    let mut changed = false;
    for record in records(log) {
        // A record that does not parse is kept as it is (the reader leaves it out and logs it).
        let pruned = std::str::from_utf8(record)
            .ok()
            .and_then(|r| prune(r, gone).ok());
        match pruned {
            Some(Pruned::Unchanged) | None => out.extend_from_slice(record),
            Some(Pruned::Empty) => {
                changed = true;
                continue;
            }
            Some(Pruned::Left { member, .. }) => {
                changed = true;
                out.extend_from_slice(member.as_bytes());
            }
        }
        out.push(b'\n');
    }
    changed.then_some(out)
}

/// The member (or record) without the orders of `gone`.
pub(crate) fn prune(member: &str, gone: &HashSet<&str>) -> Result<Pruned, StoreError> {
    let (wave, entries) = parse(member)?;
    if !entries.iter().any(|(_, id)| gone.contains(id)) {
        return Ok(Pruned::Unchanged);
    }
    let left: Entries<'_> = entries
        .into_iter()
        .filter(|(_, id)| !gone.contains(id))
        .collect();
    let Some(score) = left.iter().map(|(ms, _)| *ms).min() else {
        return Ok(Pruned::Empty);
    };
    Ok(Pruned::Left {
        member: write_member(wave, &left),
        score,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_in_the_order_written() {
        let m = "W-hub-20261205-3|1733371200000 A-1,B.2,c_3;0 D-4";
        let (wave, entries) = parse(m).unwrap();
        assert_eq!(wave, "W-hub-20261205-3");
        assert_eq!(
            entries,
            vec![
                (1_733_371_200_000, "A-1"),
                (1_733_371_200_000, "B.2"),
                (1_733_371_200_000, "c_3"),
                (0, "D-4")
            ]
        );
        assert_eq!(parse("W|").unwrap(), ("W", vec![]));
    }

    #[test]
    fn a_wave_makes_one_record_per_session_with_its_count() {
        let order = |seller: &str, session: &str, id: &str, ms: i64| WaveOrder {
            seller: seller.into(),
            session: session.into(),
            order_id: id.into(),
            parcel_id: format!("P-{id}"),
            risk_from_ms: ms,
        };
        let orders = [
            order("s1", "live-a", "A-1", 500),
            order("s2", "live-a", "B-1", 0),
            order("s1", "live-a", "A-2", 300),
            order("s1", "live-a", "A-3", 500),
            order("s1", "live-b", "C-1", 900),
        ];
        let got = of_wave("W-7", &orders);
        let summary: Vec<_> = got
            .iter()
            .map(|e| (e.seller, e.session, e.orders, e.record.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("s1", "live-a", 3, "W-7|500 A-1,A-3;300 A-2\n"),
                ("s2", "live-a", 1, "W-7|0 B-1\n"),
                ("s1", "live-b", 1, "W-7|900 C-1\n"),
            ]
        );
        // What the reader makes of it: every order once, with its time.
        let log = format!("{}{}", got[0].record, got[1].record);
        let read: Vec<_> = records(log.as_bytes()).collect();
        assert_eq!(read, [&b"W-7|500 A-1,A-3;300 A-2"[..], b"W-7|0 B-1"]);
        let (wave, entries) = parse(&got[0].record[..got[0].record.len() - 1]).unwrap();
        assert_eq!(wave, "W-7");
        assert_eq!(entries, vec![(500, "A-1"), (500, "A-3"), (300, "A-2")]);
        assert!(of_wave("W-8", &[]).is_empty());
    }

    #[test]
    fn a_damaged_member_is_an_error_not_a_panic() {
        for m in ["W 1 A", "W|x A", "W|12", "W|12A", "W| A", "W|;;1 A;x", ""] {
            assert!(matches!(parse(m), Err(StoreError::Corrupt(_))), "{m:?}");
        }
    }

    #[test]
    fn orders_leave_their_group_empty_groups_go_and_the_score_follows() {
        let m = "W|5 A,B;0 C;7 D";
        let gone = |ids: &[&'static str]| ids.iter().copied().collect::<HashSet<&str>>();
        let left = |member: &str, score: i64| Pruned::Left {
            member: member.into(),
            score,
        };
        assert_eq!(prune(m, &gone(&["B"])).unwrap(), left("W|5 A;0 C;7 D", 0));
        assert_eq!(prune(m, &gone(&["C"])).unwrap(), left("W|5 A,B;7 D", 5));
        assert_eq!(prune(m, &gone(&["A", "B", "C"])).unwrap(), left("W|7 D", 7));
        assert_eq!(prune(m, &gone(&["X"])).unwrap(), Pruned::Unchanged);
        assert_eq!(
            prune(m, &gone(&["A", "B", "C", "D"])).unwrap(),
            Pruned::Empty
        );
        let Pruned::Left { member, .. } = prune(m, &gone(&["A", "D"])).unwrap() else {
            panic!("two left");
        };
        assert_eq!(parse(&member).unwrap(), ("W", vec![(5, "B"), (0, "C")]));
    }

    #[test]
    fn a_log_loses_pruned_orders_and_emptied_records_and_keeps_the_rest_in_place() {
        let gone = |ids: &[&'static str]| ids.iter().copied().collect::<HashSet<&str>>();
        let log = b"W-1|5 A,B;0 C\nW-2|7 D\nW-3 damaged\nW-4|9 \xff\nW-5|9 E\n";
        assert_eq!(prune_log(log, &gone(&["X"])), None);
        assert_eq!(
            prune_log(log, &gone(&["B", "D"])).as_deref(),
            Some(&b"W-1|5 A;0 C\nW-3 damaged\nW-4|9 \xff\nW-5|9 E\n"[..])
        );
        assert_eq!(
            prune_log(log, &gone(&["A", "B", "C", "D", "E"])).as_deref(),
            Some(&b"W-3 damaged\nW-4|9 \xff\n"[..])
        );
        assert_eq!(
            prune_log(b"W-2|7 D\n", &gone(&["D"])).as_deref(),
            Some(&b""[..])
        );
        assert_eq!(prune_log(b"", &gone(&["D"])), None);
    }
}
