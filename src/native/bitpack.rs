//! Bit packing: runs of unsigned integers of `width` bits (0 to 64) back to back in
//! little-endian 64-bit words — the storage of packed and dictionary-encoded columns
//! (docs/FORMAT.md, "Encoded columns"). Knows nothing of Arrow.
//!
//! # Contract
//! - Value `i` of a run occupies bits `i * width .. (i + 1) * width` of the bit stream, where
//!   bit `k` of the stream is bit `k % 64` (least significant first) of little-endian word
//!   `k / 64`. A run of `n` values takes exactly [`packed_len`]`(n, width)` bytes: whole words,
//!   bits past the last value zero. Width 0 stores nothing: every value is 0.
//! - [`Unpacker::new`] refuses a width above 64 and a byte run shorter than the values need,
//!   so reading a hostile run can never index out of bounds; [`pack`] and
//!   [`Unpacker::get`] are exact inverses for values that fit the width.

/// Bytes a run of `n` values of `width` bits takes (whole 8-byte words); `None` on overflow.
pub fn packed_len(n: u64, width: u8) -> Option<u64> {
    n.checked_mul(u64::from(width))
        .map(|bits| bits.div_ceil(64).saturating_mul(8))
}

/// Bits needed to store every value in `0..=max`.
pub fn bit_width(max: u64) -> u8 {
    (64 - max.leading_zeros()) as u8
}

/// The mask of the low `width` bits.
fn mask(width: u8) -> u64 {
    if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    }
}

/// Packs `values` (each below `2^width`; higher bits are dropped) into a run of
/// [`packed_len`] bytes.
pub fn pack(values: impl ExactSizeIterator<Item = u64>, width: u8) -> Vec<u8> {
    assert!(width <= 64, "bit width {width} above 64");
    let n = values.len();
    let w = usize::from(width);
    let mut words = vec![0u64; (n * w).div_ceil(64)];
    if w == 0 {
        return Vec::new();
    }
    let m = mask(width);
    for (i, v) in values.enumerate() {
        let v = v & m;
        let bit = i * w;
        let (word, shift) = (bit / 64, bit % 64);
        words[word] |= v << shift;
        if shift + w > 64 {
            words[word + 1] |= v >> (64 - shift);
        }
    }
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

/// Reads values of a packed run.
#[derive(Debug, Clone, Copy)]
pub struct Unpacker<'a> {
    bytes: &'a [u8],
    width: u8,
    len: usize,
}

impl<'a> Unpacker<'a> {
    /// A reader of `len` values of `width` bits in `bytes`; `None` if the width is above 64 or
    /// `bytes` is shorter than [`packed_len`]`(len, width)`.
    pub fn new(bytes: &'a [u8], width: u8, len: usize) -> Option<Self> {
        let need = packed_len(len as u64, width)?;
        (width <= 64 && bytes.len() as u64 >= need).then_some(Self { bytes, width, len })
    }

    /// Values in the run.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the run holds no values.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn word(&self, i: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&self.bytes[8 * i..8 * i + 8]);
        u64::from_le_bytes(w)
    }

    /// Value `i` (`i < len`; panics otherwise, like slice indexing).
    pub fn get(&self, i: usize) -> u64 {
        assert!(i < self.len, "value {i} of a run of {}", self.len);
        self.value(i, mask(self.width))
    }

    /// Value `i`, its bits masked with `m` (`mask(width)`), for `i < len` as the callers
    /// assert (past it, `word` panics on the slice bound or yields another value's bits).
    #[inline]
    fn value(&self, i: usize, m: u64) -> u64 {
        let w = usize::from(self.width);
        if w == 0 {
            return 0;
        }
        let bit = i * w;
        let (word, shift) = (bit / 64, bit % 64);
        let mut v = self.word(word) >> shift;
        if shift + w > 64 {
            // `shift > 0` here, so the shift below is in 1..64. The next word exists: the run
            // holds `ceil(len * w / 64)` words (checked in `new`).
            v |= self.word(word + 1) << (64 - shift);
        }
        v & m
    }

    /// Every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter_rows(0..self.len)
    }

    /// Values `rows`, in order (each `< len`; panics otherwise, like slice indexing). Walks
    /// the bit stream once, without [`Self::get`]'s per-value bound assertion.
    pub fn iter_rows(&self, rows: std::ops::Range<usize>) -> impl Iterator<Item = u64> + '_ {
        assert!(
            rows.start <= rows.end && rows.end <= self.len,
            "values {rows:?} of a run of {}",
            self.len
        );
        let m = mask(self.width);
        rows.map(move |i| self.value(i, m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_width_round_trips_values_at_its_edges() {
        for width in 0..=64u8 {
            let top = mask(width);
            let values: Vec<u64> = (0..200u64)
                .map(|i| match i % 4 {
                    0 => 0,
                    1 => top,
                    2 => top / 2,
                    _ => i & top,
                })
                .collect();
            let bytes = pack(values.iter().copied(), width);
            assert_eq!(
                bytes.len() as u64,
                packed_len(200, width).unwrap(),
                "{width}"
            );
            let u = Unpacker::new(&bytes, width, values.len()).unwrap();
            assert_eq!(u.iter().collect::<Vec<_>>(), values, "width {width}");
        }
    }

    #[test]
    fn short_runs_and_wide_widths_are_refused() {
        let bytes = pack([1u64, 2, 3].into_iter(), 30);
        assert_eq!(bytes.len(), 16);
        assert!(Unpacker::new(&bytes, 30, 3).is_some());
        assert!(Unpacker::new(&bytes[..8], 30, 3).is_none());
        assert!(Unpacker::new(&bytes, 65, 1).is_none());
        assert!(Unpacker::new(&[], 64, usize::MAX).is_none());
        assert_eq!(packed_len(u64::MAX, 2), None);
    }

    #[test]
    fn bit_width_is_the_bits_of_the_largest_value() {
        assert_eq!(bit_width(0), 0);
        assert_eq!(bit_width(1), 1);
        assert_eq!(bit_width(255), 8);
        assert_eq!(bit_width(256), 9);
        assert_eq!(bit_width(u64::MAX), 64);
    }
}
