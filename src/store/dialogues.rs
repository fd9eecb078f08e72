//! teloxide's dialogue `Storage` on our own pool, so a conversation survives
//! a restart and lives in the same database as everything else.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use sqlx::Row;
use teloxide::{dispatching::dialogue::Storage, types::ChatId};

use super::{Store, StoreError, to_unix};

/// Bumped whenever the shape of the bot's `State` changes incompatibly;
/// rows of another version are treated as "no dialogue" (back to the menu)
/// instead of failing every update of that chat.
pub const STATE_VERSION: u32 = 2;

#[derive(Serialize)]
struct Envelope<'a, D> {
    v: u32,
    state: &'a D,
}

#[derive(serde::Deserialize)]
struct StoredEnvelope<D> {
    v: u32,
    state: D,
}

impl<D> Storage<D> for Store
where
    D: Serialize + DeserializeOwned + Send + 'static,
{
    type Error = StoreError;

    fn remove_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<(), StoreError>>
    where
        D: Send + 'static,
    {
        Box::pin(async move {
            sqlx::query("DELETE FROM dialogues WHERE chat_id = $1")
                .bind(chat_id.0)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: D,
    ) -> BoxFuture<'static, Result<(), StoreError>>
    where
        D: Send + 'static,
    {
        Box::pin(async move {
            let state = serde_json::to_string(&Envelope { v: STATE_VERSION, state: &dialogue })
                .map_err(|e| StoreError::Encode(Box::new(e)))?;
            sqlx::query(
                "INSERT INTO dialogues (chat_id, state, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (chat_id) DO UPDATE SET state = excluded.state, \
                     updated_at = excluded.updated_at",
            )
            .bind(chat_id.0)
            .bind(state)
            .bind(to_unix(chrono::Utc::now()))
            .execute(&self.pool)
            .await?;
            Ok(())
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<D>, StoreError>> {
        Box::pin(async move {
            let row = sqlx::query("SELECT state FROM dialogues WHERE chat_id = $1")
                .bind(chat_id.0)
                .fetch_optional(&self.pool)
                .await?;
            let Some(row) = row else { return Ok(None) };
            let raw: String = row.try_get("state")?;
            match serde_json::from_str::<StoredEnvelope<D>>(&raw) {
                Ok(stored) if stored.v == STATE_VERSION => Ok(Some(stored.state)),
                Ok(stored) => {
                    tracing::warn!(
                        chat_id = chat_id.0,
                        version = stored.v,
                        "dialogue state of another version dropped"
                    );
                    Ok(None)
                }
                Err(error) => {
                    tracing::warn!(chat_id = chat_id.0, %error, "undecodable dialogue state dropped");
                    Ok(None)
                }
            }
        })
    }
}
