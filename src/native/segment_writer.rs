//! Writes one segment file: header, aligned regions, footer, trailer; then fsync and rename.
//!
//! # Contract
//! - The file is written sequentially under a temporary name (`names::temp_name`);
//!   [`SegmentWriter::finish`] fsyncs it and renames it to its final name, so a file with a
//!   final name is always complete. The directory is fsynced by the commit that publishes it.
//!   (Callers hold the table's shared writer lock meanwhile, which keeps `vacuum` away from
//!   files that no manifest references yet: see `vacuum.rs`.)
//! - Every region starts at a multiple of 64 bytes; every offsets region is preceded by at
//!   least 8 zero bytes; all padding is zero (docs/FORMAT.md, "Segment file").
//! - A writer dropped before `finish` succeeded — or whose `finish` failed — removes its
//!   temporary file.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::footer::{Region, SegmentFooter};
use super::names::temp_name;
use super::segment::{align_up, SegmentIdentity};
use super::{HEADER_LEN, RAW_FORMAT_VERSION, SEGMENT_MAGIC, TRAILER_MAGIC};
use crate::error::{Error, Result};

/// A segment being written.
pub struct SegmentWriter {
    tmp_path: PathBuf,
    final_path: PathBuf,
    out: Option<BufWriter<File>>,
    pos: u64,
    /// Set once the file has its final name; until then, dropping removes the temp file.
    renamed: bool,
}

/// A finished segment: its file name in the table directory and what the manifest records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenSegment {
    /// File name (no directory).
    pub name: String,
    /// Rows.
    pub row_count: u64,
    /// Size and footer checksum.
    pub identity: SegmentIdentity,
}

const ZEROS: [u8; 128] = [0u8; 128];

impl SegmentWriter {
    /// Starts `name` in `dir` under a temporary name and writes the header.
    pub fn create(dir: &Path, name: &str) -> Result<Self> {
        let tmp_path = dir.join(temp_name(name));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp_path)
            .map_err(|e| Error::io(&tmp_path, "create", e))?;
        let mut w = Self {
            final_path: dir.join(name),
            tmp_path,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            pos: 0,
            renamed: false,
        };
        let mut header = [0u8; HEADER_LEN as usize];
        header[0..8].copy_from_slice(&SEGMENT_MAGIC);
        // Patched by `finish` to the version the footer needs.
        header[8..12].copy_from_slice(&RAW_FORMAT_VERSION.to_le_bytes());
        w.write(&header)?;
        Ok(w)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        let out = self
            .out
            .as_mut()
            .expect("the output is present until finish or drop");
        out.write_all(bytes)
            .map_err(|e| Error::io(&self.tmp_path, "write", e))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, target: u64) -> Result<()> {
        while self.pos < target {
            let n = (target - self.pos).min(ZEROS.len() as u64) as usize;
            self.write(&ZEROS[..n])?;
        }
        Ok(())
    }

    /// Writes a region made of `parts`, concatenated, at the next 64-byte boundary.
    pub fn write_region(&mut self, parts: &[&[u8]]) -> Result<Region> {
        self.write_region_after_zeros(parts, 0)
    }

    /// Writes an offsets region: like [`Self::write_region`], but with at least 8 zero bytes
    /// before it, so the Arrow offsets buffer can start 8 bytes early.
    pub fn write_offsets_region(&mut self, parts: &[&[u8]]) -> Result<Region> {
        self.write_region_after_zeros(parts, 8)
    }

    fn write_region_after_zeros(&mut self, parts: &[&[u8]], zeros: u64) -> Result<Region> {
        let offset = align_up(self.pos + zeros);
        self.pad_to(offset)?;
        let mut crc = 0u32;
        let mut len = 0u64;
        for part in parts {
            crc = crc32c::crc32c_append(crc, part);
            len += part.len() as u64;
            self.write(part)?;
        }
        Ok(Region {
            offset,
            len,
            crc32c: crc,
        })
    }

    /// Writes the footer and trailer, fsyncs, and renames the file to its final name.
    pub fn finish(mut self, footer: &SegmentFooter) -> Result<WrittenSegment> {
        let footer_offset = align_up(self.pos);
        self.pad_to(footer_offset)?;
        let bytes = footer.encode();
        let footer_crc32c = crc32c::crc32c(&bytes);
        self.write(&bytes)?;
        let mut trailer = [0u8; 32];
        trailer[0..8].copy_from_slice(&footer_offset.to_le_bytes());
        trailer[8..16].copy_from_slice(&(bytes.len() as u64).to_le_bytes());
        trailer[16..20].copy_from_slice(&footer_crc32c.to_le_bytes());
        trailer[24..32].copy_from_slice(&TRAILER_MAGIC);
        self.write(&trailer)?;
        let out = self
            .out
            .take()
            .expect("the output is present until finish or drop");
        let mut file = out
            .into_inner()
            .map_err(|e| Error::io(&self.tmp_path, "write", e.into_error()))?;
        let version = footer.format_version();
        if version != RAW_FORMAT_VERSION {
            file.seek(SeekFrom::Start(8))
                .and_then(|_| file.write_all(&version.to_le_bytes()))
                .map_err(|e| Error::io(&self.tmp_path, "write", e))?;
        }
        file.sync_all()
            .map_err(|e| Error::io(&self.tmp_path, "fsync", e))?;
        std::fs::rename(&self.tmp_path, &self.final_path)
            .map_err(|e| Error::io(&self.final_path, "rename into place", e))?;
        self.renamed = true;
        let name = self
            .final_path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        Ok(WrittenSegment {
            name,
            row_count: footer.row_count,
            identity: SegmentIdentity {
                file_len: self.pos,
                footer_crc32c,
            },
        })
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if !self.renamed {
            // Not finished (a write, flush, fsync or rename failed, or the caller gave up): the
            // temporary file is garbage. Ignore errors: there is no one to report them to, and
            // `vacuum` removes what is left.
            self.out = None;
            let _ = std::fs::remove_file(&self.tmp_path);
        }
    }
}
