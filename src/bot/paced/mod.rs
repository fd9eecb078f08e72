//! The bot's Bot API client, paced: every message put in a chat waits for
//! its turn in one send budget (Telegram's limits, or this replica's part
//! of them), first come first served, and is sent the moment its turn
//! comes. teloxide's own `Throttle` releases messages in rounds 250 ms
//! apart whatever the limits, so each step of a conversation waited up to
//! 250 ms, and a burst went out a whole second's budget at once; here the
//! overall budget is spread evenly (30 a second: one message every 33 ms)
//! and a message that finds the budget free goes at once.
//!
//! Turns are reserved in the order requests arrive: first one chat's own
//! limits (one message a second, and 20 a minute in a group, as teloxide
//! counts them), then the overall one. Turns are numbered as they are
//! reserved, and a message goes only after the one before it and only
//! when the messages sent in the last second leave room, so turns whose
//! tasks woke late never go all at once. A 429 from Telegram holds every
//! send for its `retry_after`, and the request is sent again (at most
//! [`RETRIES`] times). New limits (replicas joining or leaving) apply to
//! the next reservation.
//!
//! When other processes send for the same bot (replicas on PostgreSQL),
//! the overall turns come from one clock they all share
//! ([`SharedTurns`], the database's `send_clock`): the requests waiting
//! for a turn are reserved together, one round trip for all of them, in
//! the order they asked. If that clock cannot be reached, turns are
//! reserved here again, at this process's part of the limit.

mod requester;

use std::{
    collections::{HashMap, VecDeque},
    future::IntoFuture,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::BoxFuture;
use teloxide::{
    adaptors::throttle::Limits,
    errors::AsResponseParameters,
    requests::{HasPayload, Output, Request},
    types::{ChatId, Recipient},
};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How many times a request refused with 429 is sent again.
pub const RETRIES: usize = 3;

/// How long a reservation on the shared clock may take before this
/// process reserves its turns alone.
const SHARED_WAIT: Duration = Duration::from_secs(1);

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// A Bot API client whose message sends are paced (see the module).
#[derive(Debug, Clone)]
pub struct Paced<B> {
    inner: B,
    gate: Gate,
}

impl<B> Paced<B> {
    pub fn new(inner: B, limits: Limits) -> Self {
        Self { inner, gate: Gate::new(limits) }
    }

    /// The limits turns are reserved by now.
    pub fn limits(&self) -> Limits {
        self.gate.limits()
    }

    /// Takes new limits for the next reservations.
    pub fn set_limits(&self, limits: Limits) {
        self.gate.set_limits(limits);
    }

    /// Sends nothing for `after` (counted from now).
    pub fn hold(&self, after: Duration) {
        self.gate.hold(after);
    }

    /// Takes the overall turns from `turns`, a clock shared with the
    /// other processes sending for this bot, paced by the whole bot's
    /// `limits`.
    pub fn share_turns(&self, turns: Arc<dyn SharedTurns>, limits: Limits) {
        self.gate.budget().shared = Some(Shared {
            turns,
            limits,
            waiting: VecDeque::new(),
            reserving: false,
            held_until: Instant::now(),
            on: true,
            floor_until: Instant::now(),
            last_turn: None,
        });
    }

    /// Takes the overall turns from the shared clock (`true`: other
    /// processes send too) or reserves them here (`false`: this one runs
    /// alone, and a round trip per message would be wasted). Turns already
    /// reserved on either side stay, and the other side starts after them.
    pub fn use_shared_turns(&self, on: bool) {
        self.gate.use_shared_turns(on);
    }
}

/// One sequence of overall turns shared by every process sending for the
/// bot (see the module).
pub trait SharedTurns: std::fmt::Debug + Send + Sync + 'static {
    /// Reserves `count` consecutive turns `interval` apart, the first after
    /// every turn reserved before and not earlier than `floor` from now;
    /// says how long from now the first one is.
    fn reserve(
        &self,
        count: u32,
        interval: Duration,
        floor: Duration,
    ) -> BoxFuture<'static, anyhow::Result<Duration>>;
}

