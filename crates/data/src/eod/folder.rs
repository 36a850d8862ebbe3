//! A watched folder: each file dropped in is imported once, then moved away.
//!
//! Successful files go to `processed/`; files that cannot be imported go to
//! `failed/` beside a `<file>.reason.txt` saying why. Moving the file is
//! what makes "once" hold: a crash between import and move imports it again
//! on the next scan, which stores nothing twice (inserts are idempotent).

use std::path::{Path, PathBuf};

use tessera_model::{InstrumentId, InstrumentKind, Interval, Symbol};
use tessera_storage::Store;

use crate::error::{Error, Result};
use crate::import::{CsvOptions, ImportFormat, ImportReport, ImportRequest, import_files};

/// What the folder's files are.
#[derive(Clone, Debug)]
pub struct WatchRequest {
    /// Format of every file.
    pub format: ImportFormat,
    /// Venue of the instruments.
    pub venue: tessera_model::Venue,
    /// Bar interval.
    pub interval: Interval,
    /// Asset class of created instruments.
    pub kind: Option<InstrumentKind>,
    /// Time parsing.
    pub csv: CsvOptions,
}

/// What happened to one file.
#[derive(Debug)]
pub struct WatchOutcome {
    /// The file as found.
    pub file: PathBuf,
    /// Where it was moved.
    pub moved_to: PathBuf,
    /// The import report, or why it failed.
    pub result: std::result::Result<ImportReport, String>,
}

/// The symbol a file name stands for: up to the first `.` or `_` (`AAPL.csv`, `AAPL_daily.csv`).
fn symbol_of(path: &Path) -> Option<Symbol> {
    let name = path.file_name()?.to_str()?;
    let stem = name.split(['.', '_']).next()?;
    Symbol::new(stem).ok()
}

fn move_into(file: &Path, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let target = dir.join(file.file_name().unwrap_or_default());
    std::fs::rename(file, &target).map_err(|e| Error::io(file, e))?;
    Ok(target)
}

/// Import every regular file in `folder` (not in its subfolders), oldest name first.
///
/// # Errors
/// [`Error::Io`] when the folder cannot be listed or a file cannot be moved.
pub async fn scan_folder(
    store: &Store,
    folder: &Path,
    req: &WatchRequest,
) -> Result<Vec<WatchOutcome>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| Error::io(folder, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let result = match symbol_of(&file) {
            None => Err(format!(
                "cannot tell the symbol from the file name {}",
                file.display()
            )),
            Some(symbol) => {
                let ireq = ImportRequest {
                    instrument: InstrumentId::new(symbol, req.venue),
                    interval: req.interval,
                    format: req.format,
                    kind: req.kind,
                    tick_size: None,
                    lot_size: None,
                    strict: true,
                    overwrite: false,
                    csv: req.csv.clone(),
                };
                match import_files(store, std::slice::from_ref(&file), &ireq).await {
                    Ok(r) => Ok(r),
                    Err(e) if matches!(e, Error::Storage(ref s) if s.is_retryable()) => {
                        // The database is down: leave the file for the next scan.
                        return Err(e);
                    }
                    Err(e) => Err(e.to_string()),
                }
            }
        };
        let moved_to = match &result {
            Ok(_) => move_into(&file, &folder.join("processed"))?,
            Err(reason) => {
                let target = move_into(&file, &folder.join("failed"))?;
                let mut reason_file = target.clone().into_os_string();
                reason_file.push(".reason.txt");
                std::fs::write(&reason_file, format!("{reason}\n"))
                    .map_err(|e| Error::io(PathBuf::from(&reason_file), e))?;
                target
            }
        };
        out.push(WatchOutcome {
            file,
            moved_to,
            result,
        });
    }
    Ok(out)
}
