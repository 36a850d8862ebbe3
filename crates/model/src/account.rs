//! Accounts and their balances per currency.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{Result, invariant};
use crate::identifiers::Currency;
use crate::numbers::Money;

/// Cash of one currency: `free = total − locked`, and `locked` never exceeds `total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Currency.
    pub currency: Currency,
    /// Everything held; negative when borrowing on margin.
    #[serde(with = "rust_decimal::serde::str")]
    pub total: Decimal,
    /// Reserved for open orders or margin.
    #[serde(with = "rust_decimal::serde::str")]
    pub locked: Decimal,
}

impl Balance {
    /// A checked balance.
    ///
    /// # Errors
    /// [`crate::Error::Invariant`] when `locked` is negative or exceeds a non-negative total.
    pub fn new(currency: Currency, total: Decimal, locked: Decimal) -> Result<Self> {
        if locked.is_sign_negative() && !locked.is_zero() {
            return Err(invariant(
                "balance",
                format!("locked {locked} {currency} is negative"),
            ));
        }
        if total >= Decimal::ZERO && locked > total {
            return Err(invariant(
                "balance",
                format!("locked {locked} exceeds total {total} {currency}"),
            ));
        }
        Ok(Self {
            currency,
            total,
            locked,
        })
    }

    /// What can be spent now.
    #[must_use]
    pub fn free(&self) -> Money {
        Money::new(self.total - self.locked, self.currency)
    }
}

/// A trading account at a broker (or the paper venue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Our name for it.
    pub id: String,
    /// Currency in which equity and P&L are reported.
    pub base_currency: Currency,
    /// Balances by currency; ordered so output is stable.
    pub balances: BTreeMap<Currency, Balance>,
    /// Leverage allowed (1 = cash account).
    #[serde(with = "rust_decimal::serde::str")]
    pub leverage: Decimal,
}

impl Account {
    /// A cash account holding `cash`.
    ///
    /// # Errors
    /// [`crate::Error::Invariant`] for negative starting cash.
    pub fn cash(id: &str, cash: Money) -> Result<Self> {
        if cash.amount.is_sign_negative() {
            return Err(invariant(
                "account",
                format!("starting cash {cash} is negative"),
            ));
        }
        let mut balances = BTreeMap::new();
        balances.insert(
            cash.currency,
            Balance::new(cash.currency, cash.amount, Decimal::ZERO)?,
        );
        Ok(Self {
            id: id.to_string(),
            base_currency: cash.currency,
            balances,
            leverage: Decimal::ONE,
        })
    }

    /// Balance of `currency` (zero if none held).
    #[must_use]
    pub fn balance(&self, currency: Currency) -> Balance {
        self.balances.get(&currency).copied().unwrap_or(Balance {
            currency,
            total: Decimal::ZERO,
            locked: Decimal::ZERO,
        })
    }

    /// Add (or with a negative amount, take) cash.
    ///
    /// # Errors
    /// [`crate::Error::Invariant`] when a cash account (leverage 1) would go below zero.
    pub fn credit(&mut self, amount: Money) -> Result<()> {
        let b = self.balance(amount.currency);
        let total = b.total + amount.amount;
        if self.leverage <= Decimal::ONE && total < Decimal::ZERO {
            return Err(invariant(
                "account",
                format!(
                    "{} would leave {} {} in cash account {}",
                    amount, total, amount.currency, self.id
                ),
            ));
        }
        self.balances
            .insert(amount.currency, Balance { total, ..b });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cash_account_cannot_go_negative() {
        let mut a = Account::cash("paper", Money::parse("100 USD").unwrap()).unwrap();
        a.credit(Money::parse("-60 USD").unwrap()).unwrap();
        assert!(a.credit(Money::parse("-60 USD").unwrap()).is_err());
        assert_eq!(
            a.balance(Currency::new("USD").unwrap()).free().to_string(),
            "40 USD"
        );
        assert!(Balance::new(Currency::new("USD").unwrap(), Decimal::ONE, Decimal::TWO).is_err());
    }
}
