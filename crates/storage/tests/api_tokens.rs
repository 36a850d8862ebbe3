//! API token repository on SQLite and PostgreSQL.

use tessera_storage::testing::TestDb;
use tessera_storage::{Error, NewApiToken};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_api_tokens_create_lookup_revoke_on_both_backends() {
    for db in TestDb::all().await {
        let store = db.store();
        let t = store
            .create_api_token(NewApiToken {
                name: "notebook",
                prefix: "tsr_ab12",
                token_hash: "aa11",
                scope: "read",
            })
            .await
            .unwrap();
        assert_eq!(t.scope, "read");
        assert!(t.revoked_at.is_none());
        let dup = store
            .create_api_token(NewApiToken {
                name: "again",
                prefix: "tsr_ab12",
                token_hash: "aa11",
                scope: "admin",
            })
            .await;
        assert!(matches!(dup, Err(Error::AlreadyExists(_))), "{dup:?}");
        let found = store.api_token_by_hash("aa11").await.unwrap().unwrap();
        assert_eq!(found, t);
        assert!(store.api_token_by_hash("nope").await.unwrap().is_none());
        store.revoke_api_token(t.id).await.unwrap();
        let revoked = store.api_token_by_hash("aa11").await.unwrap().unwrap();
        assert!(revoked.revoked_at.is_some());
        store.revoke_api_token(t.id).await.unwrap();
        assert_eq!(
            store
                .api_token_by_hash("aa11")
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            revoked.revoked_at
        );
        assert!(matches!(
            store.revoke_api_token(9999).await,
            Err(Error::NotFound(_))
        ));
        assert_eq!(store.list_api_tokens().await.unwrap().len(), 1);
    }
}
