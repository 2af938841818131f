//! Growable build buffers that live on the heap until a memory budget is spent, then in a
//! scratch file mapped into memory: [`MmapOrVec`], [`MmapBytes`] and the bit-level [`BitBuilder`].
//!
//! # Contract
//! - A buffer starts on the heap. [`MmapOrVec::spill`] moves it into an anonymous scratch file
//!   (`tempfile::tempfile_in`: `O_TMPFILE` on Linux, so it never has a name another process
//!   could open, and a crash leaves nothing behind) and keeps growing there; the caller decides
//!   when, against its memory budget.
//! - Every I/O failure is returned as an [`Error`] naming the scratch file; nothing panics.
//! - Scratch mappings are the only writable mappings in Quiver. Committed segment files are
//!   written with `write(2)` and only ever mapped read-only (see `segment.rs`).
//! - Values are kept in host order, which the crate requires to be little-endian (`lib.rs`), so
//!   the bytes of a buffer are exactly its on-disk little-endian image.
//!
//! - Elements are plain data (`bytemuck::Pod`): they are viewed as bytes and back with
//!   `bytemuck`'s checked casts. The one `unsafe` is mapping the scratch file (see `map`).

use std::fs::File;
use std::path::{Path, PathBuf};

use bytemuck::Pod;
use memmap2::MmapMut;

use crate::error::{Error, Result};

/// Plain-old-data element types a build buffer may hold: no padding, every bit pattern a value.
pub trait Plain: Pod + Default + Send + Sync {}

impl<T: Pod + Default + Send + Sync> Plain for T {}

/// A growable, contiguous buffer of `T` on the heap or in a mapped scratch file.
pub struct MmapOrVec<T: Plain> {
    storage: Backing<T>,
}

/// A growable byte buffer on the heap or in a mapped scratch file.
pub type MmapBytes = MmapOrVec<u8>;

enum Backing<T> {
    Heap(Vec<T>),
    /// `len` initialised elements at the start of the scratch mapping.
    Mapped {
        scratch: Scratch,
        len: usize,
    },
}

/// A mapped scratch file. `map.len()` is the capacity in bytes.
struct Scratch {
    /// The directory the unnamed file lives in (for error messages).
    path: PathBuf,
    file: File,
    map: MmapMut,
}

impl Scratch {
    fn create(dir: &Path, bytes: usize) -> Result<Self> {
        let file =
            tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, "create scratch file in", e))?;
        let path = dir.to_path_buf();
        let map = Self::map(&path, &file, bytes)?;
        Ok(Scratch { path, file, map })
    }

    fn map(path: &Path, file: &File, bytes: usize) -> Result<MmapMut> {
        // A zero-length mapping is not allowed; keep at least one page.
        let bytes = bytes.max(4096);
        file.set_len(bytes as u64)
            .map_err(|e| Error::io(path, "grow scratch file", e))?;
        // SAFETY:
        // - the file has no name (`tempfile_in`: `O_TMPFILE`, or unlinked at once where that is
        //   missing) and only this struct holds its descriptor, so nothing else can change its
        //   length while it is mapped;
        // - its length was set just above, so the whole mapping is backed by the file;
        // - the old mapping (if any) is replaced only through `&mut self`, so no slice of it
        //   outlives it.
        unsafe { MmapMut::map_mut(file) }.map_err(|e| Error::io(path, "map scratch file", e))
    }

    fn grow(&mut self, bytes: usize) -> Result<()> {
        self.map = Self::map(&self.path, &self.file, bytes)?;
        Ok(())
    }
}

impl<T: Plain> Default for MmapOrVec<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Plain> std::fmt::Debug for MmapOrVec<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmapOrVec")
            .field("len", &self.len())
            .field("mapped", &self.is_mapped())
            .finish()
    }
}

/// Views plain values as their bytes.
fn plain_bytes<T: Plain>(values: &[T]) -> &[u8] {
    bytemuck::cast_slice(values)
}

