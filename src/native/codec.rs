//! Little-endian encoding primitives shared by the segment footer and the manifest.
//!
//! # Contract
//! - `Encoder` appends little-endian integers, and length-prefixed (`u32`) strings and byte
//!   strings, to a `Vec<u8>`.
//! - `Decoder` reads them back from untrusted bytes: every read is bounds-checked, every length
//!   is checked against the bytes that remain *before* anything is allocated, and every string
//!   is checked to be UTF-8. A failure is a [`DecodeError`] naming the byte offset; never a panic.

use std::fmt;

/// Appends little-endian values to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    pub fn i128(&mut self, v: i128) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `u32` length, then the bytes. Lengths over `u32::MAX` are a caller bug: metadata
    /// values are bounded far below that by the writers.
    pub fn bytes(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).expect("metadata byte string longer than 4 GiB");
        self.u32(len);
        self.buf.extend_from_slice(v);
    }

    pub fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }

    /// A list of key/value string pairs: a `u32` count, then each key and value (the one
    /// encoding of column metadata, table metadata and manifest properties).
    pub fn pairs(&mut self, pairs: &[(String, String)]) {
        self.u32(pairs.len() as u32);
        for (k, v) in pairs {
            self.str(k);
            self.str(v);
        }
    }

    /// A `u8` presence flag (0 or 1), then the value if present.
    pub fn opt_bytes(&mut self, v: Option<&[u8]>) {
        match v {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }

    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// Why a `Decoder` stopped: the byte offset (from the start of the decoded buffer) and what
/// was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the fault from the start of the decoded bytes.
    pub offset: usize,
    /// What was expected there.
    pub detail: String,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.detail)
    }
}

/// Result of decoding.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// Reads little-endian values from untrusted bytes.
#[derive(Debug)]
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next byte, without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub fn error(&self, detail: impl fmt::Display) -> DecodeError {
        DecodeError {
            offset: self.pos,
            detail: detail.to_string(),
        }
    }

    fn take(&mut self, n: usize, what: &str) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(format!(
                "{what} needs {n} bytes but only {} remain",
                self.remaining()
            )));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> DecodeResult<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self, what: &str) -> DecodeResult<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub fn u32(&mut self, what: &str) -> DecodeResult<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub fn u64(&mut self, what: &str) -> DecodeResult<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    pub fn i128(&mut self, what: &str) -> DecodeResult<i128> {
        Ok(i128::from_le_bytes(self.array(what)?))
    }

    pub fn i64(&mut self, what: &str) -> DecodeResult<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    pub fn bool(&mut self, what: &str) -> DecodeResult<bool> {
        let at = self.pos;
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            v => Err(DecodeError {
                offset: at,
                detail: format!("{what} must be 0 or 1, found {v}"),
            }),
        }
    }

    pub fn bytes(&mut self, what: &str) -> DecodeResult<&'a [u8]> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    pub fn str(&mut self, what: &str) -> DecodeResult<&'a str> {
        let at = self.pos;
        let bytes = self.bytes(what)?;
        std::str::from_utf8(bytes).map_err(|e| DecodeError {
            offset: at,
            detail: format!("{what} is not UTF-8: {e}"),
        })
    }

    /// A list written by [`Encoder::pairs`]; `what` names it in errors ("metadata", ...).
    pub fn pairs(&mut self, what: &str) -> DecodeResult<Vec<(String, String)>> {
        // Each pair takes at least its two 4-byte lengths.
        let n = self.count(&format!("{what} entry count"), 8)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((
                self.str(&format!("{what} key"))?.to_owned(),
                self.str(&format!("{what} value"))?.to_owned(),
            ));
        }
        Ok(out)
    }

    pub fn opt_bytes(&mut self, what: &str) -> DecodeResult<Option<&'a [u8]>> {
        if self.bool(what)? {
            Ok(Some(self.bytes(what)?))
        } else {
            Ok(None)
        }
    }

    /// A `u32` element count, checked against the bytes left: every element takes at least
    /// `min_element_bytes`, so a count claiming more elements than could fit is rejected before
    /// anything is allocated for them.
    pub fn count(&mut self, what: &str, min_element_bytes: usize) -> DecodeResult<usize> {
        let at = self.pos;
        let n = self.u32(what)? as usize;
        if n.saturating_mul(min_element_bytes.max(1)) > self.remaining() {
            return Err(DecodeError {
                offset: at,
                detail: format!(
                    "{what} claims {n} entries but only {} bytes remain",
                    self.remaining()
                ),
            });
        }
        Ok(n)
    }

    /// Fails unless every byte has been read.
    pub fn finish(self, what: &str) -> DecodeResult<()> {
        if self.remaining() != 0 {
            return Err(self.error(format!(
                "{} unexpected bytes after the {what}",
                self.remaining()
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_little_endian() {
        let mut e = Encoder::new();
        e.u8(7);
        e.u32(0x0102_0304);
        e.u64(u64::MAX - 1);
        e.i64(-5);
        e.str("héllo");
        e.opt_bytes(None);
        e.opt_bytes(Some(b"xy"));
        let buf = e.finish();
        assert_eq!(&buf[1..5], &[4, 3, 2, 1], "u32 must be little-endian");
        let mut d = Decoder::new(&buf);
        assert_eq!(d.u8("a").unwrap(), 7);
        assert_eq!(d.u32("b").unwrap(), 0x0102_0304);
        assert_eq!(d.u64("c").unwrap(), u64::MAX - 1);
        assert_eq!(d.i64("d").unwrap(), -5);
        assert_eq!(d.str("e").unwrap(), "héllo");
        assert_eq!(d.opt_bytes("f").unwrap(), None);
        assert_eq!(d.opt_bytes("g").unwrap(), Some(&b"xy"[..]));
        d.finish("test").unwrap();
    }

    #[test]
    fn absurd_length_is_an_error_naming_the_offset_not_an_allocation() {
        let mut e = Encoder::new();
        e.u32(1);
        e.u32(u32::MAX);
        let buf = e.finish();
        let mut d = Decoder::new(&buf);
        d.u32("pad").unwrap();
        let err = d.bytes("name").unwrap_err();
        assert_eq!(err.offset, 8);
        assert!(err.detail.contains("needs 4294967295 bytes"), "{err}");
        let mut d = Decoder::new(&buf[4..]);
        let err = d.count("columns", 16).unwrap_err();
        assert_eq!(err.offset, 0);
        assert!(err.detail.contains("claims 4294967295 entries"), "{err}");
    }

    #[test]
    fn invalid_utf8_and_bad_flags_are_errors() {
        let mut e = Encoder::new();
        e.bytes(&[0xff, 0xfe]);
        let buf = e.finish();
        assert!(Decoder::new(&buf)
            .str("name")
            .unwrap_err()
            .detail
            .contains("UTF-8"));
        assert!(Decoder::new(&[2])
            .bool("flag")
            .unwrap_err()
            .detail
            .contains("0 or 1"));
        assert!(Decoder::new(&[1, 2]).finish("footer").is_err());
    }
}
