//! A session's waved orders by the time each counts as at risk ([`super::keys::session_risk`]):
//! one hash field per wave, `ms id,id…;ms id…`, written by `commit_wave.lua` (order ids are
//! `A-Z a-z 0-9 . _ -`, so the separators cannot occur in them).

use std::collections::HashSet;

use super::StoreError;

/// The entries of one wave's field: (from when the order counts as at risk in ms, its id).
pub(crate) fn parse(value: &str) -> Result<Vec<(i64, &str)>, StoreError> {
    let mut out = Vec::new();
    for group in value.split(';').filter(|g| !g.is_empty()) {
        let bad = || StoreError::Corrupt(format!("a session risk entry: {group:?}"));
        let (ms, ids) = group.split_once(' ').ok_or_else(bad)?;
        let ms: i64 = ms.parse().map_err(|_| bad())?;
        out.extend(
            ids.split(',')
                .filter(|id| !id.is_empty())
                .map(|id| (ms, id)),
        );
    }
    Ok(out)
}

/// The field without the orders of `gone` (`None`: none left), or the same text when none of
/// them is in it.
pub(crate) fn without(value: &str, gone: &HashSet<&str>) -> Result<Option<String>, StoreError> {
    let entries = parse(value)?;
    if !entries.iter().any(|(_, id)| gone.contains(id)) {
        return Ok(Some(value.to_owned()));
    }
    let mut out = String::with_capacity(value.len());
    let mut last: Option<i64> = None;
    for (ms, id) in entries.into_iter().filter(|(_, id)| !gone.contains(id)) {
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
    Ok((!out.is_empty()).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_in_the_order_written() {
        let v = "1733371200000 A-1,B.2,c_3;0 D-4";
        assert_eq!(
            parse(v).unwrap(),
            vec![
                (1_733_371_200_000, "A-1"),
                (1_733_371_200_000, "B.2"),
                (1_733_371_200_000, "c_3"),
                (0, "D-4")
            ]
        );
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn a_damaged_field_is_an_error_not_a_panic() {
        for v in ["x A", "12", "12A", " A", ";;1 A;x"] {
            assert!(matches!(parse(v), Err(StoreError::Corrupt(_))), "{v:?}");
        }
    }

    #[test]
    fn orders_leave_their_group_and_empty_groups_go() {
        let v = "5 A,B;0 C;7 D";
        let gone = |ids: &[&'static str]| ids.iter().copied().collect::<HashSet<&str>>();
        assert_eq!(
            without(v, &gone(&["B"])).unwrap().as_deref(),
            Some("5 A;0 C;7 D")
        );
        assert_eq!(
            without(v, &gone(&["C"])).unwrap().as_deref(),
            Some("5 A,B;7 D")
        );
        assert_eq!(without(v, &gone(&["X"])).unwrap().as_deref(), Some(v));
        assert_eq!(without(v, &gone(&["A", "B", "C", "D"])).unwrap(), None);
        let left = without(v, &gone(&["A", "D"])).unwrap().unwrap();
        assert_eq!(parse(&left).unwrap(), vec![(5, "B"), (0, "C")]);
    }
}
