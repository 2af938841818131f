//! The row-level-change side of [`TableWriter`] (`writer.rs`, module contract "Row-level
//! changes" and "Automatic compaction"): a writer built on one opened version, the deletion
//! vectors it attaches, the groups of segments its rows replace, the manifest segments of the
//! change, the rebase check, and the compaction run after a commit.

use std::sync::Arc;

use super::{Mode, TableWriter, WriteOptions};
use crate::arrow_bridge::table::Table;
use crate::arrow_bridge::types::source_schema;
use crate::error::{Error, ErrorKind, Result};
use crate::native::deletion::DeletedRows;
use crate::native::manifest::{DeletionRef, Manifest, SegmentEntry, AUTO_OPTIMIZE_PROPERTY};

impl TableWriter {
    /// A row-level change of `table`'s version: rows written are appended (or replace the
    /// segments given to [`Self::begin_replacing`]), and [`Self::set_deleted`] attaches
    /// deletions — all in one commit, rebased only if no other commit touched the same
    /// segments (see the module contract).
    pub(crate) fn change(table: &Table, options: WriteOptions) -> Result<Self> {
        let base = table.manifest().clone();
        let schema = source_schema(&base.schema);
        Self::start(
            table.path().to_path_buf(),
            Mode::Change,
            schema,
            Some(base),
            options,
        )
    }

    /// Segment `segment` (its index in the base version) will show none of `deleted` (which
    /// holds its rows deleted before as well).
    pub(crate) fn set_deleted(&mut self, segment: usize, deleted: DeletedRows) -> Result<()> {
        let entry = self.base_segment(segment)?;
        if deleted.rows() as u64 != entry.row_count {
            return Err(Error::invalid(format!(
                "deletions of {} rows for segment {} of {} rows",
                deleted.rows(),
                entry.name,
                entry.row_count
            )));
        }
        let name = entry.name.clone();
        self.deletions.retain(|(n, _)| *n != name);
        self.deletions.push((name, Arc::new(deleted)));
        Ok(())
    }

    /// Segments `segments` (indices in the base version) leave the table, and the rows written
    /// from now until [`Self::end_replacing`] take the place of the first of them.
    pub(crate) fn begin_replacing(&mut self, segments: &[usize]) -> Result<()> {
        self.end_replacing()?;
        let names = segments
            .iter()
            .map(|&s| Ok(self.base_segment(s)?.name.clone()))
            .collect::<Result<Vec<_>>>()?;
        self.finish_sorted(self.written_outside_groups())?;
        self.finish_segment()?;
        self.open_group = Some((names, self.written.len()));
        Ok(())
    }

    /// Closes the group [`Self::begin_replacing`] opened, if any.
    pub(crate) fn end_replacing(&mut self) -> Result<()> {
        let Some((names, from)) = self.open_group.take() else {
            return Ok(());
        };
        self.finish_sorted(from)?;
        self.finish_segment()?;
        self.groups.push((names, from..self.written.len()));
        Ok(())
    }

    /// Where the segments written outside replacement groups start in `written`.
    pub(super) fn written_outside_groups(&self) -> usize {
        self.groups.last().map_or(0, |(_, r)| r.end)
    }

    fn base_segment(&self, segment: usize) -> Result<&SegmentEntry> {
        let base = self
            .base
            .as_ref()
            .filter(|_| self.mode == Mode::Change)
            .ok_or_else(|| Error::invalid("only a change writer edits segments"))?;
        base.segments.get(segment).ok_or_else(|| {
            Error::invalid(format!("version {} has no segment {segment}", base.version))
        })
    }

    /// Writes the deletion vectors of a change, once per commit (rebasing keeps them: it
    /// happens only onto versions whose touched segments are unchanged). A segment left with
    /// no row gets none: it leaves the version.
    pub(super) fn write_deletions(&mut self) -> Result<Vec<(String, Option<DeletionRef>)>> {
        let Some(base) = self.base.clone() else {
            return Ok(Vec::new());
        };
        let mut refs = Vec::with_capacity(self.deletions.len());
        for (name, deleted) in &self.deletions {
            let entry = base
                .segments
                .iter()
                .find(|s| s.name == *name)
                .ok_or_else(|| Error::invalid(format!("segment {name} is not in the base")))?;
            if deleted.visible() == 0 {
                refs.push((name.clone(), None));
                continue;
            }
            let r = deleted.write(&self.dir, entry.identity)?;
            self.written_deletions.push(r.name.clone());
            refs.push((name.clone(), Some(r)));
        }
        Ok(refs)
    }

    /// The segments of a change built on `base`: deletion vectors attached, each replaced
    /// group out and its new segments in the place of its first segment, the other new
    /// segments at the end, segments left with no row dropped.
    pub(super) fn changed_segments(
        &self,
        base: &Manifest,
        deletion_refs: &[(String, Option<DeletionRef>)],
        new_segments: &[SegmentEntry],
    ) -> Vec<SegmentEntry> {
        let mut out = Vec::with_capacity(base.segments.len() + new_segments.len());
        let mut placed = vec![false; self.groups.len()];
        for entry in &base.segments {
            if let Some(g) = self
                .groups
                .iter()
                .position(|(n, _)| n.contains(&entry.name))
            {
                if !placed[g] {
                    out.extend(new_segments[self.groups[g].1.clone()].iter().cloned());
                    placed[g] = true;
                }
                continue;
            }
            match deletion_refs.iter().find(|(n, _)| *n == entry.name) {
                Some((_, None)) => {}
                Some((_, Some(r))) => out.push(SegmentEntry {
                    deletions: Some(r.clone()),
                    ..entry.clone()
                }),
                None => out.push(entry.clone()),
            }
        }
        out.extend(
            new_segments[self.written_outside_groups()..]
                .iter()
                .cloned(),
        );
        out
    }

    /// Fails with [`ErrorKind::ChangeConflict`] unless every segment this change touches is in
    /// `latest` exactly as in `started`, the version the change was computed on.
    /// Runs the automatic compaction of the module contract after `published` went out.
    pub(super) fn auto_optimize(&self, published: &Manifest) {
        let trigger = published
            .properties
            .iter()
            .find(|(k, _)| k == AUTO_OPTIMIZE_PROPERTY)
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let target = self.options.segment_rows;
        let small = published
            .segments
            .iter()
            .filter(|s| s.visible_rows() < (target / 2) as u64)
            .count();
        if !self.may_auto_optimize || trigger == 0 || small < trigger {
            return;
        }
        let options = crate::arrow_bridge::changes::OptimizeOptions::default()
            .with_target_rows(target)
            .with_max_rows(2 * target as u64);
        // Published already: a failed compaction leaves the small segments for the next commit.
        let _ = crate::arrow_bridge::changes::optimize(&self.dir, options);
    }

    /// Keeps this writer's commit from compacting afterwards (compaction's own writer).
    pub(crate) fn without_auto_optimize(mut self) -> Self {
        self.may_auto_optimize = false;
        self
    }

    pub(super) fn check_untouched(&self, started: &Manifest, latest: &Manifest) -> Result<()> {
        let touched = self
            .deletions
            .iter()
            .map(|(n, _)| n)
            .chain(self.groups.iter().flat_map(|(n, _)| n));
        for name in touched {
            let before = started.segments.iter().find(|s| s.name == *name);
            let now = latest.segments.iter().find(|s| s.name == *name);
            if before.is_none() || before != now {
                return Err(ErrorKind::ChangeConflict {
                    table: self.dir.clone(),
                    version: latest.version,
                    segment: name.clone(),
                }
                .into());
            }
        }
        Ok(())
    }
}
