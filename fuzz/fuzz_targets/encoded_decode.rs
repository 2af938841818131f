//! The encoded-column decoders (format v3) on arbitrary bytes: bit unpacking, frame-of-reference
//! values of every integer kind, deltas with block anchors and dictionary codes never panic,
//! never read out of bounds and never allocate more than the row count asks; whatever they
//! accept re-packs to the same values, and a range of delta rows decodes as the same rows of
//! the whole column.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quiver_store::format::bitpack::{pack, Unpacker};
use quiver_store::format::delta::DeltaColumn;
use quiver_store::format::encoding::{unpack_codes, unpack_fixed, IntKind};
use quiver_store::format::schema::ColumnType;

fuzz_target!(|data: &[u8]| {
    if data.len() < 28 {
        return;
    }
    let width = data[0];
    // At most 65,535 rows: the layout check bounds real row counts before any decode.
    let rows = u16::from_le_bytes([data[1], data[2]]) as usize;
    let reference = i128::from_le_bytes(data[3..19].try_into().unwrap());
    let dictionary_rows = u64::from_le_bytes(data[19..27].try_into().unwrap());
    let kind = [
        ColumnType::Int8,
        ColumnType::Int16,
        ColumnType::Int32,
        ColumnType::Int64,
        ColumnType::UInt8,
        ColumnType::UInt16,
        ColumnType::UInt32,
        ColumnType::UInt64,
        ColumnType::Decimal128(38, 0),
    ][data[27] as usize % 9]
        .clone();
    let bytes = &data[28..];
    let kind = IntKind::of(&kind).unwrap();
    if let Ok(raw) = unpack_fixed(bytes, reference, width, kind, rows) {
        assert_eq!(raw.len(), rows * kind.width);
        for row in raw.chunks(kind.width) {
            let v = kind.read(row);
            assert!(v >= kind.min() && v <= kind.max());
        }
    }
    // Deltas: the low 16 bits of `dictionary_rows` as the block size, anchors first.
    let block_rows = (dictionary_rows as u16).max(1);
    let anchors = (8 * rows.div_ceil(usize::from(block_rows))).min(bytes.len());
    let delta = DeltaColumn {
        deltas: &bytes[anchors..],
        anchors: &bytes[..anchors],
        reference,
        width,
        block_rows: u32::from(block_rows),
        kind,
        rows,
    };
    if let Ok(all) = delta.rows(0..rows) {
        assert_eq!(all.len(), rows * kind.width);
        for row in all.chunks(kind.width) {
            let v = kind.read(row);
            assert!(v >= kind.min() && v <= kind.max());
        }
        let (start, end) = (rows / 3, rows - rows / 5);
        let part = delta.rows(start..end).unwrap();
        assert_eq!(part, all[start * kind.width..end * kind.width]);
    }
    if let Ok(codes) = unpack_codes(bytes, width, rows, dictionary_rows) {
        assert!(codes.iter().all(|&c| u64::from(c) < dictionary_rows));
    }
    if let Some(run) = Unpacker::new(bytes, width, rows) {
        let values: Vec<u64> = run.iter().collect();
        let again = pack(values.iter().copied(), width);
        let back = Unpacker::new(&again, width, rows).unwrap();
        assert!(back.iter().eq(values.iter().copied()));
    }
});
