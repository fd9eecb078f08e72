//! When failed sign-ins lock a login, and for how long (Keycloak's
//! brute-force detection): pure arithmetic on a stored state and "now".
//!
//! Consecutive failures are counted while the login is not locked; the one
//! that reaches `max_failures` locks it for the current wait. Attempts
//! during a lock are refused without counting. When a lock ends, the count
//! starts again from zero and the next lock waits one increment longer, up
//! to `max_wait`. A right password clears the count; `failure_reset`
//! without a failure clears the count and the growth. After
//! `permanent_after` temporary locks (0: never) the next lock is permanent.

use chrono::{DateTime, Duration, Utc};
use unicode_normalization::UnicodeNormalization;

/// The tunable rules (`LOCKOUT_*`), with the product's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Consecutive failures that lock (`LOCKOUT_MAX_FAILURES`).
    pub max_failures: u32,
    /// The first lock's length (`LOCKOUT_FIRST_WAIT_MINUTES`).
    pub first_wait: Duration,
    /// How much longer each further lock is (`LOCKOUT_WAIT_INCREMENT_MINUTES`).
    pub wait_increment: Duration,
    /// The longest temporary lock (`LOCKOUT_MAX_WAIT_MINUTES`).
    pub max_wait: Duration,
    /// A quiet period that forgets the count and the growth
    /// (`LOCKOUT_FAILURE_RESET_HOURS`).
    pub failure_reset: Duration,
    /// Temporary locks before a permanent one; 0 is never
    /// (`LOCKOUT_PERMANENT_AFTER`).
    pub permanent_after: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            first_wait: Duration::minutes(10),
            wait_increment: Duration::minutes(10),
            max_wait: Duration::minutes(30),
            failure_reset: Duration::hours(12),
            permanent_after: 0,
        }
    }
}

/// What is stored per login (known or not): the same record for every
/// login, so that a lock proves nothing about whether the login exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockoutState {
    /// Consecutive failures since the last lock, success or reset.
    pub failures: u32,
    /// Temporary locks so far: the growth of the next wait.
    pub locks: u32,
    pub locked_until: Option<DateTime<Utc>>,
    /// Since when the login is locked until an operator unlocks it.
    pub locked_permanently_at: Option<DateTime<Utc>>,
    pub last_failure_at: Option<DateTime<Utc>>,
}

/// A lock in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    Until(DateTime<Utc>),
    /// Lifted only by `accounts unlock`.
    Permanent,
}

impl Lock {
    /// Whole seconds until the lock lifts (at least 1), if it lifts by itself.
    pub fn retry_after(self, now: DateTime<Utc>) -> Option<u64> {
        match self {
            Lock::Until(until) => {
                let millis = (until - now).num_milliseconds().max(1);
                Some((millis as u64).div_ceil(1000))
            }
            Lock::Permanent => None,
        }
    }
}

/// What one wrong password did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// Counted; this many failures in a row so far.
    Counted(u32),
    /// This failure locked the login.
    Locked(Lock),
    /// The login was already locked (by a concurrent attempt): not counted.
    AlreadyLocked(Lock),
}

impl LockoutPolicy {
    /// The state as it stands at `now`: an ended lock is gone, and a quiet
    /// `failure_reset` forgets the count and the growth.
    pub fn settle(&self, mut state: LockoutState, now: DateTime<Utc>) -> LockoutState {
        if state.locked_permanently_at.is_some() {
            return state;
        }
        match state.locked_until {
            Some(until) if until > now => return state,
            Some(_) => state.locked_until = None,
            None => {}
        }
        if state.last_failure_at.is_some_and(|at| at + self.failure_reset <= now) {
            state.failures = 0;
            state.locks = 0;
            state.last_failure_at = None;
        }
        state
    }

    /// The lock in force at `now`, if any.
    pub fn lock(&self, state: &LockoutState, now: DateTime<Utc>) -> Option<Lock> {
        if state.locked_permanently_at.is_some() {
            return Some(Lock::Permanent);
        }
        state.locked_until.filter(|until| *until > now).map(Lock::Until)
    }

    /// How long lock number `n` (1-based) lasts.
    pub fn wait(&self, n: u32) -> Duration {
        let grown = self.first_wait + self.wait_increment * n.saturating_sub(1) as i32;
        grown.min(self.max_wait)
    }

    /// Counts one wrong password at `now`.
    pub fn fail(&self, state: LockoutState, now: DateTime<Utc>) -> (LockoutState, FailureOutcome) {
        let mut state = self.settle(state, now);
        if let Some(lock) = self.lock(&state, now) {
            return (state, FailureOutcome::AlreadyLocked(lock));
        }
        state.failures += 1;
        state.last_failure_at = Some(now);
        if state.failures < self.max_failures {
            return (state, FailureOutcome::Counted(state.failures));
        }
        state.failures = 0;
        let lock = if self.permanent_after > 0 && state.locks >= self.permanent_after {
            state.locked_permanently_at = Some(now);
            Lock::Permanent
        } else {
            state.locks += 1;
            let until = now + self.wait(state.locks);
            state.locked_until = Some(until);
            Lock::Until(until)
        };
        (state, FailureOutcome::Locked(lock))
    }

    /// A right password at `now`: the count starts again (the growth stays
    /// until a quiet `failure_reset`).
    pub fn succeed(&self, state: LockoutState, now: DateTime<Utc>) -> LockoutState {
        LockoutState { failures: 0, ..self.settle(state, now) }
    }
}

