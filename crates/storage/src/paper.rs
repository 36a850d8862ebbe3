//! The paper broker's book: one row per fill (`paper_fills`) and per working
//! order (`paper_orders`), changed in one transaction per broker step, so a
//! step costs what it changes rather than the whole history.
//!
//! Bodies are the paper broker's own serialisation (JSON of `Fill` and
//! `Order`); this module only stores and returns them.

use crate::error::Result;
use crate::store::{Store, on_pool};

/// One fill of a paper account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaperFillRow {
    /// Sequence number within the account (the paper trade counter).
    pub seq: i64,
    /// The order filled.
    pub client_order_id: String,
    /// When it executed, nanoseconds since 1970.
    pub ts_event: i64,
    /// The serialised fill.
    pub body: String,
}

/// What one paper broker step changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaperBookChange {
    /// New fills.
    pub fills: Vec<PaperFillRow>,
    /// Working orders added or changed: (client order id, serialised order).
    pub upsert: Vec<(String, String)>,
    /// Orders no longer working.
    pub remove: Vec<String>,
}

impl PaperBookChange {
    /// Whether nothing changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.fills.is_empty() && self.upsert.is_empty() && self.remove.is_empty()
    }
}

fn fill_row((seq, client_order_id, ts_event, body): (i64, String, i64, String)) -> PaperFillRow {
    PaperFillRow {
        seq,
        client_order_id,
        ts_event,
        body,
    }
}

