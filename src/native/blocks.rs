//! Block-compressed variable-width values (format v3 encoding `blocks`): the rows of a string
//! or binary column cut into blocks of a fixed number of rows, each block one zstd frame.
//! Knows nothing of Arrow.
//!
//! # Contract
//! - Block `b` holds rows `b * block_rows ..` (the last may hold fewer). Its bytes in the `data`
//!   region are a 4-byte little-endian count of its value bytes, then one zstd frame whose
//!   content is the block's row lengths (little-endian `u32` each; null rows 0) followed by
//!   the values back to back (docs/FORMAT.md, "Encoded columns"). The `offsets` region holds
//!   the blocks' cumulative end offsets in `data`.
//! - [`decompress`] trusts nothing: block ends non-decreasing and inside `data`, each frame
//!   decompressed through a reader that stops at the size its header declares (so output, and
//!   memory, grow only with bytes zstd really produces, never with a declared number), exact
//!   sizes, lengths summing to the declared count, and the column's total equal to
//!   `raw_data_len`. A problem names the first row of the block at fault.

use std::io::Read;

use std::ops::Range;

use super::encoding::{check_rows, RowError};
use super::segment::u64_at;

/// Rows per block written: large enough for zstd to find repeats in short strings, small
/// enough that a block is a few hundred KiB of values at most for typical text.
pub const BLOCK_ROWS: u32 = 4096;
/// zstd level written (zstd's default).
pub const ZSTD_LEVEL: i32 = 3;

/// Compresses `n` values (bytes `data`, `n` little-endian `u64` cumulative end offsets in
/// `ends`) into blocks of `block_rows` rows; returns the `data` region and the blocks'
/// cumulative end offsets.
pub fn compress(data: &[u8], ends: &[u8], block_rows: u32) -> std::io::Result<(Vec<u8>, Vec<u64>)> {
    let n = ends.len() / 8;
    let end = |r: usize| u64_at(ends, 8 * r) as usize;
    let mut out = Vec::new();
    let mut block_ends = Vec::with_capacity(n.div_ceil(block_rows as usize));
    let mut payload = Vec::new();
    for first in (0..n).step_by(block_rows.max(1) as usize) {
        let last = (first + block_rows as usize).min(n);
        let start = if first == 0 { 0 } else { end(first - 1) };
        let stop = end(last - 1);
        payload.clear();
        let mut prev = start;
        for r in first..last {
            let e = end(r);
            payload.extend_from_slice(&((e - prev) as u32).to_le_bytes());
            prev = e;
        }
        payload.extend_from_slice(&data[start..stop]);
        out.extend_from_slice(&((stop - start) as u32).to_le_bytes());
        out.extend_from_slice(&zstd::bulk::compress(&payload, ZSTD_LEVEL)?);
        block_ends.push(out.len() as u64);
    }
    Ok((out, block_ends))
}

/// Rows per block and the number of blocks of a column of `n` rows, checked against the
/// `block_ends` region (8 bytes a block).
fn block_count(block_ends: &[u8], block_rows: u32, n: usize) -> Result<(usize, usize), RowError> {
    let rows = block_rows.max(1) as usize;
    let blocks = n.div_ceil(rows);
    if block_ends.len() != 8 * blocks {
        return Err((
            0,
            format!("{} block offsets for {blocks} blocks", block_ends.len() / 8),
        ));
    }
    Ok((rows, blocks))
}

/// The bytes of block `b` (its header and frame), checked to lie after the previous block's
/// end and inside `data`, and to hold at least the header. `first`: the block's first row.
fn block_bytes<'a>(
    data: &'a [u8],
    block_ends: &[u8],
    b: usize,
    first: usize,
) -> Result<&'a [u8], RowError> {
    let start = if b == 0 {
        0
    } else {
        u64_at(block_ends, 8 * (b - 1))
    };
    let stop = u64_at(block_ends, 8 * b);
    if stop < start || stop > data.len() as u64 || stop - start < 4 {
        return Err((
            first,
            format!(
                "block {b}: ends at byte {stop}, outside {start}..={} or too short for its header",
                data.len()
            ),
        ));
    }
    Ok(&data[start as usize..stop as usize])
}

