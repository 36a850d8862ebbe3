//! Bars from CSV with the header `timestamp,open,high,low,close,volume`.
//!
//! The parser is a single pass over bytes, fed in blocks of a few MiB so the
//! file is never held in memory whole (the 63 MB file of a million one-minute
//! bars costs 4 MiB of buffer per thread). Files of 8 MiB and more are split
//! at line starts into one byte range per core, parsed on as many threads and
//! joined in order; errors still name the file's line. It is strict:
//! every field is checked and an error names the line, the column and what
//! was found. Numbers become integer mantissas at one common scale for the
//! four prices and another for volume, exactly as written (no `f64` on the
//! way); timestamps in the common fixed layouts (`YYYY-MM-DD`,
//! `YYYY-MM-DD[T ]HH:MM[:SS[.fff]]`, optional `Z` / `+00:00`) take a fast path
//! (the date part is cached between rows), anything else goes through
//! `UnixNanos::parse`. Times without a zone are UTC. Columns after `volume`
//! are ignored. The bar interval is the median spacing.
//!
//! Rows go through three readers, each taking only what the next would read
//! the same way and leaving the rest to it: `Parser::window_row` for the
//! common row (`YYYY-MM-DD[T ]HH:MM:SS` in the hour of the row before, numbers
//! of up to 8 characters at no more than the current scales) on a fixed
//! 80-byte window, reading 8 bytes at a time with the layout of each number
//! column remembered between rows; `Parser::fast_row` for the same with
//! numbers of up to 7 digits either side of the `.`, anywhere in the input; and
//! `Parser::row`, which reads everything else, grows the scales, caches the
//! day and writes every error. Tests check all three agree.

use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::Path;

use tessera_core::UnixNanos;
use tessera_engine::BarSeries;
use tessera_model::{Instrument, InstrumentId, InstrumentKind, Interval, IntervalUnit, Price};

use crate::error::{Error, Result};

/// Names of the six columns, for error messages (column `k` is `COLUMNS[k - 1]`).
const COLUMNS: [&str; 6] = ["timestamp", "open", "high", "low", "close", "volume"];

/// Bytes read per block by [`load_csv`].
const BLOCK: usize = 4 << 20;

const POW10: [i64; 19] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
    100_000_000_000_000_000,
    1_000_000_000_000_000_000,
];

