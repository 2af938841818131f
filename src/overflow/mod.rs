//! The overflow bag: sparse and schemaless properties stored per row instead of as dense
//! columns (docs/FORMAT.md, "Overflow bag"). Knows nothing of Arrow.
//!
//! A column whose fill rate in a segment is under a threshold is written here rather than as a
//! dense column: each row gets one blob of `[u16 count]` then `[u64 key][u8 tag][payload]`
//! entries ([`blob`]); keys are FNV-1a 64 hashes of the column names, mapped back to names and
//! type records by the segment footer's dictionary ([`keys`]); per-key posting lists let a
//! read of one key visit only the rows that hold it ([`bag`]).

#![forbid(unsafe_code)]

pub mod bag;
pub mod blob;
pub mod keys;

pub use bag::Bag;
pub use blob::{BlobWriter, Entries, Tag, Value};
pub use keys::{key_hash, tag_for, KeyDictionary};
