//! teloxide's dialogue `Storage` on our own database, so a conversation
//! survives a restart and lives beside everything else.
//!
//! The states of the chats this process is handling are held in memory
//! ([`DialogueCache`]): the inbox reads them for a whole batch of claimed
//! updates at once, handlers read and change them there, and a changed
//! state is written when its update is marked handled, in the same
//! transaction ([`super::inbox::Marks`]). So an update's new state and its
//! "handled" mark are written together or not at all: after a crash the
//! update is handled again from the state it found.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use futures::future::BoxFuture;
use serde::{Serialize, de::DeserializeOwned};
use teloxide::{dispatching::dialogue::Storage, types::ChatId};

use crate::store::{Store, StoreError, StoredDialogue};

/// Bumped whenever the shape of the bot's `State` changes incompatibly;
/// rows of another version are treated as "no dialogue" (back to the menu)
/// instead of failing every update of that chat.
pub const STATE_VERSION: u32 = 3;

/// The dialogues of private chats, in the `dialogues` table, through the
/// states held in memory.
#[derive(Debug, Clone)]
pub struct DialogueStorage {
    store: Store,
    cache: DialogueCache,
}

impl DialogueStorage {
    /// A storage with a cache of its own (tools and tests).
    pub fn new(store: Store) -> Arc<Self> {
        Self::sharing(store, DialogueCache::default())
    }

    /// A storage on the cache the inbox fills and writes back.
    pub fn sharing(store: Store, cache: DialogueCache) -> Arc<Self> {
        Arc::new(Self { store, cache })
    }

    /// The state held for `chat`, read from the database if none is.
    async fn held(&self, chat: i64) -> Result<Option<String>, StoreError> {
        if let Some(state) = self.cache.read(chat) {
            return Ok(state);
        }
        let stored = self.store.dialogue_state(chat).await?;
        self.cache.adopt_one(chat, stored);
        Ok(self.cache.read(chat).flatten())
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
/// in the default state (the menu). Updating or removing a dialogue changes
/// the state held in memory; the inbox writes it when the update is marked
/// handled.
impl<D> Storage<D> for DialogueStorage
where
    D: Serialize + DeserializeOwned + Default + Send + 'static,
{
    type Error = StoreError;

    fn remove_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        <Self as Storage<D>>::update_dialogue(self, chat_id, D::default())
    }

    fn update_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
        dialogue: D,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        Box::pin(async move {
            let state = serde_json::to_string(&Envelope { v: STATE_VERSION, state: &dialogue })
                .map_err(|e| StoreError::Encode(Box::new(e)))?;
            // The count of writes continues from the state held.
            self.held(chat_id.0).await?;
            self.cache.stage(chat_id.0, state);
            Ok(())
        })
    }