/// Decodes one block's bytes (`block_bytes`) of `m` rows, appending its values to `values` and
/// their cumulative ends (offsets into `values`) to `ends`; its value bytes may be at most
/// `limit`. `lengths` is scratch. Returns the block's value byte count.
fn decode_block(
    block: &[u8],
    (b, first, m): (usize, usize, usize),
    limit: u64,
    values: &mut Vec<u8>,
    ends: &mut Vec<u64>,
    lengths: &mut Vec<u8>,
) -> Result<u64, RowError> {
    let fail = |detail: String| (first, format!("block {b}: {detail}"));
    let declared = u32::from_le_bytes([block[0], block[1], block[2], block[3]]) as u64;
    if declared > limit {
        return Err(fail(format!(
            "{declared} value bytes run past the column's {limit} left"
        )));
    }
    let want = 4 * m as u64 + declared;
    let mut decoder = zstd::stream::read::Decoder::with_buffer(&block[4..])
        .map_err(|e| fail(format!("not a zstd frame: {e}")))?
        .single_frame();
    lengths.clear();
    // Lengths first, then the values straight into their place: both bounded by `want`.
    let mut limited = (&mut decoder).take(4 * m as u64);
    limited
        .read_to_end(lengths)
        .map_err(|e| fail(format!("zstd: {e}")))?;
    let before = values.len();
    let mut rest = (&mut decoder).take(declared + 1);
    rest.read_to_end(values)
        .map_err(|e| fail(format!("zstd: {e}")))?;
    let got = lengths.len() as u64 + (values.len() - before) as u64;
    if got != want {
        return Err(fail(format!(
            "decompressed to {got} bytes, expected {want}"
        )));
    }
    let mut end = before as u64;
    for (i, len) in lengths.chunks_exact(4).enumerate() {
        end += u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as u64;
        if end > values.len() as u64 {
            return Err((
                first + i,
                format!("block {b}: lengths exceed the block's {declared} value bytes"),
            ));
        }
        ends.push(end);
    }
    if end != values.len() as u64 {
        return Err(fail(format!(
            "lengths sum to {} of {declared} value bytes",
            end - before as u64
        )));
    }
    Ok(declared)
}

/// Rows `rows` (inside `0..n`) of a blocks-encoded column of `n` rows, decompressing only the
/// blocks holding them (for a zone, or a `take` of a few rows): their values back to back and
/// their cumulative end offsets from 0, with every check of [`decompress`] that does not need
/// the other blocks.
pub fn decompress_rows(
    data: &[u8],
    block_ends: &[u8],
    block_rows: u32,
    n: usize,
    rows: Range<usize>,
) -> Result<(Vec<u8>, Vec<u64>), RowError> {
    check_rows(&rows, n)?;
    let (per_block, _) = block_count(block_ends, block_rows, n)?;
    let blocks = rows.start / per_block..rows.end.div_ceil(per_block);
    let (mut values, mut ends) =
        decode_blocks(data, block_ends, (per_block, n), blocks.clone(), u64::MAX)?;
    // Cut the rows before `rows.start` and after `rows.end` out of the blocks' rows.
    let skip = rows.start - blocks.start * per_block;
    ends.truncate(skip + rows.len());
    let cut = if skip == 0 { 0 } else { ends[skip - 1] };
    values.truncate(ends.last().map_or(0, |&e| e as usize));
    values.drain(..cut as usize);
    let ends = ends[skip..].iter().map(|&e| e - cut).collect();
    Ok((values, ends))
}