/// Read and parse a CSV file; the instrument is named after the file stem on venue `csv`.
///
/// # Errors
/// [`Error::Io`], or [`Error::Csv`] with the line, the column and the reason.
pub fn load_csv(path: &Path) -> Result<BarSeries> {
    let origin = path.display().to_string();
    let io = |source| Error::Io {
        path: origin.clone(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if size >= PARALLEL_FROM && threads > 1 {
        if let Some(series) = load_parallel(&mut file, size, threads, &origin, path)? {
            return Ok(series);
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
    }
    let mut parser = Parser::new(&origin, usize::try_from(size).unwrap_or(0));
    read_range(&mut file, u64::MAX, &mut parser, &origin)?;
    parser.finish(&symbol_of(path))
}

/// Files from this size are parsed by several threads, each on its own byte range.
const PARALLEL_FROM: u64 = 8 << 20;

/// Feed `parser` the next `len` bytes of `file` (to the end when shorter), whole lines at a time.
fn read_range(
    file: &mut std::fs::File,
    len: u64,
    parser: &mut Parser<'_>,
    origin: &str,
) -> Result<()> {
    let io = |source| Error::Io {
        path: origin.to_string(),
        source,
    };
    let mut left = len;
    // Read into the spare capacity (`read_to_end` on a `take` neither zeroes nor grows it).
    let mut buf: Vec<u8> = Vec::with_capacity(BLOCK);
    loop {
        if buf.len() == buf.capacity() {
            // A single line longer than the block: grow rather than fail.
            buf.reserve(buf.capacity());
        }
        let want = (buf.capacity() - buf.len()).min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = if want == 0 {
            0
        } else {
            (&mut *file)
                .take(want as u64)
                .read_to_end(&mut buf)
                .map_err(io)?
        };
        if n == 0 {
            return parser.feed(&buf);
        }
        left -= n as u64;
        if let Some(last) = buf.iter().rposition(|&b| b == b'\n') {
            parser.feed(&buf[..=last])?;
            buf.drain(..=last);
        }
    }
}

/// Parse a large file on `threads` threads: the header first, then the data split at line
/// starts into one byte range per thread; the pieces are joined in order at the common
/// scales, and an error's line number counts the lines of the ranges before it. `None`
/// when no split points are found (e.g. one enormous line): the caller parses serially.
fn load_parallel(
    file: &mut std::fs::File,
    size: u64,
    threads: usize,
    origin: &str,
    path: &Path,
) -> Result<Option<BarSeries>> {
    let io = |source| Error::Io {
        path: origin.to_string(),
        source,
    };
    // The header line, and where the data starts.
    let mut head = vec![0u8; 64 << 10];
    let n = read_at(file, 0, &mut head).map_err(io)?;
    let Some(nl) = head[..n].iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    let mut first = Parser::new(origin, usize::try_from(size).unwrap_or(0));
    first.feed(&head[..=nl])?;
    let data_start = (nl + 1) as u64;
    // Split points: the first line start at or after each even share of the data.
    let mut bounds = vec![data_start];
    for k in 1..threads as u64 {
        let target = data_start + (size - data_start) * k / threads as u64;
        let mut window = vec![0u8; 64 << 10];
        let n = read_at(file, target, &mut window).map_err(io)?;
        let Some(e) = window[..n].iter().position(|&b| b == b'\n') else {
            return Ok(None);
        };
        let b = target + e as u64 + 1;
        if b > *bounds.last().unwrap_or(&0) && b < size {
            bounds.push(b);
        }
    }
    bounds.push(size);
    let mut parsers: Vec<Parser<'_>> = bounds
        .windows(2)
        .skip(1)
        .map(|w| Parser::continuation(&first, usize::try_from(w[1] - w[0]).unwrap_or(0)))
        .collect();
    parsers.insert(0, first);
    let parts: Vec<Result<Parser<'_>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .zip(parsers)
            .map(|(w, mut parser)| {
                let (from, to) = (w[0], w[1]);
                scope.spawn(move || -> Result<Parser<'_>> {
                    let mut f = std::fs::File::open(path).map_err(|source| Error::Io {
                        path: origin.to_string(),
                        source,
                    })?;
                    f.seek(SeekFrom::Start(from)).map_err(|source| Error::Io {
                        path: origin.to_string(),
                        source,
                    })?;
                    read_range(&mut f, to - from, &mut parser, origin)?;
                    Ok(parser)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(Error::Config("CSV parser thread panicked".into())))
            })
            .collect()
    });
    // Lines before each range, to turn a range's relative line numbers into the file's.
    let mut joined: Option<Parser<'_>> = None;
    let mut lines_before = 0;
    for part in parts {
        let part = match part {
            Ok(p) => p,
            Err(Error::Csv {
                path,
                line,
                column,
                reason,
            }) => {
                return Err(Error::Csv {
                    path,
                    line: line + lines_before,
                    column,
                    reason,
                });
            }
            Err(e) => return Err(e),
        };
        match joined.as_mut() {
            None => {
                lines_before = part.line - 1;
                joined = Some(part);
            }
            Some(j) => {
                let consumed = part.line - 1;
                j.append(part).map_err(|(column, reason)| Error::Csv {
                    path: origin.to_string(),
                    line: lines_before + 1,
                    column,
                    reason,
                })?;
                lines_before += consumed;
                j.line = lines_before + 1;
            }
        }
    }
    joined.map(|p| p.finish(&symbol_of(path))).transpose()
}

/// Read up to `buf.len()` bytes at `offset` (fewer at the end of the file).
fn read_at(file: &mut std::fs::File, offset: u64, buf: &mut [u8]) -> std::io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut n = 0;
    while n < buf.len() {
        let k = file.read(&mut buf[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

fn symbol_of(path: &Path) -> String {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("CSV");
    let symbol: String = stem
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(32)
        .collect();
    if symbol.is_empty() {
        "CSV".to_string()
    } else {
        symbol
    }
}

/// Parse CSV text (see the module docs); `origin` names the source in errors.
///
/// # Errors
/// [`Error::Csv`].
pub fn parse_csv(text: &str, symbol: &str, origin: &str) -> Result<BarSeries> {
    let mut p = Parser::new(origin, text.len());
    p.feed(text.as_bytes())?;
    p.finish(symbol)
}

/// Incremental parser state: fed whole lines, in order.
struct Parser<'a> {
    origin: &'a str,
    size_hint: usize,
    /// Line number of the next line to read (1-based).
    line: usize,
    /// Columns after `volume` in the header (skipped on every row).
    extra: bool,
    /// Whether the header was read (or the input starts after it).
    header_done: bool,
    ts: Vec<i64>,
    px: [Vec<i64>; 4],
    vol: Vec<i64>,
    pscale: u32,
    vscale: u32,
    /// Last `YYYY-MM-DD` seen and its midnight in nanoseconds.
    day: ([u8; 10], i64),
    /// The `YYYY-MM-DD[T ]HH` of the last fast-path row (its bytes 0..8 and 5..13 as
    /// little-endian words) and its hour in nanoseconds.
    hour: (u64, u64, i64),
    /// Rows read by [`Parser::fast_rows`] before they go to the columns (kept between
    /// calls so that it is not cleared on each).
    stage: Option<Box<Stage>>,
    /// Whether to try the fast paths (tests turn them off to compare).
    fast: bool,
    /// Rows in a row that the fast paths refused.
    refused: usize,
    /// The last two layouts of each number column in [`Parser::window_row`].
    layouts: [Layouts; 5],
}

/// Rows staged by [`Parser::fast_rows`] at a time.
const STAGE: usize = 128;

/// Staged rows, column-major: time, open, high, low, close, volume.
type Stage = [[i64; STAGE]; 6];

/// Why a field failed, before the line is known.
type FieldError = (usize, String);

impl<'a> Parser<'a> {
    fn new(origin: &'a str, size_hint: usize) -> Self {
        Self {
            origin,
            size_hint,
            line: 1,
            extra: false,
            header_done: false,
            ts: Vec::new(),
            px: std::array::from_fn(|_| Vec::new()),
            vol: Vec::new(),
            pscale: 0,
            vscale: 0,
            day: ([0; 10], 0),
            // A true entry, so that it needs no validity flag.
            hour: (
                u64::from_le_bytes(*b"1970-01-"),
                u64::from_le_bytes(*b"01-01T00"),
                0,
            ),
            stage: None,
            fast: true,
            refused: 0,
            layouts: [([Layout::DIGITS; 2], 0); 5],
        }
    }

    /// A parser for a range of data lines after the header of `first` (line numbers
    /// relative to the range).
    fn continuation(first: &Self, size_hint: usize) -> Self {
        let mut p = Self::new(first.origin, size_hint);
        p.header_done = true;
        p.extra = first.extra;
        p.reserve(size_hint / 48 + 16);
        p
    }

    fn reserve(&mut self, rows: usize) {
        self.ts.reserve(rows);
        for c in &mut self.px {
            c.reserve(rows);
        }
        self.vol.reserve(rows);
    }

    /// Append the rows of the next range, bringing both to the larger scales.
    fn append(&mut self, mut next: Self) -> std::result::Result<(), FieldError> {
        if next.ts.is_empty() {
            return Ok(());
        }
        if let (Some(&a), Some(&b)) = (self.ts.last(), next.ts.first())
            && b <= a
        {
            return Err((1, "bar is not after the previous one".into()));
        }
        let pscale = self.pscale.max(next.pscale);
        let vscale = self.vscale.max(next.vscale);
        for (cols, from) in [(&mut self.px, self.pscale), (&mut next.px, next.pscale)] {
            rescale(cols, from, pscale)
                .ok_or((2, "price out of range at the common scale".to_string()))?;
        }
        rescale(std::slice::from_mut(&mut self.vol), self.vscale, vscale)
            .ok_or((6, "volume out of range at the common scale".to_string()))?;
        rescale(std::slice::from_mut(&mut next.vol), next.vscale, vscale)
            .ok_or((6, "volume out of range at the common scale".to_string()))?;
        self.pscale = pscale;
        self.vscale = vscale;
        // A column at a time, each freed once copied: the peak is the rows once plus one
        // column of `next`, not both ranges whole (large columns are `mmap`ed, so the
        // growth of ours is a remap and the free goes back to the system).
        let columns = std::iter::once((&mut self.ts, &mut next.ts))
            .chain(self.px.iter_mut().zip(&mut next.px))
            .chain(std::iter::once((&mut self.vol, &mut next.vol)));
        for (ours, theirs) in columns {
            ours.extend_from_slice(theirs);
            *theirs = Vec::new();
        }
        Ok(())
    }

    fn err(&self, column: usize, reason: String) -> Error {
        Error::Csv {
            path: self.origin.to_string(),
            line: self.line,
            column,
            reason,
        }
    }

    fn header(&mut self, line: &[u8]) -> Result<()> {
        let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
        let text = String::from_utf8_lossy(line);
        let cols: Vec<String> = text
            .trim()
            .split(',')
            .map(|c| c.trim().to_ascii_lowercase())
            .collect();
        if cols.len() < 6
            || cols[1..6] != COLUMNS[1..]
            || !matches!(
                cols[0].as_str(),
                "timestamp" | "open_time" | "date" | "time"
            )
        {
            return Err(self.err(
                0,
                format!(
                    "expected header timestamp,open,high,low,close,volume, found {:?}",
                    text.trim()
                ),
            ));
        }
        self.extra = cols.len() > 6;
        // Reserve from the length of the first data line's worth of bytes per row (~60 for 1m crypto).
        self.reserve(self.size_hint / 48 + 16);
        Ok(())
    }

    /// Parse whole lines (the last may lack its newline only at the end of input).
    fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        let mut p = 0;
        if !self.header_done {
            let end = bytes
                .iter()
                .position(|&b| b == b'\n')
                .unwrap_or(bytes.len());
            self.header(&bytes[..end])?;
            self.header_done = true;
            self.line += 1;
            p = (end + 1).min(bytes.len());
        }
        while p < bytes.len() {
            // After a run of rows the fast readers refused (another time layout, long
            // numbers), try them only now and then.
            let try_fast = self.fast && (self.refused < 8 || self.refused.is_multiple_of(64));
            if try_fast {
                let next = self.fast_rows(bytes, p);
                if next != p {
                    self.refused = 0;
                }
                p = next;
            }
            match bytes.get(p) {
                None => break,
                Some(b'\n') => {
                    p += 1;
                    self.line += 1;
                    continue;
                }
                Some(b'\r') if bytes.get(p + 1).is_none_or(|&b| b == b'\n') => {
                    p += 1;
                    continue;
                }
                _ => {}
            }
            let quick = if try_fast {
                self.fast_row(bytes, p)
            } else {
                None
            };
            p = match quick {
                Some(next) => {
                    self.refused = 0;
                    next
                }
                None => {
                    self.refused += 1;
                    self.row(bytes, p).map_err(|(c, r)| self.err(c, r))?
                }
            };
            self.line += 1;
        }
        Ok(())
    }

    /// Rows from `p` while [`Parser::window_row`] reads them; returns where it stopped.
    /// The values go through a small column-major stage, appended to the columns a block
    /// at a time (cheaper than six pushes a row).
    #[inline(never)]
    fn fast_rows(&mut self, b: &[u8], mut p: usize) -> usize {
        let mut stage = self
            .stage
            .take()
            .unwrap_or_else(|| Box::new([[0; STAGE]; 6]));
        let mut n = 0;
        while let Some((next, row)) = self.window_row(b, p) {
            for (col, v) in stage.iter_mut().zip(row) {
                col[n] = v;
            }
            n += 1;
            p = next;
            if n == STAGE {
                self.append_stage(&stage, n);
                n = 0;
            }
        }
        if n > 0 {
            self.append_stage(&stage, n);
        }
        self.stage = Some(stage);
        p
    }

    /// Append the first `n` staged rows to the columns.
    fn append_stage(&mut self, stage: &Stage, n: usize) {
        let [t, o, h, l, c, v] = stage;
        self.ts.extend_from_slice(&t[..n]);
        for (col, from) in self.px.iter_mut().zip([o, h, l, c]) {
            col.extend_from_slice(&from[..n]);
        }
        self.vol.extend_from_slice(&v[..n]);
        self.line += n;
    }

    /// [`Parser::fast_row`] for a row with numbers of at most 8 characters, on a fixed-size
    /// window of the input so that no read needs a bounds check: where the next row starts
    /// and the row's six values, or `None` (nothing changed but the caches) for anything
    /// else, or within [`WINDOW`] bytes of the end of `b`.
    #[inline(always)]
    fn window_row(&mut self, b: &[u8], p: usize) -> Option<(usize, [i64; 6])> {
        let w: &[u8; WINDOW] = b.get(p..)?.first_chunk()?;
        if word(w, 0) != self.hour.0 || word(w, 5) != self.hour.1 {
            self.new_hour(w.first_chunk()?)?;
        }
        let t = self.hour.2 + minute_second(word(w, 12))?;
        let ps = self.pscale;
        let [lo, lh, ll, lc, lv] = &mut self.layouts;
        let (o, q) = window_price(w, 20, ps, lo)?;
        let (h, q) = window_price(w, q, ps, lh)?;
        let (l, q) = window_price(w, q, ps, ll)?;
        let (c, q) = window_price(w, q, ps, lc)?;
        let (vm, vs, q, after) = window_number(w, q, lv);
        if vs > self.vscale {
            return None;
        }
        let v = vm?.checked_mul(POW10_32[((self.vscale - vs) & 31) as usize])?;
        let end = match after {
            b'\n' => p + q + 1,
            b'\r' if w[q + 1] == b'\n' => p + q + 2,
            b',' if self.extra => b[p + q..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |e| p + q + e + 1),
            _ => return None,
        };
        Some((end, [t, o, h, l, c, v]))
    }

    /// The common row: `YYYY-MM-DD[T ]HH:MM:SS,` in the cached hour (or the cached day) and
    /// five plain decimals (digits with at most one `.`: 8 characters at most, or up to 7
    /// digits on either side of the `.`) at no more than the current scales, read without
    /// per-byte loops. Returns the position after the row's newline, or `None` (nothing
    /// changed but the hour cache) for anything else, which [`Parser::row`] then parses,
    /// caches, rescales or reports: this accepts only what `row` accepts, with the same
    /// values.
    #[inline(never)]
    fn fast_row(&mut self, b: &[u8], p: usize) -> Option<usize> {
        let f: &[u8; 20] = b.get(p..)?.first_chunk()?;
        if word(f, 0) != self.hour.0 || word(f, 5) != self.hour.1 {
            self.new_hour(f)?;
        }
        let t = self.hour.2 + minute_second(word(f, 12))?;
        let ps = self.pscale;
        let (o, q) = price(b, p + 20, ps)?;
        let (h, q) = price(b, q, ps)?;
        let (l, q) = price(b, q, ps)?;
        let (c, q) = price(b, q, ps)?;
        let (vm, vs, q, after) = decimal(b, q)?;
        if vs > self.vscale {
            return None;
        }
        let v = vm.checked_mul(POW10[(self.vscale - vs) as usize])?;
        let end = match after {
            b'\n' => q + 1,
            b'\r' if matches!(b.get(q + 1), None | Some(b'\n')) => q + 2,
            b',' if self.extra => b[q..]
                .iter()
                .position(|&c| c == b'\n')
                .map_or(b.len(), |e| q + e + 1),
            _ => return None,
        };
        self.ts.push(t);
        let [open, high, low, close] = &mut self.px;
        open.push(o);
        high.push(h);
        low.push(l);
        close.push(c);
        self.vol.push(v);
        Some(end)
    }

    /// Cache the hour of the timestamp `f` (`YYYY-MM-DD[T ]HH:MM:SS,`) when its day is the
    /// cached day; `None` otherwise (the slow path reads it and caches the day).
    #[cold]
    #[inline(never)]
    fn new_hour(&mut self, f: &[u8; 20]) -> Option<()> {
        if f[4] != b'-' || f[7] != b'-' || (f[10] != b'T' && f[10] != b' ') || f[..10] != self.day.0
        {
            return None;
        }
        let (h1, h2) = (f[11].wrapping_sub(b'0'), f[12].wrapping_sub(b'0'));
        if h1 >= 10 || h2 >= 10 || h1 * 10 + h2 >= 24 {
            return None;
        }
        self.hour = (
            word(f, 0),
            word(f, 5),
            self.day.1 + i64::from(h1 * 10 + h2) * 3_600_000_000_000,
        );
        Some(())
    }

    /// One data row starting at `p`; returns the position after its newline.
    #[inline]
    fn row(&mut self, b: &[u8], mut p: usize) -> std::result::Result<usize, FieldError> {
        let t = self.time(b, &mut p)?;
        let mut vals = [(0i64, 0u32); 4];
        for (k, v) in vals.iter_mut().enumerate() {
            *v = number(b, &mut p, k + 2)?;
            expect_comma(b, &mut p, k + 2)?;
        }
        let (vm, vs) = number(b, &mut p, 6)?;
        // End of the row: newline (or end of input), or more columns when the header has them.
        match b.get(p) {
            None => {}
            Some(b'\n') => p += 1,
            Some(b'\r') if matches!(b.get(p + 1), None | Some(b'\n')) => p += 2,
            Some(b',') if self.extra => {
                p += b[p..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len() - p, |e| e + 1);
            }
            Some(&c) => {
                return Err((
                    6,
                    format!(
                        "volume: unexpected {:?} after the number (6 columns expected)",
                        char::from(c)
                    ),
                ));
            }
        }
        // The four prices share one scale: grow it for all columns at once (at most 16 times).
        let s_max = vals.iter().map(|v| v.1).max().unwrap_or(0);
        if s_max > self.pscale {
            let f = POW10[(s_max - self.pscale) as usize];
            for col in &mut self.px {
                for v in col.iter_mut() {
                    *v = v
                        .checked_mul(f)
                        .ok_or_else(|| (2, "price out of range at the common scale".to_string()))?;
                }
            }
            self.pscale = s_max;
        }
        for (k, (col, (m, s))) in self.px.iter_mut().zip(vals).enumerate() {
            let v = if s == self.pscale {
                m
            } else {
                m.checked_mul(POW10[(self.pscale - s) as usize])
                    .ok_or_else(|| (k + 2, "price out of range at the common scale".to_string()))?
            };
            col.push(v);
        }
        push_scaled(&mut self.vol, vm, vs, &mut self.vscale)
            .ok_or_else(|| (6, "volume out of range at the common scale".to_string()))?;
        self.ts.push(t);
        Ok(p)
    }

    /// The timestamp field and its comma.
    #[inline]
    fn time(&mut self, b: &[u8], p: &mut usize) -> std::result::Result<i64, FieldError> {
        let s = *p;
        // Fast path: `YYYY-MM-DD[T ]HH:MM:SS,` with the date cached.
        if let Some(f) = b.get(s..s + 20)
            && f[19] == b','
            && f[4] == b'-'
            && f[7] == b'-'
            && (f[10] == b'T' || f[10] == b' ')
            && f[13] == b':'
            && f[16] == b':'
        {
            let date = &f[..10];
            let midnight = if date == self.day.0 {
                self.day.1
            } else {
                let d = fast_time(std::str::from_utf8(date).unwrap_or(""))
                    .ok_or_else(|| (1, format!("bad timestamp {:?}", lossy(&f[..19]))))?;
                self.day.0.copy_from_slice(date);
                self.day.1 = d;
                d
            };
            if let (Some(h), Some(m), Some(sec)) =
                (num(&f[11..13]), num(&f[14..16]), num(&f[17..19]))
                && h < 24
                && m < 60
                && sec < 61
            {
                *p = s + 20;
                return Ok(midnight + (h * 3600 + m * 60 + sec) * 1_000_000_000);
            }
            return Err((1, format!("bad timestamp {:?}", lossy(&f[..19]))));
        }
        let end = b[s..]
            .iter()
            .position(|&c| c == b',' || c == b'\n')
            .map_or(b.len(), |e| s + e);
        let field = &b[s..end];
        if b.get(end) != Some(&b',') {
            return Err((1, "expected 6 columns, found 1".into()));
        }
        let t = std::str::from_utf8(field)
            .ok()
            .and_then(parse_time)
            .ok_or_else(|| (1, format!("bad timestamp {:?}", lossy(field))))?;
        *p = end + 1;
        Ok(t)
    }

    fn finish(self, symbol: &str) -> Result<BarSeries> {
        if self.ts.is_empty() {
            return Err(Error::Csv {
                path: self.origin.to_string(),
                line: self.line.max(2),
                column: 0,
                reason: "no bars".into(),
            });
        }
        let interval = infer_interval(&self.ts);
        let [open, high, low, close] = self.px;
        let mut instrument =
            Instrument::with_defaults(InstrumentId::parse(symbol, "csv")?, InstrumentKind::Equity)?;
        instrument.tick_size = Price::from_parts(1, self.pscale)?;
        let series = BarSeries {
            instrument,
            interval,
            price_scale: self.pscale,
            volume_scale: self.vscale,
            open_time: self.ts,
            open,
            high,
            low,
            close,
            volume: self.vol,
        };
        series.validate()?;
        Ok(series)
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[inline]
fn expect_comma(b: &[u8], p: &mut usize, column: usize) -> std::result::Result<(), FieldError> {
    if b.get(*p) == Some(&b',') {
        *p += 1;
        Ok(())
    } else {
        Err((
            column,
            format!("expected 6 columns, found {column} on this line"),
        ))
    }
}

/// Bytes `0x30 ^ c` of a little-endian chunk: a digit's value, or 10 and more for other bytes.
const ZEROS: u64 = 0x3030_3030_3030_3030;

/// `0x80` in each byte of `x` that is 10 or more (not a digit after `^ ZEROS`), exactly up
/// to and including the first such byte, and in the second one when the first is below
/// `0x8A` (a byte of 0x8A and more may carry into the byte above it, which then reads as
/// a non-digit too): enough to find the first non-digit, to tell whether there is one,
/// and to find the next after a `.`.
#[inline(always)]
fn non_digits(x: u64) -> u64 {
    (x.wrapping_add(0x7676_7676_7676_7676) | x) & 0x8080_8080_8080_8080
}

/// The number written by the 8 digit values of `x`, the first (most significant) in the
/// lowest byte.
#[inline(always)]
fn eight_digits(x: u64) -> i64 {
    let x = x.wrapping_mul(10).wrapping_add(x >> 8);
    let x = ((x & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((x >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    // At most 99,999,999.
    x as i64
}

/// Bytes of input that [`Parser::window_row`] reads at once: a row of up to 67 bytes
/// (20 for the time, 5 numbers of up to 8 characters with their separators, `\r\n`) and
/// the 8-byte reads from its last number.
const WINDOW: usize = 80;

/// The little-endian word at `i` of `w` (`i` ≤ 12 or masked to 63 by the callers).
#[inline(always)]
fn word<const N: usize>(w: &[u8; N], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&w[i..i + 8]);
    u64::from_le_bytes(a)
}

/// Nanoseconds of `:MM:SS` from the word of bytes 12..20 of a timestamp field
/// (`H:MM:SS,`, the hour digit already checked), checking the separators, the digits and
/// the ranges; `None` also for second 60, which the slow path takes.
#[inline(always)]
fn minute_second(tail: u64) -> Option<i64> {
    // Less `0:00:00,`: zero separators, digit values for the minute and second.
    let x = tail ^ u64::from_le_bytes(*b"0:00:00,");
    // Per byte (low to high): the hour digit (no check), separator (0), minute tens (≤ 5),
    // minute units (≤ 9), separator, second tens (≤ 5), second units, separator. A byte
    // over its limit sets its top bit, before or after the add (which may then carry into
    // the bytes above, flagged anyway).
    let over = x.wrapping_add(0x7F76_7A7F_767A_7F00) | x;
    if over & 0x8080_8080_8080_8000 != 0 {
        return None;
    }
    let d = |k: u32| ((x >> (8 * k)) & 0xFF) as i64;
    Some(((d(2) * 10 + d(3)) * 60 + d(5) * 10 + d(6)) * 1_000_000_000)
}

/// A price and its comma at byte `at` of the window `w`, at the scale `ps`, and where the
/// next field starts.
#[inline(always)]
fn window_price(w: &[u8; WINDOW], at: usize, ps: u32, lays: &mut Layouts) -> Option<(i64, usize)> {
    let (m, s, end, after) = window_number(w, at, lays);
    if after != b',' || s > ps {
        return None;
    }
    Some((m?.checked_mul(POW10_32[((ps - s) & 31) as usize])?, end + 1))
}

/// [`POW10`] padded to 32 entries, for indices masked to 31 (all below 17 in use).
const POW10_32: [i64; 32] = {
    let mut t = [0; 32];
    let mut k = 0;
    while k < POW10.len() {
        t[k] = POW10[k];
        k += 1;
    }
    t
};

/// What [`short_number`] reads at byte `at` (< 64) of the window `w`, its layout taken
/// from `lays` when one matches (and stored there when none does): the mantissa (`None` for another form),
/// scale, end and the byte there (whatever they are when the mantissa is `None`).
#[inline(always)]
fn window_number(w: &[u8; WINDOW], at: usize, lays: &mut Layouts) -> (Option<i64>, u32, usize, u8) {
    let at = at & 63;
    let chunk = word(w, at);
    let x = chunk ^ ZEROS;
    let nd = non_digits(x);
    // The non-digit bytes (less `0`, so none is zero), in place; digits zero.
    let key = x & ((nd >> 7) * 0xFF);
    // The last two layouts; a new one replaces the one not used last.
    let k = if key == lays.0[0].key {
        0
    } else if key == lays.0[1].key {
        1
    } else {
        let Some(l) = Layout::of(chunk, nd, key) else {
            return (None, 0, at, 0);
        };
        let k = 1 - (lays.1 & 1);
        lays.0[k] = l;
        k
    };
    lays.1 = k;
    let lay = &lays.0[k];
    let m = eight_digits((((x & lay.low) << 8) | (x & lay.high)) << (lay.shift & 63));
    let end = at + (lay.len & 15) as usize;
    (Some(m), lay.scale, end, w[end])
}

/// Two [`Layout`]s and which was used last.
type Layouts = ([Layout; 2], usize);

/// How to read a plain decimal of at most 8 characters from the 8 bytes at its start,
/// found from the positions and values of the non-digit bytes there (`key`): the rows of
/// a file repeat a few layouts per column, so [`window_number`] keeps the last two.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    /// The non-digit bytes of the chunk less `0` (so none is zero), digits zero.
    key: u64,
    /// The integer digits before a `.` (moved up one byte over it), none without a `.`.
    low: u64,
    /// The bytes kept in place: those after the `.`, or all.
    high: u64,
    /// Left shift that puts the digits at the top, dropping what follows the number.
    shift: u32,
    /// Digits after the `.`.
    scale: u32,
    /// Bytes of the number (8 when the chunk is all number).
    len: u32,
}

impl Layout {
    /// Eight digits (the layout of key 0).
    const DIGITS: Self = Self {
        key: 0,
        low: 0,
        high: !0,
        shift: 0,
        scale: 0,
        len: 8,
    };

    /// The layout of `chunk` (`nd` the [`non_digits`] of its bytes less `0`, `key` as in
    /// [`Layout::key`]); `None` when it does not start with a digit. The first flagged
    /// byte is the first non-digit, and after a `.` (no carry) the second is the next, so
    /// the layout depends on `key` alone.
    #[inline(never)]
    fn of(chunk: u64, nd: u64, key: u64) -> Option<Self> {
        // Bit `8k + 7` for the first non-digit at byte `k`, 64 when all eight are digits.
        let t1 = nd.trailing_zeros();
        if t1 < 8 {
            return None;
        }
        // With eight digits this reads byte 0, a digit, so never the dot.
        Some(if (chunk >> (t1 & 56)) as u8 == b'.' {
            let int_len = t1 / 8;
            let len = (nd & (nd - 1)).trailing_zeros() / 8;
            let low = (1u64 << (t1 & 56)) - 1;
            Self {
                key,
                low,
                high: !low << 8,
                shift: (64 - 8 * len) & 63,
                scale: len - int_len - 1,
                len,
            }
        } else {
            let len = t1 / 8;
            Self {
                key,
                low: 0,
                high: !0,
                shift: (64 - 8 * len) & 63,
                scale: 0,
                len,
            }
        })
    }
}

/// A price and its comma at `p`, at the scale `ps`, and the position after the comma.
#[inline(always)]
fn price(b: &[u8], p: usize, ps: u32) -> Option<(i64, usize)> {
    let (m, s, end, after) = decimal(b, p)?;
    if after != b',' || s > ps {
        return None;
    }
    Some((m.checked_mul(POW10[(ps - s) as usize])?, end + 1))
}

/// [`short_number`], else [`plain_number`].
#[inline(always)]
fn decimal(b: &[u8], p: usize) -> Option<(i64, u32, usize, u8)> {
    short_number(b, p).or_else(|| plain_number(b, p))
}

/// A plain decimal of at most 8 characters at `p` (digits with at most one `.`, at least
/// one digit before it) and the byte after it, read from one 9-byte chunk: its mantissa,
/// scale, end and the byte there. `None` for any other form or near the end of `b`.
#[inline(always)]
fn short_number(b: &[u8], p: usize) -> Option<(i64, u32, usize, u8)> {
    let bytes: &[u8; 9] = b.get(p..)?.first_chunk()?;
    let chunk = u64::from_le_bytes([
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
    ]);
    let x = chunk ^ ZEROS;
    let nd = non_digits(x);
    // Bit `8k + 7` for the first non-digit at byte `k`, 64 when all eight are digits.
    let t1 = nd.trailing_zeros();
    if t1 < 8 {
        return None;
    }
    // With eight digits this reads byte 0, a digit, so never the dot.
    let (digits, scale, len) = if (chunk >> (t1 & 56)) as u8 == b'.' {
        let int_len = t1 / 8;
        let len = (nd & (nd - 1)).trailing_zeros() / 8;
        // Integer digits up one byte over the dot: one run of digits, a zero below.
        let low = (1u64 << (t1 & 56)) - 1;
        let joined = ((x & low) << 8) | (x & (!low << 8));
        (joined, len - int_len - 1, len)
    } else {
        (x, 0, t1 / 8)
    };
    // Bytes from `len` on out, the digits to the top, zeros (leading zeros) below.
    let m = eight_digits(digits << (64 - 8 * len));
    let after = if len < 8 {
        (chunk >> (8 * len)) as u8
    } else {
        bytes[8]
    };
    Some((m, scale, p + len as usize, after))
}

/// A plain decimal at `p` (1 to 7 digits, optionally `.` and at most 7 more), read eight
/// bytes at a time: its mantissa, scale, end and the byte there. `None` for any other form,
/// or when fewer than 8 bytes are left to read; [`number`] reads those.
#[inline]
fn plain_number(b: &[u8], p: usize) -> Option<(i64, u32, usize, u8)> {
    let chunk = u64::from_le_bytes(*b.get(p..)?.first_chunk::<8>()?);
    let x = chunk ^ ZEROS;
    // Digits before the first other byte: 0..=8.
    let len = non_digits(x).trailing_zeros() / 8;
    if len == 0 || len == 8 {
        return None;
    }
    // The digits moved to the top bytes, zeros (leading zeros) below.
    let int = eight_digits(x << (64 - 8 * len));
    let after = (chunk >> (8 * len)) as u8;
    let at = p + len as usize;
    if after != b'.' {
        return Some((int, 0, at, after));
    }
    let chunk = u64::from_le_bytes(*b.get(at + 1..)?.first_chunk::<8>()?);
    let x = chunk ^ ZEROS;
    let frac_len = non_digits(x).trailing_zeros() / 8;
    if frac_len == 8 {
        return None;
    }
    // Shifted in two steps so that no decimals (a shift by 64) gives zero.
    let frac = eight_digits((x << (56 - 8 * frac_len)) << 8);
    let end = at + 1 + frac_len as usize;
    Some((
        int * POW10[frac_len as usize] + frac,
        frac_len,
        end,
        (chunk >> (8 * frac_len)) as u8,
    ))
}

/// A decimal field at `*p`, up to (not including) its terminator (`,`, newline or end).
///
/// The common form (`-123.456`, at most 18 digits) is read as two digit runs without
/// per-character state; anything else (exponents, spaces, long mantissas) goes through
/// [`parse_decimal`] on the whole field.
#[inline]
fn number(b: &[u8], p: &mut usize, column: usize) -> std::result::Result<(i64, u32), FieldError> {
    let start = *p;
    let rest = &b[start..];
    let (neg, mut j) = match rest.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut m: i64 = 0;
    let int_start = j;
    while let Some(&c) = rest.get(j) {
        let d = c.wrapping_sub(b'0');
        if d >= 10 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(i64::from(d));
        j += 1;
    }
    let mut digits = j - int_start;
    let mut scale = 0;
    if rest.get(j) == Some(&b'.') {
        j += 1;
        let frac_start = j;
        while let Some(&c) = rest.get(j) {
            let d = c.wrapping_sub(b'0');
            if d >= 10 {
                break;
            }
            m = m.wrapping_mul(10).wrapping_add(i64::from(d));
            j += 1;
        }
        scale = j - frac_start;
        digits += scale;
    }
    let terminated = matches!(rest.get(j), None | Some(b',' | b'\n' | b'\r'));
    if terminated
        && digits > 0
        && digits <= 18
        && scale <= tessera_model::numbers::MAX_SCALE as usize
    {
        *p = start + j;
        // `scale` ≤ 16 by the check above.
        return Ok((if neg { -m } else { m }, scale as u32));
    }
    // Exponents, spaces, more than 18 digits: the general parser on the whole field.
    let end = rest
        .iter()
        .position(|&c| matches!(c, b',' | b'\n' | b'\r'))
        .map_or(b.len(), |e| start + e);
    let v = std::str::from_utf8(&b[start..end])
        .ok()
        .and_then(parse_decimal)
        .ok_or_else(|| bad(b, start, column))?;
    *p = end;
    Ok(v)
}

fn bad(b: &[u8], start: usize, column: usize) -> FieldError {
    let end = b[start..]
        .iter()
        .position(|&c| matches!(c, b',' | b'\n' | b'\r'))
        .map_or(b.len(), |e| start + e);
    (
        column,
        format!(
            "bad {} {:?} (a decimal number was expected)",
            COLUMNS[column - 1],
            lossy(&b[start..end])
        ),
    )
}

/// Push `m × 10^-s` into `col` kept at `scale` decimals, growing the scale (and rescaling) when needed.
/// Multiply every value of `cols` by `10^(to − from)`; `None` on overflow.
fn rescale(cols: &mut [Vec<i64>], from: u32, to: u32) -> Option<()> {
    if to == from {
        return Some(());
    }
    let f = *POW10.get((to - from) as usize)?;
    for col in cols {
        for v in col.iter_mut() {
            *v = v.checked_mul(f)?;
        }
    }
    Some(())
}

fn push_scaled(col: &mut Vec<i64>, m: i64, s: u32, scale: &mut u32) -> Option<()> {
    if s > *scale {
        let f = 10i64.checked_pow(s - *scale)?;
        for v in col.iter_mut() {
            *v = v.checked_mul(f)?;
        }
        *scale = s;
    }
    col.push(m.checked_mul(10i64.checked_pow(*scale - s)?)?);
    Some(())
}

/// Parse a decimal (`-12.345`, `7`, `9e-05`) into mantissa and scale, exactly.
fn parse_decimal(s: &str) -> Option<(i64, u32)> {
    let s = s.trim();
    if let Some(pos) = s.find(['e', 'E']) {
        let (m, s0) = parse_plain(&s[..pos])?;
        let exp: i32 = s[pos + 1..].parse().ok()?;
        let scale = i64::from(s0) - i64::from(exp);
        return if scale >= 0 {
            let scale = u32::try_from(scale).ok()?;
            (scale <= tessera_model::numbers::MAX_SCALE).then_some((m, scale))
        } else {
            let f = 10i64.checked_pow(u32::try_from(-scale).ok()?)?;
            Some((m.checked_mul(f)?, 0))
        };
    }
    parse_plain(s)
}

fn parse_plain(s: &str) -> Option<(i64, u32)> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let mut m: i64 = 0;
    let mut scale = 0u32;
    let mut dot = false;
    let mut digits = 0;
    for &b in body.as_bytes() {
        match b {
            b'0'..=b'9' => {
                m = m.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
                digits += 1;
                if dot {
                    scale += 1;
                }
            }
            b'.' if !dot => dot = true,
            _ => return None,
        }
    }
    if digits == 0 || scale > tessera_model::numbers::MAX_SCALE {
        return None;
    }
    Some((if neg { -m } else { m }, scale))
}

fn num(b: &[u8]) -> Option<i64> {
    let mut v = 0i64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_time(s: &str) -> Option<i64> {
    fast_time(s.trim()).or_else(|| UnixNanos::parse(s.trim()).ok().map(|t| t.0))
}

fn fast_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (num(&b[0..4])?, num(&b[5..7])?, num(&b[8..10])?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) * 86_400;
    let mut nanos = 0i64;
    let mut rest = &b[10..];
    if !rest.is_empty() {
        if !(rest[0] == b'T' || rest[0] == b' ') || rest.len() < 6 || rest[3] != b':' {
            return None;
        }
        secs += num(&rest[1..3])? * 3600 + num(&rest[4..6])? * 60;
        rest = &rest[6..];
        if rest.first() == Some(&b':') {
            secs += num(rest.get(1..3)?)?;
            rest = &rest[3..];
            if rest.first() == Some(&b'.') {
                let end = rest[1..]
                    .iter()
                    .position(|c| !c.is_ascii_digit())
                    .map_or(rest.len(), |p| p + 1);
                let frac = &rest[1..end];
                if frac.is_empty() || frac.len() > 9 {
                    return None;
                }
                nanos = num(frac)? * 10i64.pow(9 - frac.len() as u32);
                rest = &rest[end..];
            }
        }
        match rest {
            b"" | b"Z" | b"+00:00" | b"+0000" => {}
            _ => return None,
        }
    }
    Some(secs * 1_000_000_000 + nanos)
}

/// The bar interval from the median spacing of the first 1000 labels.
fn infer_interval(ts: &[i64]) -> Interval {
    let head = &ts[..ts.len().min(1001)];
    let mut d: Vec<i64> = head.windows(2).map(|w| w[1] - w[0]).collect();
    if d.is_empty() {
        return Interval::D1;
    }
    d.sort_unstable();
    let secs = d[d.len() / 2] / 1_000_000_000;
    let pick = |count: i64, unit| {
        Interval::new(u32::try_from(count).unwrap_or(1).max(1), unit).unwrap_or(Interval::D1)
    };
    if (28 * 86_400..=31 * 86_400).contains(&secs) {
        pick(1, IntervalUnit::Month)
    } else if secs % (7 * 86_400) == 0 && secs > 0 {
        pick(secs / (7 * 86_400), IntervalUnit::Week)
    } else if secs % 86_400 == 0 && secs > 0 {
        pick(secs / 86_400, IntervalUnit::Day)
    } else if secs % 3600 == 0 && secs > 0 {
        pick(secs / 3600, IntervalUnit::Hour)
    } else if secs % 60 == 0 && secs > 0 {
        pick(secs / 60, IntervalUnit::Minute)
    } else {
        pick(secs.max(1), IntervalUnit::Second)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A CSV above the parallel threshold; from `rescale_at` on prices carry one more decimal,
    /// so the ranges parsed by different threads end up at different scales.
    fn big_csv(rescale_at: usize) -> String {
        let mut text = String::from("timestamp,open,high,low,close,volume,extra\n");
        let mut i = 0;
        while (text.len() as u64) < PARALLEL_FROM + (1 << 20) {
            let t = 1_600_000_000 + i as i64 * 60;
            let d = chrono_like(t);
            let px = 20_000 + (i % 997) as i64;
            if i >= rescale_at {
                text.push_str(&format!(
                    "{d},{px}.5,{px}.75,{px}.25,{px}.5,{}.125,x\n",
                    i % 13
                ));
            } else {
                text.push_str(&format!("{d},{px},{px},{px},{px},{},x\n", i % 13));
            }
            i += 1;
        }
        text
    }

    /// `YYYY-MM-DDTHH:MM:SS` for Unix seconds `t`.
    fn chrono_like(t: i64) -> String {
        UnixNanos(t * 1_000_000_000)
            .to_string()
            .chars()
            .take(19)
            .collect()
    }

    #[test]
    fn test_load_csv_in_parallel_equals_serial_parse_and_counts_lines() {
        let text = big_csv(120_000);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("BIG.csv");
        std::fs::write(&path, &text).unwrap();
        let parallel = load_csv(&path).unwrap();
        let serial = parse_csv(&text, "BIG", "x").unwrap();
        assert_eq!(parallel, serial);
        assert_eq!(parallel.price_scale, 2);
        assert_eq!(parallel.volume_scale, 3);
        // An error late in the file (in the last thread's range) names the file's line.
        let lines: Vec<&str> = text.lines().collect();
        let bad_line = lines.len() - 10; // 1-based line number of lines[bad_line - 1]
        let mut broken = lines.clone();
        broken[bad_line - 1] = "2020-09-13T12:26:40,1,2,3,oops,5,x";
        let broken = broken.join("\n") + "\n";
        std::fs::write(&path, &broken).unwrap();
        let err = load_csv(&path).unwrap_err().to_string();
        let serial_err = parse_csv(&broken, "BIG", &path.display().to_string())
            .unwrap_err()
            .to_string();
        assert_eq!(err, serial_err);
        assert!(err.contains(&format!(":{bad_line}:")), "{err}");
    }

    #[test]
    fn test_parse_csv_scales_and_times() {
        let text = "timestamp,open,high,low,close,volume\n2004-08-19,100.0,104.06,95.96,100.34,22351900\n2004-08-20,101.01,109.08,100.5,108.31,11428600.5\n";
        let s = parse_csv(text, "GOOG", "t").unwrap();
        assert_eq!(s.price_scale, 2);
        assert_eq!(s.open, vec![10000, 10101]);
        assert_eq!(s.high, vec![10406, 10908]);
        assert_eq!(s.volume, vec![223519000, 114286005]);
        assert_eq!(s.bar(0).close.to_string(), "100.34");
        assert_eq!(UnixNanos(s.open_time[0]).to_rfc3339()[..10], *"2004-08-19");
        assert_eq!(s.interval, Interval::D1);
        assert_eq!(s.values(1).close, 108.31);
    }

    #[test]
    fn test_parse_csv_line_endings_blank_lines_and_extra_columns() {
        let text = "\u{feff}timestamp,open,high,low,close,volume,trades\r\n\r\n2017-04-19T09:00:00,1.0716,1.0722,1.07083,1.07219,1413,7\r\n2017-04-19 10:00:00,1.07214,1.07296,1.07214,1.0726,1.5e3,9";
        let s = parse_csv(text, "EURUSD", "t").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.price_scale, 5);
        assert_eq!(s.low, vec![107_083, 107_214]);
        assert_eq!(s.volume, vec![1413, 1500]);
        assert_eq!(s.open_time[1] - s.open_time[0], 3_600_000_000_000);
        assert_eq!(
            s.open_time[0],
            UnixNanos::parse("2017-04-19T09:00:00Z").unwrap().0
        );
    }

    #[test]
    fn test_parse_csv_errors_name_line_and_column() {
        let head = "timestamp,open,high,low,close,volume\n";
        let ok = "2004-08-19T00:00:00,1,2,0.5,1.5,1\n";
        let cases = [
            (
                format!("{head}{ok}{ok}2004-08-21,1,2,0.5,1O2.5,1\n"),
                "t:4:5:",
                "close",
            ),
            (
                format!("{head}\n{ok}2004-13-01T00:00:00,1,2,0.5,1,1\n"),
                "t:4:1:",
                "timestamp",
            ),
            (format!("{head}2004-08-19,1,2,0.5\n"), "t:2:4:", "6 columns"),
            (
                format!("{head}2004-08-19,1,2,0.5,1,1,9\n"),
                "t:2:6:",
                "6 columns",
            ),
            (format!("{head}2004-08-19,1,2,,1,1\n"), "t:2:4:", "low"),
        ];
        for (text, place, what) in cases {
            let e = parse_csv(&text, "X", "t").unwrap_err().to_string();
            assert!(e.starts_with(place) && e.contains(what), "{e}");
        }
    }

    #[test]
    fn test_parse_decimal_forms() {
        assert_eq!(parse_decimal("9e-05"), Some((9, 5)));
        assert_eq!(parse_decimal("1.5E2"), Some((150, 0)));
        assert_eq!(parse_decimal("-0.25"), Some((-25, 2)));
        assert_eq!(parse_decimal("12"), Some((12, 0)));
        assert_eq!(parse_decimal("1e-20"), None);
        assert_eq!(parse_decimal("abc"), None);
        assert_eq!(parse_decimal(""), None);
    }

    #[test]
    fn test_fast_time_matches_core_parser() {
        for t in [
            "2023-03-01 00:00:00+00:00",
            "2017-04-19T09:00:00",
            "2004-08-19",
            "2024-02-29T23:59:59.5Z",
            "1969-12-31T00:00:00",
        ] {
            assert_eq!(fast_time(t), Some(UnixNanos::parse(t).unwrap().0), "{t}");
        }
        assert_eq!(
            parse_time("1700000000000"),
            Some(UnixNanos::parse("1700000000000").unwrap().0)
        );
    }

    #[test]
    fn test_parse_csv_errors_name_the_line() {
        let e = parse_csv(
            "timestamp,open,high,low,close,volume\n2004-08-19,1,2,0.5,x,1\n",
            "X",
            "f.csv",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("f.csv:2") && e.contains("close"), "{e}");
        assert!(
            parse_csv("a,b\n", "X", "f")
                .unwrap_err()
                .to_string()
                .contains("header")
        );
        let e = parse_csv(
            "timestamp,open,high,low,close,volume\n2004-08-19,1,2,0.5,3,1\n",
            "X",
            "f",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("high"), "{e}");
    }

    /// [`parse_csv`] with the fast paths off: every row through [`Parser::row`].
    fn parse_slow(text: &str) -> Result<BarSeries> {
        let mut p = Parser::new("t", text.len());
        p.fast = false;
        p.feed(text.as_bytes())?;
        p.finish("X")
    }

    /// A small deterministic generator (xorshift64*), so that failures reproduce.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn chance(&mut self, per_mille: u64) -> bool {
            self.below(1000) < per_mille
        }
        /// `min` to `min + spread - 1` random digits.
        fn digits(&mut self, min: u64, spread: u64) -> String {
            let n = min + self.below(spread);
            (0..n)
                .map(|_| char::from(b'0' + self.below(10) as u8))
                .collect()
        }
    }

    /// A decimal field: mostly plain (`123.45`), sometimes in other valid forms (signs,
    /// exponents, spaces, long), rarely invalid, to reach every branch of both paths.
    fn random_number(r: &mut Rng) -> String {
        let pick =
            |r: &mut Rng, forms: &[&str]| forms[r.below(forms.len() as u64) as usize].to_string();
        if r.chance(30) {
            return pick(
                r,
                &[
                    "+1.5",
                    "1e3",
                    "2.5E-2",
                    " 7",
                    "5.",
                    "0",
                    "00012.500",
                    "12345678",
                    "1234567.8",
                    "123456789",
                    "0.000000001",
                    ".5",
                    "123456789012.123456",
                ],
            );
        }
        if r.chance(2) {
            return pick(
                r,
                &[
                    "",
                    "-",
                    "1.2.3",
                    "x",
                    "1,5",
                    "9999999999999999999",
                    "1.12345678901234567",
                    "1é5",
                    "é",
                    "2.5½",
                ],
            );
        }
        let mut s = r.digits(1, 8);
        if r.chance(700) {
            s.push('.');
            s.push_str(&r.digits(0, 9));
        }
        s
    }

    /// `YYYY-MM-DDTHH:MM:SS` and other forms for the minute `k` after 2023-03-01, mostly
    /// valid and increasing.
    fn random_time(r: &mut Rng, k: i64) -> String {
        let t = UnixNanos((1_677_628_800 + k * 60) * 1_000_000_000).to_string();
        let base: String = t.chars().take(19).collect();
        match r.below(1000) {
            0..3 => base.replace('T', " "),
            3..6 => format!("{base}Z"),
            6..9 => format!("{}", (1_677_628_800 + k * 60) * 1000),
            9..12 => format!("{base}.5"),
            12..15 => format!("{base}+00:00"),
            15 => base[..10].to_string(),
            16 => format!("{}:60", &base[..16]),
            17 => format!("{}T24{}", &base[..10], &base[13..]),
            18 => format!("{}{}", &base[..17], "6x"),
            _ => base,
        }
    }

    fn random_csv(r: &mut Rng, rows: i64) -> String {
        let extra = r.chance(300);
        let mut text = String::from("timestamp,open,high,low,close,volume");
        text.push_str(if extra { ",n\n" } else { "\n" });
        let crlf = r.chance(200);
        let mut k = 0;
        for _ in 0..rows {
            k += if r.chance(20) { 1500 } else { 1 };
            // One price in the four columns, so that the bars are valid.
            let px = random_number(r);
            let vol = random_number(r);
            let mut line = format!("{},{px},{px},{px},{px},{vol}", random_time(r, k));
            if extra {
                line.push_str(",7");
            }
            if r.chance(3) {
                line.push_str(",9");
            }
            if r.chance(10) {
                line.push_str(if crlf { "\r\n" } else { "\n" });
            }
            text.push_str(&line);
            text.push_str(if crlf { "\r\n" } else { "\n" });
        }
        if r.chance(500) {
            text.pop();
        }
        text
    }

    #[test]
    fn test_fast_paths_agree_with_the_row_parser() {
        let mut r = Rng(0x9E37_79B9_7F4A_7C15);
        let (mut ok, mut failed) = (0, 0);
        for case in 0..600 {
            // Low-noise inputs parse whole; noisy ones fail somewhere (the same way).
            let rows = 1 + r.below(400) as i64;
            let text = if case % 2 == 0 {
                random_csv(&mut r, rows)
            } else {
                // Plain rows only: mostly parse.
                let mut text = String::from("timestamp,open,high,low,close,volume\n");
                for k in 0..rows {
                    let t: String = UnixNanos((1_677_628_800 + k * 60) * 1_000_000_000)
                        .to_string()
                        .chars()
                        .take(19)
                        .collect();
                    let px = format!("{}.{}", r.digits(1, 5), r.digits(0, 4));
                    let vol = format!("{}.{}", r.digits(1, 3), r.digits(0, 8));
                    text.push_str(&format!("{t},{px},{px},{px},{px},{vol}\n"));
                }
                text
            };
            let fast = parse_csv(&text, "X", "t");
            let slow = parse_slow(&text);
            match (&fast, &slow) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "case {case}");
                    ok += 1;
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string(), "case {case}");
                    failed += 1;
                }
                _ => panic!("case {case}: {fast:?} vs {slow:?}\n{text}"),
            }
        }
        // Both kinds were exercised.
        assert!(ok > 200 && failed > 100, "{ok} parsed, {failed} failed");
    }

    #[test]
    fn test_mantissas_match_rust_decimal() {
        use std::str::FromStr as _;
        let mut r = Rng(42);
        for _ in 0..200 {
            let mut text = String::from("timestamp,open,high,low,close,volume\n");
            let mut written = Vec::new();
            for k in 0..300 {
                let t: String = UnixNanos((1_600_000_000 + k * 3600) * 1_000_000_000)
                    .to_string()
                    .chars()
                    .take(19)
                    .collect();
                // Same value in the four price columns (so that the bar is valid).
                let px = format!("{}.{}", r.digits(1, 8), r.digits(0, 9));
                let px = if r.chance(200) { r.digits(1, 9) } else { px };
                let vol = format!("{}.{}", r.digits(1, 4), r.digits(0, 10));
                text.push_str(&format!("{t},{px},{px},{px},{px},{vol}\n"));
                written.push((px, vol));
            }
            let s = parse_csv(&text, "X", "t").unwrap();
            for (i, (px, vol)) in written.iter().enumerate() {
                for (field, got, scale) in [
                    (px, s.close[i], s.price_scale),
                    (vol, s.volume[i], s.volume_scale),
                ] {
                    let d = rust_decimal::Decimal::from_str(field).unwrap();
                    let want =
                        i64::try_from(d.mantissa()).unwrap() * POW10[(scale - d.scale()) as usize];
                    assert_eq!(got, want, "{field} at scale {scale}");
                }
            }
        }
    }

    #[test]
    fn test_short_numbers_and_times() {
        let w = |s: &str| {
            let mut a = [b'#'; WINDOW];
            a[..s.len()].copy_from_slice(s.as_bytes());
            a
        };
        for (field, want) in [
            ("1,", Some((1, 0, 1, b','))),
            ("12345678,", Some((12_345_678, 0, 8, b','))),
            ("23140.48,", Some((2_314_048, 2, 8, b','))),
            ("0.881378\n", Some((881_378, 6, 8, b'\n'))),
            ("5.,", Some((5, 0, 2, b','))),
            ("007.50\r", Some((750, 2, 6, b'\r'))),
            // Eight bytes at most: the callers reject the digit after them.
            ("1.2345678", Some((1_234_567, 6, 8, b'8'))),
        ] {
            // From scratch, then again from the layout it left (the same), then from
            // another layout.
            let mut lays = ([Layout::DIGITS; 2], 0);
            let (m, s, end, after) = window_number(&w(field), 0, &mut lays);
            assert_eq!(m.map(|m| (m, s, end, after)), want, "{field}");
            let kept = lays;
            let (m, s, end, after) = window_number(&w(field), 0, &mut lays);
            assert_eq!(m.map(|m| (m, s, end, after)), want, "{field}");
            assert_eq!(lays, kept);
            // Found second, and again after a third layout pushed it out.
            for other in ["1.5,", "22,"] {
                let _ = window_number(&w(other), 0, &mut lays);
                let (m, s, end, after) = window_number(&w(field), 0, &mut lays);
                assert_eq!(m.map(|m| (m, s, end, after)), want, "{field}");
            }
        }
        for field in [".5,", "-1,", "+1,", ",", "x1,"] {
            let mut lays = ([Layout::DIGITS; 2], 0);
            assert_eq!(window_number(&w(field), 0, &mut lays).0, None, "{field}");
        }
        let word = |s: &[u8; 8]| u64::from_le_bytes(*s);
        assert_eq!(minute_second(word(b"0:00:00,")), Some(0));
        assert_eq!(
            minute_second(word(b"9:59:59,")),
            Some((59 * 60 + 59) * 1_000_000_000)
        );
        for bad in [
            b"0:60:00,",
            b"0:00:60,",
            b"0:0a:00,",
            b"0;00:00,",
            b"0:00:00Z",
            b"0:00:0:,",
        ] {
            assert_eq!(
                minute_second(word(bad)),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }
    /// Every bar file of the shared real data parses to the same columns (or the same error)
    /// with the fast readers as through [`Parser::row`] alone.
    #[test]
    fn test_shared_data_files_fast_equals_slow() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
        if !dir.exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "{} is missing (CI=true)",
                dir.display()
            );
            eprintln!("SKIPPED: {} is missing", dir.display());
            return;
        }
        let mut files = vec![dir.clone()];
        let mut checked = 0;
        while let Some(d) = files.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    files.push(path);
                    continue;
                }
                if path.extension().and_then(|e| e.to_str()) != Some("csv") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                let first = text.lines().next().unwrap_or_default().to_ascii_lowercase();
                if !first.contains(",open,high,low,close,volume") {
                    continue;
                }
                let (fast, slow) = (parse_csv(&text, "X", "t"), parse_slow(&text));
                match (fast, slow) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "{}", path.display()),
                    (a, b) => assert_eq!(
                        a.map(|_| ()).map_err(|e| e.to_string()),
                        b.map(|_| ()).map_err(|e| e.to_string()),
                        "{}",
                        path.display()
                    ),
                }
                checked += 1;
            }
        }
        assert!(
            checked >= 30,
            "only {checked} bar files found under {}",
            dir.display()
        );
    }

    /// The benchmark file (`tools/backtest/make_1m_bars.py`), when present: the parallel
    /// fast parse equals the serial parse through [`Parser::row`] alone.
    #[test]
    #[ignore = "needs /tmp/btcusdt_1m_1M.csv; run with --ignored"]
    fn test_benchmark_file_fast_equals_slow() {
        let path = Path::new("/tmp/btcusdt_1m_1M.csv");
        let text = std::fs::read_to_string(path).unwrap();
        let fast = load_csv(path).unwrap();
        let slow = parse_slow(&text).unwrap();
        assert_eq!(fast.open_time, slow.open_time);
        assert_eq!(
            [&fast.open, &fast.high, &fast.low, &fast.close],
            [&slow.open, &slow.high, &slow.low, &slow.close]
        );
        assert_eq!(fast.volume, slow.volume);
        assert_eq!(
            (fast.price_scale, fast.volume_scale),
            (slow.price_scale, slow.volume_scale)
        );
    }

    /// [`Layout::of`] depends on the key alone, whatever the bytes (non-ASCII ones carry
    /// in [`non_digits`]): chunks of the same key read the same way.
    #[test]
    fn test_layout_is_a_function_of_its_key() {
        let mut r = Rng(7);
        let alphabet = b".,\n\r -+eE\x00\x8a\xc3\xff";
        let mut seen = std::collections::HashMap::new();
        for _ in 0..200_000 {
            let bytes: [u8; 8] = std::array::from_fn(|_| {
                if r.chance(750) {
                    b'0' + r.below(10) as u8
                } else {
                    alphabet[r.below(alphabet.len() as u64) as usize]
                }
            });
            let chunk = u64::from_le_bytes(bytes);
            let x = chunk ^ ZEROS;
            let nd = non_digits(x);
            let key = x & ((nd >> 7) * 0xFF);
            let layout = Layout::of(chunk, nd, key);
            assert_eq!(*seen.entry(key).or_insert(layout), layout, "{bytes:?}");
            // And the layout reads what the row parser reads, when the number ends in the chunk.
            if let Some(l) = layout
                && l.len < 8
            {
                let field = &bytes[..l.len as usize];
                let want = std::str::from_utf8(field).ok().and_then(parse_plain);
                let mut lays = ([Layout::DIGITS; 2], 0);
                let mut w = [b'#'; WINDOW];
                w[..8].copy_from_slice(&bytes);
                let (m, s, _, _) = window_number(&w, 0, &mut lays);
                assert_eq!(m.map(|m| (m, s)), want, "{bytes:?}");
            }
        }
    }
}
