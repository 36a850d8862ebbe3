//! Reconciliation: our positions and open orders against the broker's.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use tessera_model::{ClientOrderId, InstrumentId};

/// One disagreement between us and the broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// Net positions differ.
    Position {
        /// Instrument.
        instrument: InstrumentId,
        /// Ours (sum over strategies).
        ours: Decimal,
        /// The broker's.
        broker: Decimal,
    },
    /// The broker works an order we do not have open.
    UnknownAtUs {
        /// Instrument.
        instrument: InstrumentId,
        /// Its client order id.
        client_order_id: ClientOrderId,
    },
    /// We have an order open (sent) that the broker does not work.
    MissingAtBroker {
        /// Instrument.
        instrument: InstrumentId,
        /// Its client order id.
        client_order_id: ClientOrderId,
    },
}

impl Difference {
    /// The instrument concerned.
    #[must_use]
    pub fn instrument(&self) -> InstrumentId {
        match self {
            Self::Position { instrument, .. }
            | Self::UnknownAtUs { instrument, .. }
            | Self::MissingAtBroker { instrument, .. } => *instrument,
        }
    }
}

/// The outcome of one reconciliation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Every difference found; empty when all agree.
    pub differences: Vec<Difference>,
}

impl ReconcileReport {
    /// Instruments with at least one difference.
    #[must_use]
    pub fn instruments(&self) -> BTreeSet<InstrumentId> {
        self.differences
            .iter()
            .map(Difference::instrument)
            .collect()
    }
}

/// Compare positions (ours summed over strategies) and sent open orders.
#[must_use]
pub fn reconcile(
    ours: &BTreeMap<InstrumentId, Decimal>,
    broker: &BTreeMap<InstrumentId, Decimal>,
    our_open: &BTreeMap<ClientOrderId, InstrumentId>,
    broker_open: &BTreeMap<ClientOrderId, InstrumentId>,
) -> ReconcileReport {
    let mut differences = Vec::new();
    let instruments: BTreeSet<&InstrumentId> = ours.keys().chain(broker.keys()).collect();
    for i in instruments {
        let a = ours.get(i).copied().unwrap_or_default();
        let b = broker.get(i).copied().unwrap_or_default();
        if a != b {
            differences.push(Difference::Position {
                instrument: *i,
                ours: a,
                broker: b,
            });
        }
    }
    for (id, inst) in broker_open {
        if !our_open.contains_key(id) {
            differences.push(Difference::UnknownAtUs {
                instrument: *inst,
                client_order_id: id.clone(),
            });
        }
    }
    for (id, inst) in our_open {
        if !broker_open.contains_key(id) {
            differences.push(Difference::MissingAtBroker {
                instrument: *inst,
                client_order_id: id.clone(),
            });
        }
    }
    ReconcileReport { differences }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_reconcile_finds_each_kind() {
        let x = InstrumentId::parse("X", "sim").unwrap();
        let y = InstrumentId::parse("Y", "sim").unwrap();
        let id = |s: &str| ClientOrderId::new(s).unwrap();
        let ours = BTreeMap::from([(x, Decimal::from(5)), (y, Decimal::ZERO)]);
        let broker = BTreeMap::from([(x, Decimal::from(5)), (y, Decimal::ONE)]);
        let our_open = BTreeMap::from([(id("a"), x), (id("b"), x)]);
        let broker_open = BTreeMap::from([(id("a"), x), (id("c"), y)]);
        let r = reconcile(&ours, &broker, &our_open, &broker_open);
        assert_eq!(r.differences.len(), 3);
        assert_eq!(r.instruments(), BTreeSet::from([x, y]));
        assert!(
            reconcile(&ours, &ours, &our_open, &our_open)
                .differences
                .is_empty()
        );
    }
}
