//! `key=value` model parameters, as `--param K=V` passes them, with typed getters that reject
//! unknown keys (a typo must not silently train with defaults).

use std::collections::BTreeMap;

use crate::error::{Error, Result};

/// Model parameters by name (stored verbatim in the registry).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// Parses `K=V` items.
    ///
    /// # Errors
    /// [`Error::Invalid`] for an item without `=`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Self> {
        let mut map = BTreeMap::new();
        for item in items {
            let item = item.as_ref();
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| Error::invalid("parameter", format!("`{item}` is not KEY=VALUE")))?;
            map.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
        Ok(Self(map))
    }

    /// Refuses keys outside `known`.
    ///
    /// # Errors
    /// [`Error::Invalid`] naming the unknown key and the accepted ones.
    pub fn check_known(&self, model: &str, known: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) {
                return Err(Error::invalid(
                    format!("parameter {k}"),
                    format!("{model} accepts {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    /// A number, or `default` when absent.
    ///
    /// # Errors
    /// [`Error::Invalid`] when present but not a number.
    pub fn f64(&self, key: &str, default: f64) -> Result<f64> {
        self.0.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                Error::invalid(format!("parameter {key}"), format!("`{v}` is not a number"))
            })
        })
    }

    /// A whole number, or `default` when absent.
    ///
    /// # Errors
    /// [`Error::Invalid`] when present but not a non-negative integer.
    pub fn usize(&self, key: &str, default: usize) -> Result<usize> {
        self.0.get(key).map_or(Ok(default), |v| {
            v.parse().map_err(|_| {
                Error::invalid(
                    format!("parameter {key}"),
                    format!("`{v}` is not a whole number"),
                )
            })
        })
    }

    /// A boolean (`true/false/1/0`), or `default` when absent.
    ///
    /// # Errors
    /// [`Error::Invalid`] otherwise.
    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.0.get(key).map(String::as_str) {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => Err(Error::invalid(
                format!("parameter {key}"),
                format!("`{v}` is not true/false"),
            )),
        }
    }
}
