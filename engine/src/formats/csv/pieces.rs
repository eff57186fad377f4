//! Large CSV files read in pieces, one job each, on every core (`formats::sharing`).
//!
//! Only a file whose every data line is a plain row (see `plain_rows`) is read this way. Then
//! every line is one row, so each piece's place in the lead vectors follows from newline
//! counts before any cell is parsed, and a time stamp's line number from its place. Each
//! piece is parsed into a row-major buffer of its own and then moved into its part of the
//! lead vectors while that buffer is still in cache. A piece that meets any other line fails,
//! and the caller reads the file again row by row, which reads that line the general way or
//! names its problem. The values are the same bits either way: both paths use the same cell
//! parser.

use std::sync::Mutex;

use super::{RowLayout, Table, TimeLines, plain_rows};
use crate::formats::MAX_TOTAL_SAMPLES;
use crate::formats::sharing::{self, SharedJobs};

/// Bytes per piece: small enough that the threads finish close together (one piece is some
/// 20 µs of parsing), large enough that a piece's own set-up is noise.
const PIECE_BYTES: usize = 16 * 1024;

/// Lines `start..end` (byte offsets) of the text, the last one ending with `\n` unless it is
/// the text's last line.
struct Piece {
    start: usize,
    end: usize,
    rows: usize,
}

/// Where one piece writes: its part of every lead vector and of the time column.
struct PieceOutput<'t> {
    leads: Vec<&'t mut [f64]>,
    times: &'t mut [f64],
}

pub(super) struct Plan<'a> {
    text: &'a [u8],
    /// The line number of the first data line (1-based, as in error messages).
    first_line: usize,
    layout: &'a RowLayout<'a>,
    pieces: Vec<Piece>,
    rows: usize,
}

impl<'a> Plan<'a> {
    /// Cuts the lines from byte `start` on into pieces, or `None` when the file is too small to
    /// gain from it, the machine has one core, or the rows would exceed the sample limit (the
    /// row-by-row reader then names the row where the limit is passed).
    pub(super) fn new(
        text: &'a [u8],
        start: usize,
        first_line: usize,
        layout: &'a RowLayout<'a>,
    ) -> Option<Self> {
        let len = text.len();
        if sharing::threads() < 2 || len.saturating_sub(start) < 2 * PIECE_BYTES {
            return None;
        }
        let mut pieces = Vec::with_capacity((len - start) / PIECE_BYTES + 1);
        let (mut pos, mut rows) = (start, 0usize);
        while pos < len {
            let cut_from = (pos + PIECE_BYTES).min(len);
            let end = memchr::memchr(b'\n', &text[cut_from..]).map_or(len, |i| cut_from + i + 1);
            // `end > pos`, so `end - 1` is a byte of this piece.
            let lines = memchr::memchr_iter(b'\n', &text[pos..end]).count()
                + usize::from(text[end - 1] != b'\n');
            pieces.push(Piece {
                start: pos,
                end,
                rows: lines,
            });
            rows += lines;
            pos = end;
        }
        if rows.checked_mul(layout.leads)? > MAX_TOTAL_SAMPLES {
            return None;
        }
        Some(Self {
            text,
            first_line,
            layout,
            pieces,
            rows,
        })
    }

    /// Reads every piece, sharing them between the cores. Returns the rows unless a piece met
    /// a line that is not a plain row.
    pub(super) fn read(self) -> Option<Table> {
        let has_time = self.layout.time_column.is_some();
        let mut samples: Vec<Vec<f64>> = (0..self.layout.leads)
            .map(|_| vec![0.0; self.rows])
            .collect();
        let mut times = vec![0.0; if has_time { self.rows } else { 0 }];
        let read_all = {
            let outputs = self.split_outputs(&mut samples, &mut times);
            let job = |k: usize| {
                let taken = outputs[k].lock().ok().and_then(|mut slot| slot.take());
                taken.is_some_and(|mut out| self.read_piece(&self.pieces[k], &mut out))
            };
            let jobs = SharedJobs::new(self.pieces.len(), &job);
            sharing::share(&jobs);
            jobs.succeeded()
        };
        read_all.then_some(Table {
            samples,
            times,
            time_lines: TimeLines::Consecutive(self.first_line),
            rows: self.rows,
            missing: 0,
        })
    }

    /// Each piece's part of the outputs; the parts are disjoint, so the pieces can be written
    /// at the same time.
    fn split_outputs<'t>(
        &self,
        samples: &'t mut [Vec<f64>],
        times: &'t mut [f64],
    ) -> Vec<Mutex<Option<PieceOutput<'t>>>> {
        let mut outputs: Vec<PieceOutput<'t>> = self
            .pieces
            .iter()
            .map(|_| PieceOutput {
                leads: Vec::with_capacity(samples.len()),
                times: &mut [],
            })
            .collect();
        // The pieces' row counts add up to `self.rows`, every vector's length (the time column
        // too, when there is one), so each split is in bounds.
        for lead in samples {
            let mut rest = lead.as_mut_slice();
            for (out, piece) in outputs.iter_mut().zip(&self.pieces) {
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(piece.rows);
                out.leads.push(part);
                rest = tail;
            }
        }
        if !times.is_empty() {
            let mut rest = times;
            for (out, piece) in outputs.iter_mut().zip(&self.pieces) {
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(piece.rows);
                out.times = part;
                rest = tail;
            }
        }
        outputs.into_iter().map(|o| Mutex::new(Some(o))).collect()
    }

    /// Parses one piece's lines as plain rows into its outputs; `false` at the first line
    /// that is not one.
    fn read_piece(&self, piece: &Piece, out: &mut PieceOutput<'_>) -> bool {
        let text = &self.text[piece.start..piece.end];
        let layout = self.layout;
        let columns = layout.slots.len();
        // Parsed row by row into one buffer, then moved into the lead vectors a lead at a
        // time: cheaper than a scatter into every lead for every row (measured).
        let mut rows = vec![0.0; piece.rows * columns];
        if plain_rows::plain_block(text, layout.delim_byte, columns, &mut rows) != Some(piece.rows)
        {
            return false;
        }
        for (lead, &column) in out.leads.iter_mut().zip(layout.lead_columns) {
            for (sample, row) in lead.iter_mut().zip(rows.chunks_exact(columns)) {
                if let Some(&v) = row.get(column) {
                    *sample = v;
                }
            }
        }
        if let Some(column) = layout.time_column {
            for (time, row) in out.times.iter_mut().zip(rows.chunks_exact(columns)) {
                if let Some(&v) = row.get(column) {
                    *time = v;
                }
            }
        }
        true
    }
}
