//! Strategy parameters as `key=value` text, as given on the command line.

use std::collections::BTreeMap;
use std::str::FromStr;

use crate::error::{Error, Result};

/// Parameters by name; ordered so a run's parameters print and hash the same way every time.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    /// No parameters.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Parse `["fast=10", "slow=20"]`.
    ///
    /// # Errors
    /// [`Error::Param`] for an item without `=`.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Self> {
        let mut p = Self::new();
        for item in items {
            let (k, v) = item.split_once('=').ok_or_else(|| Error::Param {
                strategy: String::new(),
                param: item.to_string(),
                reason: "expected KEY=VALUE".into(),
            })?;
            p.0.insert(k.trim().to_string(), v.trim().to_string());
        }
        Ok(p)
    }

    /// Set one value.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        self.0.insert(key.to_string(), value.to_string());
        self
    }

    /// A typed value or `default` when absent.
    ///
    /// # Errors
    /// [`Error::Param`] when present but not parseable.
    pub fn get_or<T: FromStr>(&self, strategy: &str, key: &str, default: T) -> Result<T> {
        match self.0.get(key) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| Error::Param {
                strategy: strategy.to_string(),
                param: key.to_string(),
                reason: format!("cannot parse {v:?} as {}", std::any::type_name::<T>()),
            }),
        }
    }

    /// Refuse names outside `known` so a typo does not silently run defaults.
    ///
    /// # Errors
    /// [`Error::Param`] naming the unknown key and the accepted ones.
    pub fn check_known(&self, strategy: &str, known: &[&str]) -> Result<()> {
        for k in self.0.keys() {
            if !known.contains(&k.as_str()) {
                return Err(Error::Param {
                    strategy: strategy.to_string(),
                    param: k.clone(),
                    reason: format!("unknown; accepted: {}", known.join(", ")),
                });
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_params_parse_and_get() {
        let p = Params::parse(["fast=10", " slow = 20"]).unwrap();
        assert_eq!(p.get_or("s", "fast", 1usize).unwrap(), 10);
        assert_eq!(p.get_or("s", "slow", 1usize).unwrap(), 20);
        assert_eq!(p.get_or("s", "x", 7usize).unwrap(), 7);
        assert!(p.get_or::<usize>("s", "fast", 0).is_ok());
        assert!(Params::parse(["oops"]).is_err());
        assert!(
            p.check_known("s", &["fast"])
                .unwrap_err()
                .to_string()
                .contains("slow")
        );
        assert_eq!(p.to_string(), "fast=10,slow=20");
    }
}
