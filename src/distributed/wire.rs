//! The protobuf messages Quiver's plan codecs put on the wire (prost), and the one framing
//! rule they share.
//!
//! # Contract
//! - Every message is preceded by [`MAGIC`] and a version byte ([`WIRE_VERSION`]); [`framed`]
//!   writes both, [`unframe`] checks them and hands back the message bytes. A buffer without
//!   the magic is not Quiver's ([`Unframed::NotOurs`]: the logical codec then passes it to
//!   Ballista's own codec); a known magic with another version byte is an error naming both.
//! - Decoding is prost's, which refuses malformed bytes with an error; nothing here sizes an
//!   allocation from a number in the message.

use datafusion_proto::protobuf::PhysicalExprNode;
use prost::Message;

/// The first bytes of every Quiver plan-codec message.
pub(crate) const MAGIC: &[u8; 6] = b"QUIVER";

/// The message layout version after [`MAGIC`]; bumped on any incompatible change.
pub(crate) const WIRE_VERSION: u8 = 1;

/// A Quiver table in a logical plan: its directory and the version pinned when the query was
/// planned.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TableNode {
    #[prost(string, tag = "1")]
    pub(crate) path: String,
    #[prost(uint64, tag = "2")]
    pub(crate) version: u64,
    /// Strings and binaries served as views.
    #[prost(bool, tag = "3")]
    pub(crate) string_view: bool,
}

impl TableNode {
    /// Version `version` of the table in `path`, strings served as views or not; refused when
    /// the path is not UTF-8 (other nodes could not be told it).
    pub(crate) fn new(
        path: &std::path::Path,
        version: u64,
        string_view: bool,
    ) -> datafusion::common::Result<Self> {
        let path = path.to_str().ok_or_else(|| {
            datafusion::common::DataFusionError::Plan(format!(
                "table path {} is not UTF-8 and cannot be sent to other nodes",
                path.display()
            ))
        })?;
        Ok(Self {
            path: path.to_owned(),
            version,
            string_view,
        })
    }
}

/// One zone of a shipped scan (`sql/source/shipped.rs`).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct UnitNode {
    #[prost(uint64, tag = "1")]
    pub(crate) segment: u64,
    #[prost(uint64, tag = "2")]
    pub(crate) zone: u64,
    #[prost(uint64, tag = "3")]
    pub(crate) start: u64,
    #[prost(uint64, tag = "4")]
    pub(crate) end: u64,
    #[prost(uint64, tag = "5")]
    pub(crate) pending: u64,
}

/// A Quiver scan in a physical plan: the table and the planned scan's parts.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct ScanNode {
    #[prost(message, optional, tag = "1")]
    pub(crate) table: Option<TableNode>,
    #[prost(uint64, repeated, tag = "2")]
    pub(crate) projection: Vec<u64>,
    /// The exact filter's conjuncts, in evaluation order, over the full table schema.
    #[prost(message, repeated, tag = "3")]
    pub(crate) filters: Vec<PhysicalExprNode>,
    #[prost(message, optional, tag = "4")]
    pub(crate) pruning: Option<PhysicalExprNode>,
    #[prost(message, repeated, tag = "5")]
    pub(crate) units: Vec<UnitNode>,
    /// Where each partition's range of `units` ends (partition `p` is
    /// `partition_ends[p-1]..partition_ends[p]`).
    #[prost(uint64, repeated, tag = "6")]
    pub(crate) partition_ends: Vec<u64>,
    #[prost(uint64, optional, tag = "7")]
    pub(crate) fetch: Option<u64>,
    #[prost(uint64, tag = "8")]
    pub(crate) batch_size: u64,
    #[prost(uint64, tag = "9")]
    pub(crate) total_zones: u64,
}

/// `message` encoded behind [`MAGIC`] and [`WIRE_VERSION`], appended to `buf`.
pub(crate) fn framed(message: &impl Message, buf: &mut Vec<u8>) {
    buf.reserve(MAGIC.len() + 1 + message.encoded_len());
    buf.extend_from_slice(MAGIC);
    buf.push(WIRE_VERSION);
    message.encode_raw(buf);
}

/// What [`unframe`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unframed<'a> {
    /// A Quiver message: its bytes after the frame.
    Ours(&'a [u8]),
    /// Not a Quiver message.
    NotOurs,
}

/// The message bytes of a framed buffer (see the module contract).
pub(crate) fn unframe(buf: &[u8]) -> Result<Unframed<'_>, String> {
    let Some(rest) = buf.strip_prefix(MAGIC.as_slice()) else {
        return Ok(Unframed::NotOurs);
    };
    match rest.split_first() {
        Some((&WIRE_VERSION, message)) => Ok(Unframed::Ours(message)),
        Some((&v, _)) => Err(format!(
            "Quiver plan message of wire version {v}; this build reads version {WIRE_VERSION}"
        )),
        None => Err("Quiver plan message cut short after its magic bytes".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_messages_round_trip_and_other_bytes_are_not_ours() {
        let node = TableNode {
            path: "/data/t".into(),
            version: 7,
            string_view: true,
        };
        let mut buf = Vec::new();
        framed(&node, &mut buf);
        let Unframed::Ours(bytes) = unframe(&buf).unwrap() else {
            panic!("a framed message is ours");
        };
        assert_eq!(TableNode::decode(bytes).unwrap(), node);
        assert_eq!(unframe(b"\x0a\x03abc").unwrap(), Unframed::NotOurs);
        assert_eq!(unframe(b"").unwrap(), Unframed::NotOurs);
    }

    #[test]
    fn another_wire_version_or_a_cut_frame_is_an_error() {
        let err = unframe(b"QUIVER\x09rest").unwrap_err();
        assert!(err.contains("wire version 9"), "{err}");
        assert!(unframe(b"QUIVER").unwrap_err().contains("cut short"));
    }
}