impl<T: Plain> MmapOrVec<T> {
    const SIZE: usize = std::mem::size_of::<T>();

    /// An empty heap buffer.
    pub fn new() -> Self {
        Self {
            storage: Backing::Heap(Vec::new()),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match &self.storage {
            Backing::Heap(v) => v.len(),
            Backing::Mapped { len, .. } => *len,
        }
    }

    /// True once the buffer lives in a mapped scratch file.
    pub fn is_mapped(&self) -> bool {
        matches!(self.storage, Backing::Mapped { .. })
    }

    /// Bytes of heap memory the buffer holds (its capacity while on the heap, 0 once mapped).
    pub fn heap_bytes(&self) -> usize {
        match &self.storage {
            Backing::Heap(v) => v.capacity() * Self::SIZE,
            Backing::Mapped { .. } => 0,
        }
    }

    /// The elements.
    pub fn as_slice(&self) -> &[T] {
        match &self.storage {
            Backing::Heap(v) => v,
            // The mapping is page-aligned, so the cast's alignment check always passes.
            Backing::Mapped { scratch, len } => {
                bytemuck::cast_slice(&scratch.map[..*len * Self::SIZE])
            }
        }
    }

    /// The elements as bytes: exactly their little-endian on-disk image.
    pub fn as_bytes(&self) -> &[u8] {
        plain_bytes(self.as_slice())
    }

    /// The last element, mutably.
    pub fn last_mut(&mut self) -> Option<&mut T> {
        match &mut self.storage {
            Backing::Heap(v) => v.last_mut(),
            Backing::Mapped { scratch, len } => {
                let index = len.checked_sub(1)?;
                let bytes = &mut scratch.map[index * Self::SIZE..(index + 1) * Self::SIZE];
                Some(bytemuck::from_bytes_mut(bytes))
            }
        }
    }

    /// Appends one element.
    pub fn push(&mut self, value: T) -> Result<()> {
        self.extend_from_slice(std::slice::from_ref(&value))
    }

    /// Appends elements.
    pub fn extend_from_slice(&mut self, values: &[T]) -> Result<()> {
        match &mut self.storage {
            Backing::Heap(v) => {
                v.extend_from_slice(values);
                Ok(())
            }
            Backing::Mapped { .. } => self.extend_mapped(plain_bytes(values)),
        }
    }

    /// Appends the raw little-endian image of whole elements (`bytes` need not be aligned).
    ///
    /// Returns an error if `bytes.len()` is not a multiple of `size_of::<T>()`.
    pub fn extend_from_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        if !bytes.len().is_multiple_of(Self::SIZE) {
            return Err(Error::invalid(format!(
                "{} bytes are not a whole number of {}-byte values",
                bytes.len(),
                Self::SIZE
            )));
        }
        let count = bytes.len() / Self::SIZE;
        match &mut self.storage {
            Backing::Heap(v) => {
                let len = v.len();
                v.resize(len + count, T::zeroed());
                bytemuck::cast_slice_mut::<T, u8>(&mut v[len..]).copy_from_slice(bytes);
                Ok(())
            }
            Backing::Mapped { .. } => self.extend_mapped(bytes),
        }
    }

    fn extend_mapped(&mut self, bytes: &[u8]) -> Result<()> {
        let Backing::Mapped { scratch, len } = &mut self.storage else {
            unreachable!("extend_mapped is only called on mapped storage")
        };
        let start = *len * Self::SIZE;
        let end = start
            .checked_add(bytes.len())
            .ok_or_else(|| Error::invalid("build buffer size overflows usize"))?;
        if end > scratch.map.len() {
            scratch.grow(end.max(scratch.map.len() * 2))?;
        }
        scratch.map[start..end].copy_from_slice(bytes);
        *len += bytes.len() / Self::SIZE;
        Ok(())
    }