/// The `n` rows of a blocks-encoded column in the raw variable-width layout: the values back
/// to back and their `n` cumulative end offsets (module contract).
pub fn decompress(
    data: &[u8],
    block_ends: &[u8],
    block_rows: u32,
    n: usize,
    raw_data_len: u64,
) -> Result<(Vec<u8>, Vec<u64>), RowError> {
    let (rows, blocks) = block_count(block_ends, block_rows, n)?;
    let (values, ends) = decode_blocks(data, block_ends, (rows, n), 0..blocks, raw_data_len)?;
    let stop = blocks
        .checked_sub(1)
        .map_or(0, |last| u64_at(block_ends, 8 * last) as usize);
    if values.len() as u64 != raw_data_len || stop != data.len() {
        return Err((
            n,
            format!(
                "{} value bytes in {stop} of {} data bytes; the footer records {raw_data_len} value bytes",
                values.len(),
                data.len()
            ),
        ));
    }
    Ok((values, ends))
}

/// Blocks `blocks` of a column of `n` rows in blocks of `per_block` rows, decoded back to back:
/// their values and cumulative ends from 0, at most `limit` value bytes in all.
fn decode_blocks(
    data: &[u8],
    block_ends: &[u8],
    (per_block, n): (usize, usize),
    blocks: Range<usize>,
    limit: u64,
) -> Result<(Vec<u8>, Vec<u64>), RowError> {
    let mut values = Vec::new();
    let mut ends = Vec::with_capacity((blocks.len() * per_block).min(n));
    let mut lengths = Vec::with_capacity(4 * per_block);
    for b in blocks {
        let first = b * per_block;
        let m = per_block.min(n - first);
        let block = block_bytes(data, block_ends, b, first)?;
        let left = limit - values.len() as u64;
        decode_block(
            block,
            (b, first, m),
            left,
            &mut values,
            &mut ends,
            &mut lengths,
        )?;
    }
    Ok((values, ends))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(values: &[&str]) -> (Vec<u8>, Vec<u8>) {
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for v in values {
            data.extend_from_slice(v.as_bytes());
            ends.extend_from_slice(&(data.len() as u64).to_le_bytes());
        }
        (data, ends)
    }

    #[test]
    fn blocks_round_trip_the_raw_layout_for_every_block_size() {
        let words: Vec<String> = (0..1000)
            .map(|i| format!("word {} {}", i % 13, "x".repeat(i % 7)))
            .collect();
        let refs: Vec<&str> = words.iter().map(String::as_str).chain([""]).collect();
        let (data, ends) = layout(&refs);
        for block_rows in [1, 3, 4096] {
            let (packed, block_ends) = compress(&data, &ends, block_rows).unwrap();
            let block_ends: Vec<u8> = block_ends.iter().flat_map(|e| e.to_le_bytes()).collect();
            let (values, got_ends) = decompress(
                &packed,
                &block_ends,
                block_rows,
                refs.len(),
                data.len() as u64,
            )
            .unwrap();
            assert_eq!(values, data);
            let want: Vec<u64> = ends
                .chunks(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap()))
                .collect();
            assert_eq!(got_ends, want);
        }
        let (packed, _) = compress(&data, &ends, 4096).unwrap();
        assert!(
            packed.len() * 4 < data.len(),
            "{} of {}",
            packed.len(),
            data.len()
        );
    }

    #[test]
    fn damaged_blocks_are_errors_naming_a_row() {
        let values: Vec<String> = (0..100).map(|i| format!("value {i}")).collect();
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let (data, ends) = layout(&refs);
        let (packed, block_ends) = compress(&data, &ends, 32).unwrap();
        let be: Vec<u8> = block_ends.iter().flat_map(|e| e.to_le_bytes()).collect();
        // A wrong total, a wrong block count, a truncated frame, a flipped byte.
        assert!(decompress(&packed, &be, 32, 100, data.len() as u64 + 1).is_err());
        assert!(decompress(&packed, &be[..8], 32, 100, data.len() as u64).is_err());
        assert!(decompress(&packed[..packed.len() - 1], &be, 32, 100, data.len() as u64).is_err());
        for at in 0..packed.len() {
            let mut bad = packed.clone();
            bad[at] ^= 0x20;
            if let Ok((v, e)) = decompress(&bad, &be, 32, 100, data.len() as u64) {
                // zstd frames without a checksum may decode a flipped literal: sizes still hold.
                assert_eq!((v.len(), e.len()), (data.len(), 100));
            }
        }
    }
}
