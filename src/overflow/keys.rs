//! Bag keys: the 64-bit FNV-1a hash of a property name, the dictionary back to names, and
//! which value tag each column type is stored with.
//!
//! # Contract
//! - [`key_hash`] is FNV-1a 64 over the name's UTF-8 bytes (offset basis
//!   `0xcbf29ce484222325`, prime `0x100000001b3`).
//! - [`KeyDictionary::insert`] refuses a second name with the same hash (a collision) and a
//!   name inserted twice: a bag never holds two keys it cannot tell apart.
//! - [`tag_for`] names the one tag a key of a given type is stored with; types without one
//!   (nested, interval, null) are never routed to the bag.

use std::collections::HashMap;

use super::blob::Tag;
use crate::native::schema::ColumnType;

/// FNV-1a 64 of `name`.
pub fn key_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The tag values of a column of type `t` are stored with in the bag, or `None` if such a
/// column always stays dense.
pub fn tag_for(t: &ColumnType) -> Option<Tag> {
    use ColumnType::*;
    Some(match t {
        Boolean => Tag::Bool,
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 => Tag::Int64,
        Date64 | Time32(_) | Time64(_) | Duration(_) => Tag::Int64,
        UInt32 => Tag::UInt32,
        UInt64 => Tag::UInt64,
        Float16 => Tag::Float16,
        Float32 => Tag::Float32,
        Float64 => Tag::Float64,
        Date32 => Tag::Date32,
        Timestamp(..) => Tag::Timestamp,
        Decimal32(..) | Decimal64(..) | Decimal128(..) => Tag::Decimal128,
        Decimal256(..) => Tag::Decimal256,
        Utf8 | LargeUtf8 | Utf8View => Tag::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => Tag::Binary,
        Dictionary(_, value) => return tag_for(value),
        Null | Interval(_) | List | LargeList | FixedSizeList(_) | Struct | Map(_) => return None,
    })
}

/// Hash -> key index, built from names; refuses collisions.
#[derive(Debug, Default, Clone)]
pub struct KeyDictionary {
    names: Vec<String>,
    by_hash: HashMap<u64, usize>,
}

/// Two names a dictionary cannot hold together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("overflow keys \"{first}\" and \"{second}\" have the same 64-bit hash {hash:#018x}")]
pub struct KeyCollision {
    /// The name already in the dictionary.
    pub first: String,
    /// The name refused.
    pub second: String,
    /// Their common hash.
    pub hash: u64,
}

impl KeyDictionary {
    /// An empty dictionary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `name` under its [`key_hash`]; returns its index.
    pub fn insert(&mut self, name: &str) -> Result<usize, KeyCollision> {
        self.insert_hashed(key_hash(name), name)
    }

    /// Adds `name` under `hash` (split out so collisions can be tested).
    pub(crate) fn insert_hashed(&mut self, hash: u64, name: &str) -> Result<usize, KeyCollision> {
        if let Some(&i) = self.by_hash.get(&hash) {
            return Err(KeyCollision {
                first: self.names[i].clone(),
                second: name.to_owned(),
                hash,
            });
        }
        self.by_hash.insert(hash, self.names.len());
        self.names.push(name.to_owned());
        Ok(self.names.len() - 1)
    }

    #[cfg(test)]
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_hash_is_fnv1a_64() {
        // Published FNV-1a 64 test vectors.
        assert_eq!(key_hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(key_hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(key_hash("foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn a_hash_collision_between_two_names_is_refused_naming_both() {
        let mut d = KeyDictionary::new();
        d.insert_hashed(42, "color").unwrap();
        let err = d.insert_hashed(42, "colour").unwrap_err();
        assert_eq!(
            (err.first.as_str(), err.second.as_str()),
            ("color", "colour")
        );
        assert!(err.to_string().contains("\"color\" and \"colour\""));
        assert_eq!(d.len(), 1);
    }

    #[test]
    fn the_same_name_twice_is_refused() {
        let mut d = KeyDictionary::new();
        d.insert("x").unwrap();
        assert!(d.insert("x").is_err());
    }

    #[test]
    fn nested_and_interval_types_never_go_to_the_bag() {
        use crate::native::schema::IntervalUnit;
        for t in [
            ColumnType::Null,
            ColumnType::Struct,
            ColumnType::List,
            ColumnType::Interval(IntervalUnit::DayTime),
        ] {
            assert_eq!(tag_for(&t), None, "{t:?}");
        }
        assert_eq!(tag_for(&ColumnType::Utf8View), Some(Tag::String));
    }
}