    /// Appends `count` copies of `value`.
    pub fn extend_repeat(&mut self, value: T, count: usize) -> Result<()> {
        const CHUNK: usize = 4096;
        let chunk = [value; CHUNK];
        let mut left = count;
        while left > 0 {
            let take = left.min(CHUNK);
            self.extend_from_slice(&chunk[..take])?;
            left -= take;
        }
        Ok(())
    }

    /// Moves the buffer into a scratch file in `dir` (no-op if already there). Later growth
    /// happens in the file, so the heap memory is released for good.
    pub fn spill(&mut self, dir: &Path) -> Result<()> {
        let Backing::Heap(v) = &self.storage else {
            return Ok(());
        };
        let bytes = plain_bytes(v);
        let mut scratch = Scratch::create(dir, (v.capacity() * Self::SIZE).max(bytes.len()))?;
        scratch.map[..bytes.len()].copy_from_slice(bytes);
        let len = v.len();
        self.storage = Backing::Mapped { scratch, len };
        Ok(())
    }
}

/// A bit-packed builder (Arrow bit order: bit `i` is bit `i % 8` of byte `i / 8`). Bits past the
/// last one in the final byte are always zero.
#[derive(Debug, Default)]
pub struct BitBuilder {
    bytes: MmapBytes,
    len: usize,
}

impl BitBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    #[cfg(test)]
    /// Number of bits.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The packed bytes, `ceil(len / 8)` of them.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.as_bytes()
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.bytes.heap_bytes()
    }

    /// Moves the bits to a scratch file in `dir`.
    pub fn spill(&mut self, dir: &Path) -> Result<()> {
        self.bytes.spill(dir)
    }

    /// Appends the low `n` bits of `byte` (`n <= 8`; higher bits must be zero).
    fn push_byte_bits(&mut self, byte: u8, n: usize) -> Result<()> {
        debug_assert!(n <= 8 && (n == 8 || byte >> n == 0));
        let shift = self.len % 8;
        if shift == 0 {
            self.bytes.push(byte)?;
        } else {
            if let Some(last) = self.bytes.last_mut() {
                *last |= byte << shift;
            }
            if shift + n > 8 {
                self.bytes.push(byte >> (8 - shift))?;
            }
        }
        self.len += n;
        Ok(())
    }

    #[cfg(test)]
    /// Appends one bit.
    pub fn push(&mut self, bit: bool) -> Result<()> {
        self.push_byte_bits(bit as u8, 1)
    }

    /// Appends `n` copies of `bit`.
    pub fn push_repeat(&mut self, bit: bool, mut n: usize) -> Result<()> {
        let byte = if bit { 0xff } else { 0 };
        while n > 0 {
            let take = n.min(8);
            self.push_byte_bits(byte & low_mask(take), take)?;
            n -= take;
        }
        Ok(())
    }

    /// Appends bits `offset..offset + len` of the packed bitmap `src`.
    ///
    /// Returns an error if the range lies outside `src`.
    pub fn extend_from_bitmap(&mut self, src: &[u8], offset: usize, len: usize) -> Result<()> {
        if offset + len > src.len() * 8 {
            return Err(Error::invalid(format!(
                "bit range {offset}..{} outside a {}-byte bitmap",
                offset + len,
                src.len()
            )));
        }
        if self.len.is_multiple_of(8) && offset.is_multiple_of(8) {
            let whole = len / 8;
            self.bytes
                .extend_from_bytes(&src[offset / 8..offset / 8 + whole])?;
            self.len += whole * 8;
            let rest = len % 8;
            if rest > 0 {
                self.push_byte_bits(src[offset / 8 + whole] & low_mask(rest), rest)?;
            }
            return Ok(());
        }
        let mut i = 0;
        while i < len {
            let take = (len - i).min(8);
            self.push_byte_bits(read_bits(src, offset + i, take), take)?;
            i += take;
        }
        Ok(())
    }
}