    fn get_dialogue(
        self: Arc<Self>,
        chat_id: ChatId,
    ) -> BoxFuture<'static, Result<Option<D>, StoreError>> {
        Box::pin(async move {
            let Some(raw) = self.held(chat_id.0).await? else {
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

/// The dialogue states of the chats this process is handling, by chat.
/// Cheap to clone.
///
/// Only one process handles a chat's updates at a time (the inbox's
/// claims), and only those handlers change its state, so the state held
/// here is the chat's current one while this process handles the chat.
/// Each state carries its count of writes: one read back from the database
/// replaces the one held only if it is newer (a state read before this
/// process's own write was committed is older, and one written meanwhile by
/// another replica is newer). States no update here needs any more are
/// dropped before each new claim ([`DialogueCache::keep_only`]).
#[derive(Debug, Clone, Default)]
pub struct DialogueCache(Arc<Mutex<HashMap<i64, Held>>>);

#[derive(Debug)]
struct Held {
    /// `None`: no state stored (the menu).
    state: Option<String>,
    version: i64,
    /// Changed here and not yet written.
    staged: bool,
}

impl DialogueCache {
    /// The state held for `chat` (`Some(None)`: the chat has no stored
    /// state); `None` if none is held.
    fn read(&self, chat: i64) -> Option<Option<String>> {
        self.lock().get(&chat).map(|held| held.state.clone())
    }

    /// The states read from the database for `chats`: a chat without a row
    /// has none (version 0). Each replaces the one held if it is newer.
    pub fn adopt(&self, chats: &[i64], stored: Vec<StoredDialogue>) {
        let mut held = self.lock();
        let mut found: HashMap<i64, StoredDialogue> =
            stored.into_iter().map(|row| (row.chat_id, row)).collect();
        for chat in chats {
            let (state, version) = match found.remove(chat) {
                Some(row) => (Some(row.state), row.version),
                None => (None, 0),
            };
            match held.get_mut(chat) {
                Some(current) if current.version >= version => {}
                Some(current) => {
                    current.state = state;
                    current.version = version;
                }
                None => {
                    held.insert(*chat, Held { state, version, staged: false });
                }
            }
        }
    }

    fn adopt_one(&self, chat: i64, stored: Option<StoredDialogue>) {
        self.adopt(&[chat], stored.into_iter().collect());
    }

    /// A handler changed `chat`'s state: held, to be written with its
    /// update's mark.
    fn stage(&self, chat: i64, state: String) {
        let mut held = self.lock();
        let entry = held.entry(chat).or_insert(Held { state: None, version: 0, staged: false });
        entry.state = Some(state);
        entry.version += 1;
        entry.staged = true;
    }

    /// The state of `chat` changed since it was last written, to write now.
    pub fn take_staged(&self, chat: i64) -> Option<StoredDialogue> {
        let mut held = self.lock();
        let entry = held.get_mut(&chat).filter(|held| held.staged)?;
        entry.staged = false;
        Some(StoredDialogue {
            chat_id: chat,
            state: entry.state.clone().unwrap_or_default(),
            version: entry.version,
        })
    }

    /// A write taken with [`Self::take_staged`] failed: it is written with
    /// the chat's next mark, unless a newer change came meanwhile.
    pub fn restage(&self, write: &StoredDialogue) {
        if let Some(entry) = self.lock().get_mut(&write.chat_id)
            && entry.version == write.version
        {
            entry.staged = true;
        }
    }

    /// Drops the states of chats `needed` says no update here needs, unless
    /// they still wait to be written.
    pub fn keep_only(&self, needed: impl Fn(i64) -> bool) {
        self.lock().retain(|chat, held| held.staged || needed(*chat));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Held>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(chat_id: i64, state: &str, version: i64) -> StoredDialogue {
        StoredDialogue { chat_id, state: state.into(), version }
    }

    #[test]
    fn a_state_read_back_replaces_the_held_one_only_if_newer() {
        let cache = DialogueCache::default();
        cache.adopt(&[1, 2], vec![stored(1, "a", 4)]);
        assert_eq!(cache.read(1), Some(Some("a".into())));
        assert_eq!(cache.read(2), Some(None), "no row: no state, held");

        // This process changes chat 1 (version 5) and writes it.
        cache.stage(1, "b".into());
        let write = cache.take_staged(1).expect("staged");
        assert_eq!(write.version, 5);
        assert_eq!(cache.take_staged(1), None, "taken once");

        // A claim that read the row before that write came back: older.
        cache.adopt(&[1], vec![stored(1, "a", 4)]);
        assert_eq!(cache.read(1), Some(Some("b".into())));
        // Another replica handled the chat since: newer.
        cache.adopt(&[1], vec![stored(1, "c", 7)]);
        assert_eq!(cache.read(1), Some(Some("c".into())));
    }

    #[test]
    fn states_waiting_to_be_written_are_never_dropped() {
        let cache = DialogueCache::default();
        cache.adopt(&[1, 2, 3], Vec::new());
        cache.stage(2, "b".into());
        cache.keep_only(|chat| chat == 3);
        assert_eq!(cache.read(1), None);
        assert_eq!(cache.read(2), Some(Some("b".into())));
        assert_eq!(cache.read(3), Some(None));

        // A failed write is staged again, unless a newer change came.
        let write = cache.take_staged(2).expect("staged");
        cache.restage(&write);
        assert_eq!(cache.take_staged(2).map(|w| w.version), Some(1));
        cache.stage(2, "c".into());
        cache.restage(&write);
        assert_eq!(cache.take_staged(2).map(|w| w.state), Some("c".into()));
    }
}
