//! [`Failpoints`]: make crash windows hittable in tests.
//!
//! `TESSERA_FAILPOINT=before_send@3,fill_before_book@2` freezes the process
//! the 3rd time an order is about to be posted (after the order stack stored
//! it as submitted) and the 2nd time fills arrived from Alpaca but are not
//! booked yet. The process prints `FAILPOINT <name>` on stderr and stops
//! making progress, so a test can `kill -9` it exactly inside the window.
//! Unset, every check is one branch on an empty map.

use std::collections::BTreeMap;

/// Freeze before posting an order that is stored as submitted.
pub const BEFORE_SEND: &str = "before_send";
/// Freeze after fills arrived from the stream, before the stack books them.
pub const FILL_BEFORE_BOOK: &str = "fill_before_book";

/// Armed failpoints: name → hits left before it fires.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failpoints {
    armed: BTreeMap<String, u32>,
}

impl Failpoints {
    /// Parse `name@n,name@n` (`name` alone means `name@1`); unknown text is ignored.
    #[must_use]
    pub fn parse(spec: &str) -> Self {
        let armed = spec
            .split(',')
            .filter_map(|p| {
                let p = p.trim();
                if p.is_empty() {
                    return None;
                }
                let (name, n) = p.split_once('@').unwrap_or((p, "1"));
                Some((name.to_string(), n.parse().unwrap_or(1).max(1)))
            })
            .collect();
        Self { armed }
    }

    /// Count a hit of `name`; freeze the process when it is due.
    pub fn hit(&mut self, name: &str) {
        let Some(left) = self.armed.get_mut(name) else {
            return;
        };
        *left -= 1;
        if *left > 0 {
            return;
        }
        eprintln!("FAILPOINT {name}");
        tracing::warn!(failpoint = name, "failpoint reached: freezing until killed");
        loop {
            // Blocking on purpose: nothing in this process may move on.
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_failpoints_parse() {
        let f = Failpoints::parse("before_send@3, fill_before_book");
        assert_eq!(f.armed.get(BEFORE_SEND), Some(&3));
        assert_eq!(f.armed.get(FILL_BEFORE_BOOK), Some(&1));
        let mut f = Failpoints::parse("before_send@2");
        f.hit(BEFORE_SEND); // first of two: does not fire
        f.hit("other");
        assert_eq!(f.armed.get(BEFORE_SEND), Some(&1));
    }
}
