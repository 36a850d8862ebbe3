//! Creating and dropping whole PostgreSQL databases next to the one a URL names.
//!
//! Tests and benchmarks each work in a throwaway database on the configured
//! server; these two helpers are the one place that knows how to address and
//! remove one.

use crate::error::{Error, Result};

/// `url` with its database name replaced by `db`, keeping credentials, host and query
/// (`postgres://u@h:5432/postgres?sslmode=disable` → `postgres://u@h:5432/x?sslmode=disable`).
#[must_use]
pub fn postgres_url_with_database(url: &str, db: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

/// Drop database `name` on the server `admin_url` points at, ending its open
/// connections (`WITH (FORCE)`); a missing database is not an error.
///
/// # Errors
/// [`Error::InvalidUrl`] for a name that is not a plain identifier, [`Error::Database`]
/// when the server cannot be reached or refuses.
pub async fn drop_postgres_database(admin_url: &str, name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::InvalidUrl {
            url: name.to_string(),
            reason: "database names to drop must be letters, digits and underscores".into(),
        });
    }
    let pool = sqlx::PgPool::connect(admin_url).await?;
    // The name was checked above to hold only identifier characters, so quoting it is safe.
    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
    let res = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
    pool.close().await;
    res?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_postgres_url_with_database() {
        assert_eq!(
            postgres_url_with_database("postgres://u@h:5432/postgres", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            postgres_url_with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            postgres_url_with_database("postgres://u@h/p?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }

    #[tokio::test]
    async fn test_drop_refuses_odd_names() {
        let e = drop_postgres_database("postgres://nowhere", "x\"; DROP TABLE y")
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidUrl { .. }), "{e}");
    }
}
