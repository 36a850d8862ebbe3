//! End-of-day sources: a generic HTTP CSV source and a watched folder.

mod folder;
mod http_csv;

pub use folder::{WatchOutcome, WatchRequest, scan_folder};
pub use http_csv::{HttpCsvCollector, HttpCsvSettings};