/// The key a login's failures are counted under: trimmed, NFKC,
/// lower-cased, so that "Ivan.Petrov" and "ｉｖａｎ.petrov" share one count.
pub fn login_key(login: &str) -> String {
    login.trim().nfkc().collect::<String>().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-25T09:00:00Z").unwrap().to_utc()
    }

    fn minutes(n: i64) -> Duration {
        Duration::minutes(n)
    }

    /// Fails `n` times at `at`, returning the last outcome.
    fn fail_n(
        policy: &LockoutPolicy,
        state: &mut LockoutState,
        at: DateTime<Utc>,
        n: u32,
    ) -> FailureOutcome {
        let mut last = None;
        for _ in 0..n {
            let (next, outcome) = policy.fail(*state, at);
            *state = next;
            last = Some(outcome);
        }
        last.expect("n > 0")
    }

    #[test]
    fn the_fifth_failure_locks_for_ten_minutes() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        for n in 1..=4 {
            assert_eq!(fail_n(&policy, &mut state, start(), 1), FailureOutcome::Counted(n));
        }
        let until = start() + minutes(10);
        assert_eq!(
            fail_n(&policy, &mut state, start(), 1),
            FailureOutcome::Locked(Lock::Until(until))
        );
        assert_eq!(policy.lock(&state, start()), Some(Lock::Until(until)));
        assert_eq!(state.failures, 0, "the count starts again when the lock ends");
        // Attempts during the lock are refused and not counted.
        let (during, outcome) = policy.fail(state, start() + minutes(9));
        assert_eq!(outcome, FailureOutcome::AlreadyLocked(Lock::Until(until)));
        assert_eq!(during, state);
        assert_eq!(policy.lock(&state, until), None, "lifted at its end");
    }

    #[test]
    fn each_lock_waits_one_increment_longer_up_to_the_maximum() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        let mut now = start();
        for wait in [10, 20, 30, 30] {
            let outcome = fail_n(&policy, &mut state, now, 5);
            assert_eq!(outcome, FailureOutcome::Locked(Lock::Until(now + minutes(wait))));
            now += minutes(wait);
        }
        assert_eq!(policy.wait(1), minutes(10));
        assert_eq!(policy.wait(100), minutes(30));
    }

    #[test]
    fn a_right_password_clears_the_count_but_not_the_growth() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        fail_n(&policy, &mut state, start(), 5);
        let now = start() + minutes(10);
        fail_n(&policy, &mut state, now, 4);
        state = policy.succeed(state, now);
        assert_eq!(state.failures, 0);
        assert_eq!(fail_n(&policy, &mut state, now, 4), FailureOutcome::Counted(4));
        let outcome = fail_n(&policy, &mut state, now, 1);
        assert_eq!(outcome, FailureOutcome::Locked(Lock::Until(now + minutes(20))));
    }

    #[test]
    fn a_quiet_reset_period_forgets_the_count_and_the_growth() {
        let policy = LockoutPolicy::default();
        let mut state = LockoutState::default();
        fail_n(&policy, &mut state, start(), 5);
        fail_n(&policy, &mut state, start() + minutes(10), 4);
        // Twelve hours after the last failure: all forgotten.
        let later = start() + minutes(10) + Duration::hours(12);
        assert_eq!(fail_n(&policy, &mut state, later, 1), FailureOutcome::Counted(1));
        let outcome = fail_n(&policy, &mut state, later, 4);
        assert_eq!(outcome, FailureOutcome::Locked(Lock::Until(later + minutes(10))));
        // A second short of the period remembers.
        let mut state = LockoutState::default();
        fail_n(&policy, &mut state, start(), 4);
        let almost = start() + Duration::hours(12) - Duration::seconds(1);
        assert!(matches!(fail_n(&policy, &mut state, almost, 1), FailureOutcome::Locked(_)));
    }

    #[test]
    fn after_the_configured_locks_the_next_is_permanent() {
        let policy = LockoutPolicy { permanent_after: 2, ..LockoutPolicy::default() };
        let mut state = LockoutState::default();
        let mut now = start();
        for wait in [10, 20] {
            fail_n(&policy, &mut state, now, 5);
            now += minutes(wait);
        }
        assert_eq!(fail_n(&policy, &mut state, now, 5), FailureOutcome::Locked(Lock::Permanent));
        let years = now + Duration::days(3650);
        assert_eq!(policy.lock(&state, years), Some(Lock::Permanent), "never lifts by itself");
        assert_eq!(policy.settle(state, years), state, "not even after the reset period");
        assert_eq!(Lock::Permanent.retry_after(now), None);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let now = start();
        assert_eq!(Lock::Until(now + minutes(10)).retry_after(now), Some(600));
        assert_eq!(Lock::Until(now + Duration::milliseconds(1500)).retry_after(now), Some(2));
        assert_eq!(Lock::Until(now).retry_after(now), Some(1));
    }

    #[test]
    fn login_keys_ignore_case_width_and_spaces() {
        assert_eq!(login_key("  Ivan.Petrov "), "ivan.petrov");
        assert_eq!(login_key("ｉｖａｎ.petrov"), "ivan.petrov");
        assert_eq!(login_key("ИВАН"), "иван");
    }
}
