//! The optimal (target) position that the `run_systems` job stores for each
//! system and instrument, in the store's named state.
//!
//! One type for the writer (`run_systems`), the reader that turns targets into
//! orders (`order_generation`) and the API that shows them, so the three cannot
//! drift apart. Every field is text as written: the target is an exact decimal
//! and must not pass through a float on its way.

use serde::{Deserialize, Serialize};

/// State-key prefix of stored targets: `systems:target:<system>:<SYMBOL.VENUE>`.
pub const TARGET_PREFIX: &str = "systems:target:";

/// A stored target position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SystemTarget {
    /// System name (also the strategy id of the orders it leads to).
    pub system: String,
    /// Built-in strategy the system runs.
    pub strategy: String,
    /// `SYMBOL.VENUE`.
    pub instrument: String,
    /// Wanted signed position in units (decimal text).
    pub target: String,
    /// Last close the decision saw.
    pub price: String,
    /// Open time of the last bar (RFC 3339).
    pub bar_time: String,
    /// When computed (RFC 3339).
    pub computed_at: String,
}

impl SystemTarget {
    /// The state key this target is stored under.
    pub fn key(&self) -> String {
        target_key(&self.system, &self.instrument)
    }
}

/// The state key of `system`'s target for `instrument` (`SYMBOL.VENUE`).
pub fn target_key(system: &str, instrument: &str) -> String {
    format!("{TARGET_PREFIX}{system}:{instrument}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_round_trip() {
        let t = SystemTarget {
            system: "eod_sma_cross".into(),
            strategy: "sma_cross".into(),
            instrument: "BTCUSDT.sim".into(),
            target: "0.12345678901234567".into(),
            price: "42000.1".into(),
            bar_time: "2024-01-01T00:00:00Z".into(),
            computed_at: "2024-01-01T00:01:00Z".into(),
        };
        assert_eq!(t.key(), "systems:target:eod_sma_cross:BTCUSDT.sim");
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(serde_json::from_str::<SystemTarget>(&text).unwrap(), t);
    }
}