/// Whose limits a message counts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ChatKey {
    Id(i64),
    /// A channel's `@username`.
    Username(String),
}

impl ChatKey {
    /// Channels and supergroups have a minute's limit of their own.
    fn is_group(&self) -> bool {
        match self {
            ChatKey::Id(id) => ChatId(*id).is_channel_or_supergroup(),
            ChatKey::Username(_) => true,
        }
    }
}

impl From<&Recipient> for ChatKey {
    fn from(recipient: &Recipient) -> Self {
        match recipient {
            Recipient::Id(id) => ChatKey::Id(id.0),
            Recipient::ChannelUsername(name) => ChatKey::Username(name.clone()),
        }
    }
}

impl From<&ChatId> for ChatKey {
    fn from(id: &ChatId) -> Self {
        ChatKey::Id(id.0)
    }
}

/// The send budget shared by every clone of one client.
#[derive(Debug, Clone)]
struct Gate(Arc<Mutex<Budget>>);

#[derive(Debug)]
struct Budget {
    limits: Limits,
    /// The earliest time the next message may go, by the overall limit.
    next_overall: Instant,
    /// Turns reserved per chat in the last minute, oldest first.
    chats: HashMap<ChatKey, VecDeque<Instant>>,
    /// When chats were last swept of turns older than a minute.
    swept: Instant,
    /// Where the overall turns come from when other processes send too.
    shared: Option<Shared>,
    /// The order in which turns are taken.
    line: Line,
}

/// Turns are numbered as they are reserved, and a message goes only after
/// the one before it in the line.
#[derive(Debug)]
struct Line {
    /// The number the next turn gets.
    next: u64,
    /// Every turn numbered below this has gone (or was given up).
    released: tokio::sync::watch::Sender<u64>,
    /// Turns given up while an earlier one still waited.
    given_up: std::collections::BTreeSet<u64>,
    /// When the last messages went (a second's worth), oldest first.
    sent: VecDeque<Instant>,
}

impl Line {
    fn new() -> Self {
        Self {
            next: 0,
            released: tokio::sync::watch::Sender::new(0),
            given_up: std::collections::BTreeSet::new(),
            sent: VecDeque::new(),
        }
    }

    fn take_number(&mut self) -> u64 {
        let number = self.next;
        self.next += 1;
        number
    }

    /// Turn `number` is done with (its message went, or it was given up
    /// while it was the first in line): the next one may go.
    fn pass(&mut self, number: u64) {
        let mut next = number + 1;
        while self.given_up.remove(&next) {
            next += 1;
        }
        self.released.send_replace(next);
    }
}

/// A turn's place in the line, given back if its request is dropped.
struct Place {
    gate: Gate,
    number: u64,
    gone: bool,
}

impl Place {
    /// The message goes now.
    fn gone(mut self) {
        self.gone = true;
        let mut budget = self.gate.budget();
        let per_second = budget.per_second();
        let sent = &mut budget.line.sent;
        sent.push_back(Instant::now());
        while sent.len() > per_second {
            sent.pop_front();
        }
        budget.line.pass(self.number);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        if self.gone {
            return;
        }
        let mut budget = self.gate.budget();
        if *budget.line.released.borrow() == self.number {
            budget.line.pass(self.number);
        } else {
            budget.line.given_up.insert(self.number);
        }
    }
}

#[derive(Debug)]
struct Shared {
    turns: Arc<dyn SharedTurns>,
    /// The whole bot's limits (not this process's part of them).
    limits: Limits,
    /// Requests waiting for a turn, in the order they asked.
    waiting: VecDeque<oneshot::Sender<Instant>>,
    /// A reservation is under way; it takes every request waiting.
    reserving: bool,
    /// This process sends nothing before (it joined others).
    held_until: Instant,
    /// Turns come from the shared clock (other processes send too).
    on: bool,
    /// The next reservation on the clock starts no earlier (the turns
    /// reserved here before the clock was turned on).
    floor_until: Instant,
    /// The last turn the clock gave this process.
    last_turn: Option<Instant>,
}

