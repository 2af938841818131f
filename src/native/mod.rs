//! The on-disk format: segment files, their footers, manifests and commits, and the build
//! buffers behind the writers. Knows nothing of Arrow.
//!
//! Byte-level specification: `docs/FORMAT.md`. Every multi-byte integer on disk is
//! little-endian.

pub mod bitpack;
pub mod blocks;
pub mod buffer;
pub mod codec;
pub mod column_builder;
pub mod column_encoder;
pub mod deletion;
pub mod delta;
pub mod encoding;
pub mod encoding_choice;
pub mod footer;
pub mod layout;
pub mod lock;
pub mod manifest;
pub mod names;
pub mod packed_predicate;
pub mod schema;
pub mod segment;
pub mod segment_writer;
pub mod sort_key_pairs;
pub mod table_dir;
pub mod vacuum;
pub mod writer_marks;

/// Magic bytes at the start of every segment file.
pub const SEGMENT_MAGIC: [u8; 8] = *b"QUIVSEG\0";
/// Magic bytes at the end of every segment file.
pub const TRAILER_MAGIC: [u8; 8] = *b"QUIVEND\0";
/// Newest version of the segment format this build reads and writes (manifests have their
/// own: [`manifest::MANIFEST_FORMAT_VERSION`]). Writers write [`RAW_FORMAT_VERSION`] for a
/// segment without encoded columns, so that such segments stay readable by version-2 readers.
pub const FORMAT_VERSION: u32 = 3;
/// The segment format version of segments whose columns are all in the raw layout.
pub const RAW_FORMAT_VERSION: u32 = 2;
/// Bytes in a segment header.
pub const HEADER_LEN: u64 = 64;
/// Bytes in a segment trailer.
pub const TRAILER_LEN: u64 = 32;
/// Every region starts at a multiple of this many bytes.
pub const ALIGNMENT: u64 = 64;