fn low_mask(n: usize) -> u8 {
    if n >= 8 {
        0xff
    } else {
        (1u8 << n) - 1
    }
}

/// Bits `at..at + n` of `src` (`n <= 8`, in range) as the low bits of a byte.
fn read_bits(src: &[u8], at: usize, n: usize) -> u8 {
    let (b, s) = (at / 8, at % 8);
    let lo = src[b] >> s;
    let hi = if s > 0 && b + 1 < src.len() {
        src[b + 1] << (8 - s)
    } else {
        0
    };
    (lo | hi) & low_mask(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heap_buffer_grows_and_reads_back() {
        let mut b = MmapOrVec::<u64>::new();
        for i in 0..1000u64 {
            b.push(i * 3).unwrap();
        }
        assert_eq!(b.len(), 1000);
        assert_eq!(b.as_slice()[999], 2997);
        assert_eq!(&b.as_bytes()[8..16], &3u64.to_le_bytes());
        assert!(!b.is_mapped());
        assert!(b.heap_bytes() >= 8000);
    }

    #[test]
    fn spilled_buffer_keeps_contents_frees_heap_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut b = MmapOrVec::<i32>::new();
        b.extend_from_slice(&[1, -2, 3]).unwrap();
        b.spill(dir.path()).unwrap();
        assert!(b.is_mapped());
        assert_eq!(b.heap_bytes(), 0);
        for i in 0..100_000 {
            b.push(i).unwrap();
        }
        assert_eq!(&b.as_slice()[..4], &[1, -2, 3, 0]);
        assert_eq!(b.as_slice()[100_002], 99_999);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn spill_into_missing_directory_is_an_error_naming_the_file() {
        let mut b = MmapBytes::new();
        b.extend_from_bytes(b"abc").unwrap();
        let err = b.spill(Path::new("/nonexistent/quiver")).unwrap_err();
        assert!(
            err.to_string()
                .contains("cannot create scratch file in /nonexistent/quiver"),
            "{err}"
        );
    }

    #[test]
    fn bytes_that_are_not_whole_values_are_refused() {
        let mut b = MmapOrVec::<u32>::new();
        assert!(b.extend_from_bytes(&[1, 2, 3]).is_err());
    }

    #[test]
    fn bit_builder_appends_at_any_alignment() {
        // Reference: a bool vector; append pieces of it at odd offsets and lengths.
        let bits: Vec<bool> = (0..300).map(|i| (i * 7 + i / 3) % 5 < 2).collect();
        let mut packed = vec![0u8; bits.len().div_ceil(8)];
        for (i, &b) in bits.iter().enumerate() {
            packed[i / 8] |= (b as u8) << (i % 8);
        }
        for (start_pad, offset, len) in
            [(0, 0, 300), (3, 5, 200), (8, 8, 17), (1, 0, 1), (7, 13, 0)]
        {
            let mut bb = BitBuilder::new();
            bb.push_repeat(true, start_pad).unwrap();
            bb.extend_from_bitmap(&packed, offset, len).unwrap();
            bb.push(true).unwrap();
            assert_eq!(bb.len(), start_pad + len + 1);
            let out = bb.as_bytes();
            assert_eq!(out.len(), bb.len().div_ceil(8));
            for i in 0..bb.len() {
                let got = out[i / 8] >> (i % 8) & 1 == 1;
                let want = if i < start_pad || i == start_pad + len {
                    true
                } else {
                    bits[offset + i - start_pad]
                };
                assert_eq!(got, want, "case ({start_pad},{offset},{len}) bit {i}");
            }
            let tail = bb.len() % 8;
            if tail != 0 {
                assert_eq!(
                    out[out.len() - 1] >> tail,
                    0,
                    "bits past the end must be zero"
                );
            }
        }
        assert!(BitBuilder::new()
            .extend_from_bitmap(&packed, 290, 20)
            .is_err());
    }
}