impl Gate {
    fn new(limits: Limits) -> Self {
        Gate(Arc::new(Mutex::new(Budget::new(limits))))
    }

    fn budget(&self) -> std::sync::MutexGuard<'_, Budget> {
        // A panic while holding the lock leaves plain numbers behind.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn limits(&self) -> Limits {
        self.budget().limits
    }

    fn set_limits(&self, limits: Limits) {
        self.budget().limits = limits;
    }

    /// Waits until a message to `chat` may go.
    async fn turn(&self, chat: &ChatKey) {
        let chat_turn = self.budget().chat_turn(chat, Instant::now());
        tokio::time::sleep_until(chat_turn).await;
        let (turn, place) = self.overall_turn().await;
        self.go(turn, place).await;
    }

    /// Waits for `turn`, in the line: messages go in the order of their
    /// turns, and never more in a second than the limit, counted over the
    /// messages that actually went: turns whose tasks woke late (a busy
    /// CPU) go together only as far as the last second leaves room.
    async fn go(&self, turn: Instant, place: Place) {
        let mut released = self.budget().line.released.subscribe();
        // The sender lives in the gate, which outlives this wait.
        let _ = released.wait_for(|next| *next >= place.number).await;
        let not_before = {
            let budget = self.budget();
            let per_second = budget.per_second();
            let sent = &budget.line.sent;
            sent.len().checked_sub(per_second).map(|n| sent[n] + SECOND)
        };
        tokio::time::sleep_until(not_before.map_or(turn, |not_before| turn.max(not_before))).await;
        place.gone();
    }

    /// Reserves the next overall turn: here, or on the shared clock
    /// together with every request waiting for one. The place holds the
    /// turn's number in the line.
    async fn overall_turn(&self) -> (Instant, Place) {
        let held = self.budget().shared.as_ref().map(|shared| shared.held_until);
        if let Some(held) = held {
            tokio::time::sleep_until(held).await;
        }
        let (waiting, place) = {
            let mut budget = self.budget();
            let now = Instant::now();
            let place =
                Place { gate: self.clone(), number: budget.line.take_number(), gone: false };
            let Some(shared) = budget.shared.as_mut().filter(|shared| shared.on) else {
                return (budget.overall_turn(now), place);
            };
            let (turn, waiting) = oneshot::channel();
            shared.waiting.push_back(turn);
            if !shared.reserving {
                shared.reserving = true;
                tokio::spawn(self.clone().reserve_waiting());
            }
            (waiting, place)
        };
        // The reserving task always answers; if it died, go now.
        (waiting.await.unwrap_or_else(|_| Instant::now()), place)
    }

    /// Reserves shared turns for the requests waiting, all of them in one
    /// round trip, until none waits.
    async fn reserve_waiting(self) {
        loop {
            let (turns, interval, waiting, floor) = {
                let mut budget = self.budget();
                let Some(shared) = budget.shared.as_mut() else { return };
                if shared.waiting.is_empty() {
                    shared.reserving = false;
                    return;
                }
                let waiting: Vec<_> = shared.waiting.drain(..).collect();
                let floor = shared.floor_until.saturating_duration_since(Instant::now());
                (Arc::clone(&shared.turns), interval(shared.limits), waiting, floor)
            };
            let count = u32::try_from(waiting.len()).unwrap_or(u32::MAX);
            let reserved = tokio::time::timeout(SHARED_WAIT, turns.reserve(count, interval, floor));
            let first = match reserved.await.unwrap_or_else(|_| Err(anyhow::anyhow!("timed out"))) {
                Ok(first_in) => Some(Instant::now() + first_in),
                Err(error) => {
                    tracing::warn!(
                        %error,
                        "send clock not reached: this replica paces its part of the limit alone"
                    );
                    None
                }
            };
            let mut budget = self.budget();
            let now = Instant::now();
            if let (Some(first), Some(shared)) = (first, budget.shared.as_mut()) {
                shared.last_turn = Some(first + interval * count.saturating_sub(1));
            }
            for (n, waiter) in (0u32..).zip(waiting) {
                let at = match first {
                    Some(first) => first + interval * n,
                    None => budget.overall_turn(now),
                };
                // A request dropped meanwhile leaves its turn unused.
                let _ = waiter.send(at);
            }
        }
    }

    fn use_shared_turns(&self, on: bool) {
        let mut budget = self.budget();
        let next_overall = budget.next_overall;
        let Some(shared) = budget.shared.as_mut() else { return };
        if shared.on == on {
            return;
        }
        shared.on = on;
        if on {
            shared.floor_until = next_overall;
        } else if let Some(last) = shared.last_turn {
            let after = last + interval(shared.limits);
            budget.next_overall = next_overall.max(after);
        }
    }

    /// This process sends nothing before `after` has passed.
    fn hold(&self, after: Duration) {
        let mut budget = self.budget();
        let until = Instant::now() + after;
        budget.next_overall = budget.next_overall.max(until);
        if let Some(shared) = budget.shared.as_mut() {
            shared.held_until = shared.held_until.max(until);
        }
    }

    /// Telegram said to wait: nothing goes before `after` has passed, from
    /// this process or, through the shared clock, from any other.
    fn flood_wait(&self, after: Duration) {
        self.hold(after);
        let shared = self.budget().shared.as_ref().map(|shared| Arc::clone(&shared.turns));
        if let Some(turns) = shared {
            tokio::spawn(async move {
                if let Err(error) = turns.reserve(0, Duration::ZERO, after).await {
                    tracing::warn!(%error, "send clock not held back for the other replicas");
                }
            });
        }
    }
}

