//! The sort-key metadata pairs (docs/FORMAT.md, "Sort key"): `quiver.sort_key.0`,
//! `quiver.sort_key.1`, … naming a sort key's columns, in a segment footer's table metadata
//! (the segment's rows are in that order) and in a manifest's properties (the table's key).
//!
//! # Contract
//! - [`to_pairs`] and [`names_in`] are inverses: `names_in(&to_pairs(names)) == Some(names)` for
//!   any non-empty `names`; `names_in` reads positions from 0 up to the first missing one.

/// Prefix of the keys naming the key columns.
pub const SORT_KEY_PREFIX: &str = "quiver.sort_key.";

/// `names` as metadata pairs, sorted by key.
pub fn to_pairs(names: &[String]) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (format!("{SORT_KEY_PREFIX}{i}"), n.clone()))
        .collect();
    pairs.sort();
    pairs
}

/// The key names recorded in `pairs`, if any.
pub fn names_in(pairs: &[(String, String)]) -> Option<Vec<String>> {
    let mut names = Vec::new();
    while let Some((_, v)) = pairs
        .iter()
        .find(|(k, _)| *k == format!("{SORT_KEY_PREFIX}{}", names.len()))
    {
        names.push(v.clone());
    }
    (!names.is_empty()).then_some(names)
}

/// Removes every sort-key pair from `pairs`.
pub fn strip(pairs: &mut Vec<(String, String)>) {
    pairs.retain(|(k, _)| !k.starts_with(SORT_KEY_PREFIX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_round_trip_past_ten_columns_in_key_order() {
        let names: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
        let mut pairs = to_pairs(&names);
        assert_eq!(names_in(&pairs), Some(names));
        pairs.push(("other".into(), "x".into()));
        strip(&mut pairs);
        assert_eq!(pairs, vec![("other".to_string(), "x".to_string())]);
        assert_eq!(names_in(&pairs), None);
    }
}
