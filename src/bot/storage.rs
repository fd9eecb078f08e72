//! teloxide's dialogue `Storage` on our own database, so a conversation
//! survives a restart and lives beside everything else.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use teloxide::{dispatching::dialogue::Storage, types::ChatId};

use crate::{
    clock::Clock,
    store::{Store, StoreError},
};

/// Bumped whenever the shape of the bot's `State` changes incompatibly;
/// rows of another version are treated as "no dialogue" (back to the menu)
/// instead of failing every update of that chat.
pub const STATE_VERSION: u32 = 3;

/// The dialogues of private chats, in the `dialogues` table.
#[derive(Debug, Clone)]
pub struct DialogueStorage {
    store: Store,
    clock: Arc<dyn Clock>,
}

impl DialogueStorage {
    pub fn new(store: Store, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self { store, clock })
    }
}

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

/// A chat without a stored state, or with one this version cannot read, is
/// in the default state (the menu): reading it never writes, so the first
/// update of a new user costs one read, not a read and a write.
impl<D> Storage<D> for DialogueStorage
where
    D: Serialize + DeserializeOwned + Default + Send + 'static,
{
    type Error = StoreError;

    fn remove_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move { self.store.delete_dialogue_state(chat_id.0).await })
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: D,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move {
            let state = serde_json::to_string(&Envelope { v: STATE_VERSION, state: &dialogue })
                .map_err(|e| StoreError::Encode(Box::new(e)))?;
            self.store.save_dialogue_state(chat_id.0, &state, self.clock.now()).await
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<D>, StoreError>> {
        Box::pin(async move {
            let Some(raw) = self.store.dialogue_state(chat_id.0).await? else {
                return Ok(Some(D::default()));
            };
            match serde_json::from_str::<StoredEnvelope<D>>(&raw) {
                Ok(stored) if stored.v == STATE_VERSION => Ok(Some(stored.state)),
                Ok(stored) => {
                    tracing::warn!(
                        chat_id = chat_id.0,
                        version = stored.v,
                        "dialogue state of another version dropped"
                    );
                    Ok(Some(D::default()))
                }
                Err(error) => {
                    tracing::warn!(chat_id = chat_id.0, %error, "undecodable dialogue state dropped");
                    Ok(Some(D::default()))
                }
            }
        })
    }
}