impl Budget {
    fn new(limits: Limits) -> Self {
        let now = Instant::now();
        Budget {
            limits,
            next_overall: now,
            chats: HashMap::new(),
            swept: now,
            shared: None,
            line: Line::new(),
        }
    }

    /// Reserves `chat`'s next turn by its own limits.
    fn chat_turn(&mut self, chat: &ChatKey, now: Instant) -> Instant {
        if now.duration_since(self.swept) >= MINUTE {
            self.chats.retain(|_, turns| turns.back().is_some_and(|last| *last + MINUTE > now));
            self.swept = now;
        }
        let per_second = self.limits.messages_per_sec_chat.max(1) as usize;
        let per_minute = if chat.is_group() {
            self.limits.messages_per_min_channel_or_supergroup
        } else {
            self.limits.messages_per_min_chat
        }
        .max(1) as usize;
        let turns = self.chats.entry(chat.clone()).or_default();
        while turns.front().is_some_and(|first| *first + MINUTE <= now) {
            turns.pop_front();
        }
        let mut at = now;
        if turns.len() >= per_second {
            at = at.max(turns[turns.len() - per_second] + SECOND);
        }
        if turns.len() >= per_minute {
            at = at.max(turns[turns.len() - per_minute] + MINUTE);
        }
        // Turns stay in order: a later request never goes before an
        // earlier one to the same chat.
        if let Some(last) = turns.back() {
            at = at.max(*last);
        }
        turns.push_back(at);
        at
    }

    /// How many messages this process may send in a second.
    fn per_second(&self) -> usize {
        let shared = self.shared.as_ref().filter(|shared| shared.on);
        let limit = shared.map_or(self.limits, |shared| shared.limits);
        limit.messages_per_sec_overall.max(1) as usize
    }

    /// Reserves the next overall turn: one every second / limit.
    fn overall_turn(&mut self, now: Instant) -> Instant {
        let at = self.next_overall.max(now);
        self.next_overall = at + self.overall_interval();
        at
    }

    fn overall_interval(&self) -> Duration {
        interval(self.limits)
    }
}

/// A second divided by the overall limit, rounded up, so that no second
/// ever holds one turn more.
fn interval(limits: Limits) -> Duration {
    let per_second = u64::from(limits.messages_per_sec_overall.max(1));
    Duration::from_nanos(1_000_000_000u64.div_ceil(per_second))
}

/// A request that waits for its turn before it is sent.
#[derive(Clone)]
pub struct PacedRequest<R: HasPayload> {
    request: R,
    gate: Gate,
    chat: fn(&R::Payload) -> ChatKey,
}