impl Store {
    /// The book of paper `account`: fills in sequence order and working orders.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn paper_book(
        &self,
        account: &str,
    ) -> Result<(Vec<PaperFillRow>, Vec<(String, String)>)> {
        on_pool!(self, |p| {
            let fills: Vec<(i64, String, i64, String)> = sqlx::query_as(
                "SELECT seq, client_order_id, ts_event, body FROM paper_fills WHERE account = $1 ORDER BY seq",
            )
            .bind(account)
            .fetch_all(p)
            .await?;
            let orders: Vec<(String, String)> = sqlx::query_as(
                "SELECT client_order_id, body FROM paper_orders WHERE account = $1 ORDER BY client_order_id",
            )
            .bind(account)
            .fetch_all(p)
            .await?;
            Ok((
                fills
                    .into_iter()
                    .map(|(seq, client_order_id, ts_event, body)| PaperFillRow {
                        seq,
                        client_order_id,
                        ts_event,
                        body,
                    })
                    .collect(),
                orders,
            ))
        })
    }

    /// Up to `limit` fills of `account` after sequence number `after_seq`, in
    /// sequence order: the paper broker pages through its history on open
    /// instead of holding all of it at once.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn paper_fills_after(
        &self,
        account: &str,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<PaperFillRow>> {
        on_pool!(self, |p| {
            let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
                "SELECT seq, client_order_id, ts_event, body FROM paper_fills \
                 WHERE account = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(account)
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(fill_row).collect())
        })
    }

    /// Fills of `account` executed at or after `since` (nanoseconds), in
    /// sequence order.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn paper_fills_since(&self, account: &str, since: i64) -> Result<Vec<PaperFillRow>> {
        on_pool!(self, |p| {
            let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
                "SELECT seq, client_order_id, ts_event, body FROM paper_fills \
                 WHERE account = $1 AND ts_event >= $2 ORDER BY seq",
            )
            .bind(account)
            .bind(since)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(fill_row).collect())
        })
    }

    /// Fills of one order of `account`, in sequence order.
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn paper_fills_of(
        &self,
        account: &str,
        client_order_id: &str,
    ) -> Result<Vec<PaperFillRow>> {
        on_pool!(self, |p| {
            let rows: Vec<(i64, String, i64, String)> = sqlx::query_as(
                "SELECT seq, client_order_id, ts_event, body FROM paper_fills \
                 WHERE account = $1 AND client_order_id = $2 ORDER BY seq",
            )
            .bind(account)
            .bind(client_order_id)
            .fetch_all(p)
            .await?;
            Ok(rows.into_iter().map(fill_row).collect())
        })
    }

    /// Whether an order of `account` has any fill (a resent client order id).
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn paper_order_filled(&self, account: &str, client_order_id: &str) -> Result<bool> {
        on_pool!(self, |p| {
            let hit: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM paper_fills WHERE account = $1 AND client_order_id = $2 LIMIT 1",
            )
            .bind(account)
            .bind(client_order_id)
            .fetch_optional(p)
            .await?;
            Ok(hit.is_some())
        })
    }

    /// The working orders of `account`: (client order id, serialised order).
    ///
    /// # Errors
    /// [`crate::Error::Database`].
    pub async fn paper_open_orders(&self, account: &str) -> Result<Vec<(String, String)>> {
        on_pool!(self, |p| {
            let orders: Vec<(String, String)> = sqlx::query_as(
                "SELECT client_order_id, body FROM paper_orders WHERE account = $1 ORDER BY client_order_id",
            )
            .bind(account)
            .fetch_all(p)
            .await?;
            Ok(orders)
        })
    }

    /// Apply one step's changes to the book of `account`, all or nothing.
    ///
    /// # Errors
    /// [`crate::Error::Database`] (e.g. a fill sequence number stored twice).
    pub async fn paper_book_apply(&self, account: &str, change: &PaperBookChange) -> Result<()> {
        if change.is_empty() {
            return Ok(());
        }
        let begin = self.begin_write_sql();
        on_pool!(self, |p| {
            let mut tx = p.begin_with(begin).await?;
            for f in &change.fills {
                sqlx::query(
                    "INSERT INTO paper_fills (account, seq, client_order_id, ts_event, body) VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(account)
                .bind(f.seq)
                .bind(&f.client_order_id)
                .bind(f.ts_event)
                .bind(&f.body)
                .execute(&mut *tx)
                .await?;
            }
            for (id, body) in &change.upsert {
                sqlx::query(
                    "INSERT INTO paper_orders (account, client_order_id, body) VALUES ($1, $2, $3) \
                     ON CONFLICT (account, client_order_id) DO UPDATE SET body = excluded.body",
                )
                .bind(account)
                .bind(id)
                .bind(body)
                .execute(&mut *tx)
                .await?;
            }
            for id in &change.remove {
                sqlx::query("DELETE FROM paper_orders WHERE account = $1 AND client_order_id = $2")
                    .bind(account)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDb;

    #[tokio::test]
    async fn test_paper_book_rows_on_both_backends() {
        for db in TestDb::all().await {
            let s = db.store();
            assert_eq!(s.paper_book("a").await.unwrap(), (vec![], vec![]));
            let fill = |seq| PaperFillRow {
                seq,
                client_order_id: "o1".into(),
                ts_event: seq * 10,
                body: format!("{{\"fill\":{seq}}}"),
            };
            s.paper_book_apply(
                "a",
                &PaperBookChange {
                    fills: vec![fill(1)],
                    upsert: vec![("o1".into(), "v1".into()), ("o2".into(), "v1".into())],
                    remove: vec![],
                },
            )
            .await
            .unwrap();
            s.paper_book_apply(
                "a",
                &PaperBookChange {
                    fills: vec![fill(2)],
                    upsert: vec![("o1".into(), "v2".into())],
                    remove: vec!["o2".into()],
                },
            )
            .await
            .unwrap();
            let (fills, orders) = s.paper_book("a").await.unwrap();
            assert_eq!(fills, vec![fill(1), fill(2)]);
            assert_eq!(orders, vec![("o1".to_string(), "v2".to_string())]);
            // A sequence number twice is refused, and the whole step with it.
            let dup = PaperBookChange {
                fills: vec![fill(2)],
                upsert: vec![("o3".into(), "v1".into())],
                remove: vec![],
            };
            assert!(s.paper_book_apply("a", &dup).await.is_err());
            assert_eq!(s.paper_book("a").await.unwrap().1.len(), 1);
            // Accounts are separate.
            assert_eq!(s.paper_book("b").await.unwrap(), (vec![], vec![]));
            // Reads by page, by time and by order.
            assert_eq!(s.paper_fills_after("a", 0, 1).await.unwrap(), vec![fill(1)]);
            assert_eq!(
                s.paper_fills_after("a", 1, 10).await.unwrap(),
                vec![fill(2)]
            );
            assert!(s.paper_fills_after("a", 2, 10).await.unwrap().is_empty());
            assert_eq!(s.paper_fills_since("a", 11).await.unwrap(), vec![fill(2)]);
            assert_eq!(
                s.paper_fills_since("a", 10).await.unwrap(),
                vec![fill(1), fill(2)]
            );
            assert_eq!(
                s.paper_fills_of("a", "o1").await.unwrap(),
                vec![fill(1), fill(2)]
            );
            assert!(s.paper_fills_of("b", "o1").await.unwrap().is_empty());
            assert!(s.paper_order_filled("a", "o1").await.unwrap());
            assert!(!s.paper_order_filled("a", "o2").await.unwrap());
            assert!(!s.paper_order_filled("b", "o1").await.unwrap());
            assert_eq!(
                s.paper_open_orders("a").await.unwrap(),
                vec![("o1".to_string(), "v2".to_string())]
            );
        }
    }
}
