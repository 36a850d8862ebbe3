//! `tessera`: one binary for a trader's whole pipeline.
//!
//! This crate only wires things: it parses the command line (clap), loads
//! the configuration, sets up logging and calls into the library crates.
//! `anyhow` lives here and nowhere else.

mod cli;
mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Print the whole cause chain: "cannot open database: …: permission denied".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