impl<R: HasPayload> PacedRequest<R> {
    fn new(request: R, gate: &Gate, chat: fn(&R::Payload) -> ChatKey) -> Self {
        Self { request, gate: gate.clone(), chat }
    }
}

impl<R: HasPayload> HasPayload for PacedRequest<R> {
    type Payload = R::Payload;

    fn payload_mut(&mut self) -> &mut Self::Payload {
        self.request.payload_mut()
    }

    fn payload_ref(&self) -> &Self::Payload {
        self.request.payload_ref()
    }
}

impl<R> Request for PacedRequest<R>
where
    R: Request + Clone + Send + Sync + 'static,
    R::Err: AsResponseParameters + Send,
    Output<R>: Send,
{
    type Err = R::Err;
    type Send = BoxFuture<'static, Result<Output<Self>, Self::Err>>;
    type SendRef = BoxFuture<'static, Result<Output<Self>, Self::Err>>;

    fn send(self) -> Self::Send {
        let chat = (self.chat)(self.request.payload_ref());
        Box::pin(paced(self.request, self.gate, chat))
    }

    fn send_ref(&self) -> Self::SendRef {
        let chat = (self.chat)(self.request.payload_ref());
        Box::pin(paced(self.request.clone(), self.gate.clone(), chat))
    }
}

impl<R> IntoFuture for PacedRequest<R>
where
    R: Request + Clone + Send + Sync + 'static,
    R::Err: AsResponseParameters + Send,
    Output<R>: Send,
{
    type Output = Result<Output<Self>, <Self as Request>::Err>;
    type IntoFuture = <Self as Request>::Send;

    fn into_future(self) -> Self::IntoFuture {
        self.send()
    }
}

async fn paced<R>(request: R, gate: Gate, chat: ChatKey) -> Result<Output<R>, R::Err>
where
    R: Request,
    R::Err: AsResponseParameters,
{
    let mut retries = 0;
    loop {
        gate.turn(&chat).await;
        match request.send_ref().await {
            Err(error) if retries < RETRIES => match error.retry_after() {
                Some(after) => {
                    retries += 1;
                    let after = after.duration();
                    tracing::warn!(
                        retry_after_secs = after.as_secs(),
                        "Telegram asked to slow down (429): every send waits"
                    );
                    crate::monitoring::telegram_flood_wait();
                    gate.flood_wait(after);
                }
                None => return Err(error),
            },
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_overall_budget_is_spread_evenly_first_come_first_served() {
        let mut budget = Budget::new(Limits::default());
        let now = Instant::now();
        let turns: Vec<Duration> = (0..60).map(|_| budget.overall_turn(now) - now).collect();
        // 30 a second: one every 33.3 ms, in the order asked.
        assert_eq!(turns[0], Duration::ZERO);
        assert_eq!(turns[1], budget.overall_interval());
        assert!(turns[1] >= SECOND / 30 && turns[1] < SECOND / 30 + Duration::from_nanos(2));
        assert!(turns.windows(2).all(|pair| pair[0] < pair[1]));
        // Never more than 30 in any second.
        for (n, turn) in turns.iter().enumerate() {
            let within = turns[n..].iter().take_while(|later| **later < *turn + SECOND).count();
            assert!(within <= 30, "{within} turns in the second from {turn:?}");
        }
        // A quiet moment later, the next message goes at once.
        let later = now + Duration::from_secs(5);
        assert_eq!(budget.overall_turn(later), later);
    }

    #[tokio::test]
    async fn a_chat_gets_one_message_a_second_and_a_group_twenty_a_minute() {
        let mut budget = Budget::new(Limits::default());
        let now = Instant::now();
        let user = ChatKey::Id(42);
        let turns: Vec<Duration> = (0..3).map(|_| budget.chat_turn(&user, now) - now).collect();
        assert_eq!(turns, [Duration::ZERO, SECOND, 2 * SECOND]);
        // Another chat is not held back by the first.
        assert_eq!(budget.chat_turn(&ChatKey::Id(43), now), now);

        let group = ChatKey::Id(-1_001_234_567_890);
        let per_minute = Limits::default().messages_per_min_channel_or_supergroup as usize;
        let turns: Vec<Instant> = (0..=per_minute).map(|_| budget.chat_turn(&group, now)).collect();
        assert_eq!(turns[per_minute], turns[0] + MINUTE, "the next minute's first");
    }

    #[tokio::test]
    async fn new_limits_apply_to_the_next_turn() {
        let gate = Gate::new(Limits::default());
        let half = Limits { messages_per_sec_overall: 15, ..Limits::default() };
        gate.set_limits(half);
        assert_eq!(gate.limits(), half);
        let now = Instant::now();
        let mut budget = gate.budget();
        let first = budget.overall_turn(now);
        assert_eq!(budget.overall_turn(now) - first, budget.overall_interval());
        assert_eq!(budget.overall_interval(), Duration::from_nanos(66_666_667));
    }

    /// A send clock in memory, as the database keeps it.
    #[derive(Debug, Default)]
    struct Clock {
        next_at: Mutex<Option<Instant>>,
        calls: std::sync::atomic::AtomicUsize,
        broken: bool,
    }

    impl SharedTurns for Arc<Clock> {
        fn reserve(
            &self,
            count: u32,
            interval: Duration,
            floor: Duration,
        ) -> BoxFuture<'static, anyhow::Result<Duration>> {
            let clock = Arc::clone(self);
            Box::pin(async move {
                clock.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::task::yield_now().await;
                anyhow::ensure!(!clock.broken, "the database is away");
                let now = Instant::now();
                let mut next_at = clock.next_at.lock().unwrap();
                let first = next_at.unwrap_or(now).max(now + floor);
                *next_at = Some(first + interval * count);
                Ok(first - now)
            })
        }
    }

    fn sharing(clock: &Arc<Clock>, part: Limits) -> Gate {
        let gate = Gate::new(part);
        let turns: Arc<dyn SharedTurns> = Arc::new(Arc::clone(clock));
        let paced = Paced { inner: (), gate: gate.clone() };
        paced.share_turns(turns, Limits::default());
        gate
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_on_one_clock_take_turns_in_one_sequence_at_the_whole_pace() {
        let clock = Arc::new(Clock::default());
        let half = Limits { messages_per_sec_overall: 15, ..Limits::default() };
        let replicas = [sharing(&clock, half), sharing(&clock, half)];
        let asked: Vec<_> = (0..40)
            .map(|n| {
                let gate = replicas[n % 2].clone();
                tokio::spawn(async move { gate.overall_turn().await.0 })
            })
            .collect();
        let mut turns = Vec::new();
        for turn in asked {
            turns.push(turn.await.unwrap());
        }
        turns.sort_unstable();
        // The whole bot's pace (30 a second), not each part's (15), and
        // never two turns closer than that, whichever replica asked.
        let interval = interval(Limits::default());
        for pair in turns.windows(2) {
            assert!(pair[1] - pair[0] >= interval - Duration::from_millis(2), "{pair:?}");
        }
        assert!(turns[39] - turns[0] < interval * 39 + Duration::from_millis(100));
        // Requests waiting together were reserved together.
        let calls = clock.calls.load(std::sync::atomic::Ordering::SeqCst);
        assert!(calls < 40, "{calls} round trips for 40 turns");
    }

    #[tokio::test]
    async fn a_clock_out_of_reach_leaves_the_replica_its_part() {
        let clock = Arc::new(Clock { broken: true, ..Clock::default() });
        let half = Limits { messages_per_sec_overall: 15, ..Limits::default() };
        let gate = sharing(&clock, half);
        let first = gate.overall_turn().await.0;
        let second = gate.overall_turn().await.0;
        assert_eq!(second - first, interval(half));
        assert_eq!(clock.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn telegram_s_wait_holds_every_replica_on_the_clock() {
        let clock = Arc::new(Clock::default());
        let (first, second) =
            (sharing(&clock, Limits::default()), sharing(&clock, Limits::default()));
        let asked = Instant::now();
        first.flood_wait(Duration::from_secs(5));
        // The clock is held back in a task of its own.
        while clock.next_at.lock().unwrap().is_none() {
            tokio::task::yield_now().await;
        }
        let turn = second.overall_turn().await.0;
        assert!(turn >= asked + Duration::from_secs(5), "the other replica waits too");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn turns_woken_late_go_one_after_another_in_their_order() {
        let gate = Gate::new(Limits::default());
        let mut reserved = Vec::new();
        for _ in 0..5 {
            reserved.push(gate.overall_turn().await);
        }
        // The process stalls past all five turns (a busy CPU).
        std::thread::sleep(Duration::from_millis(250));
        // Their tasks wake together, the last first.
        let woken: Vec<_> = reserved
            .into_iter()
            .enumerate()
            .rev()
            .map(|(n, (turn, place))| {
                let gate = gate.clone();
                tokio::spawn(async move {
                    gate.go(turn, place).await;
                    (Instant::now(), n)
                })
            })
            .collect();
        let mut went = Vec::new();
        for task in woken {
            went.push(task.await.unwrap());
        }
        went.sort_unstable();
        let order: Vec<usize> = went.iter().map(|(_, n)| *n).collect();
        assert_eq!(order, [0, 1, 2, 3, 4], "in the order of their turns");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn late_turns_never_put_more_than_the_limit_in_one_second() {
        let limits = Limits { messages_per_sec_overall: 5, ..Limits::default() };
        let gate = Gate::new(limits);
        // Ten turns, two seconds' worth: one every 200 ms.
        let mut reserved = Vec::new();
        for _ in 0..10 {
            reserved.push(gate.overall_turn().await);
        }
        // The process stalls past the first three; they go together when
        // it wakes, and the later ones wait until the second has room.
        std::thread::sleep(Duration::from_millis(450));
        let mut went = Vec::new();
        for (turn, place) in reserved {
            gate.go(turn, place).await;
            went.push(Instant::now());
        }
        for n in 5..10 {
            let since = went[n] - went[n - 5];
            assert!(since + Duration::from_millis(5) >= SECOND, "{since:?} for six messages");
        }
    }

    #[tokio::test]
    async fn a_turn_given_up_does_not_hold_the_line() {
        let gate = Gate::new(Limits::default());
        let (first, first_place) = gate.overall_turn().await;
        let (_, dropped) = gate.overall_turn().await;
        let (third, third_place) = gate.overall_turn().await;
        // The second's request is dropped before the first went.
        drop(dropped);
        let went = async {
            gate.go(first, first_place).await;
            gate.go(third, third_place).await;
        };
        tokio::time::timeout(Duration::from_secs(5), went).await.expect("the third went");
        // And one dropped while first in line passes it on at once.
        let (_, first_in_line) = gate.overall_turn().await;
        let (next, next_place) = gate.overall_turn().await;
        drop(first_in_line);
        tokio::time::timeout(Duration::from_secs(5), gate.go(next, next_place))
            .await
            .expect("the next went");
    }

    #[tokio::test]
    async fn turning_the_clock_on_and_off_keeps_every_turn_after_the_last() {
        let clock = Arc::new(Clock::default());
        let gate = sharing(&clock, Limits::default());
        let pace = interval(Limits::default());
        // Alone: turns in memory, the clock untouched.
        gate.use_shared_turns(false);
        let mut local = Vec::new();
        for _ in 0..3 {
            local.push(gate.overall_turn().await.0);
        }
        assert_eq!(clock.calls.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Another replica came: the clock's first turn for this one comes
        // after those it reserved in memory.
        gate.use_shared_turns(true);
        let shared = gate.overall_turn().await.0;
        assert_eq!(clock.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(shared + Duration::from_millis(1) >= local[2] + pace, "{:?}", shared - local[2]);
        // Alone again: the next turn in memory comes after the clock's.
        gate.use_shared_turns(false);
        let again = gate.overall_turn().await.0;
        assert!(again + Duration::from_millis(1) >= shared + pace);
        assert_eq!(clock.calls.load(std::sync::atomic::Ordering::SeqCst), 1);
    }
}
