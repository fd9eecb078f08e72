//! argon2id hashing, always on a hashing thread: one hash takes tens of
//! milliseconds of CPU and would stall the async runtime. A fixed set of
//! threads, one per core, does all of it: each hash holds 19 MiB, and a
//! flood of reset-page POSTs must queue, not exhaust memory. The threads
//! live as long as the process, so the memory a hash frees stays with the
//! thread that reuses it (with tokio's blocking pool every new thread kept
//! its own 19 MiB in its allocator arena: 364 MiB after a burst on 2
//! cores). The queue itself is bounded ([`HashingQueue`]) so a flood is
//! told "busy" instead of waiting without end.

use std::sync::{
    Arc, LazyLock, Mutex,
    mpsc::{self, Receiver, Sender},
};

use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};

use super::{RecoveryError, RecoveryResult};

/// Hashes with argon2id and the crate's defaults (OWASP's minimum: 19 MiB, t=2, p=1).
pub async fn hash_password(password: String) -> RecoveryResult<String> {
    on_hashing_thread(move || hash_blocking(&password)).await
}

/// True if `password` matches the PHC string `hash`; a malformed stored hash
/// is an error, not a match.
pub async fn verify_password(password: String, hash: String) -> RecoveryResult<bool> {
    on_hashing_thread(move || verify_blocking(&password, &hash)).await
}

/// The cores hashing may use at once.
pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing threads' queue: one thread per core takes the next job.
static HASHING_THREADS: LazyLock<Sender<Job>> = LazyLock::new(|| {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for n in 0..cores() {
        let queue = Arc::clone(&queue);
        let spawned = std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || hashing_thread(&queue));
        if let Err(error) = spawned {
            tracing::error!(%error, "a hashing thread could not be started");
        }
    }
    jobs
});

fn hashing_thread(queue: &Mutex<Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job.
        let next = queue.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).recv();
        let Ok(job) = next else { return };
        // A job that panics loses its answer (the caller sees an error);
        // the thread goes on with the next one.
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).is_err() {
            tracing::error!("a hashing job panicked");
        }
    }
}

/// Runs CPU-heavy credential work on a hashing thread, one job per core at
/// once. The thread is held by the job itself, so a caller that goes away
/// (a browser that disconnects) cannot free it while the job still runs.
pub(super) async fn on_hashing_thread<T: Send + 'static>(
    job: impl FnOnce() -> RecoveryResult<T> + Send + 'static,
) -> RecoveryResult<T> {
    let (answer, answered) = oneshot::channel();
    let job: Job = Box::new(move || {
        // The caller may have gone; the work is done either way.
        let _ = answer.send(job());
    });
    HASHING_THREADS
        .send(job)
        .map_err(|_| RecoveryError::Hashing("the hashing threads have stopped".into()))?;
    answered.await.map_err(|_| RecoveryError::Hashing("the hashing job failed".into()))?
}

/// Admission to hashing for the reset page: at most `limit` jobs waiting or
/// running at once (`HASH_QUEUE_LIMIT`); beyond that the caller answers
/// "busy" at once.
#[derive(Debug, Clone)]
pub struct HashingQueue {
    places: Arc<Semaphore>,
    limit: usize,
}

impl HashingQueue {
    pub fn new(limit: usize) -> Self {
        Self { places: Arc::new(Semaphore::new(limit)), limit }
    }

    /// Jobs waiting or running now.
    pub fn taken(&self) -> usize {
        self.limit - self.places.available_permits()
    }

    /// A place in the queue, or `None` when it is full.
    pub fn admit(&self) -> Option<Admission> {
        Arc::clone(&self.places).try_acquire_owned().ok().map(|place| Admission { _place: place })
    }
}

/// A place in the hashing queue, held until the job is done.
#[derive(Debug)]
pub struct Admission {
    _place: OwnedSemaphorePermit,
}

impl Admission {
    /// Waits for a core, then runs `job` on a blocking thread; the place in
    /// the queue is given back when the job ends, not when the caller stops
    /// waiting for it.
    pub async fn run<T: Send + 'static>(
        self,
        job: impl FnOnce() -> RecoveryResult<T> + Send + 'static,
    ) -> RecoveryResult<T> {
        let place = self._place;
        on_hashing_thread(move || {
            let _place = place;
            job()
        })
        .await
    }
}

/// What a password is checked against when the login is unknown or has no
/// password: the same argon2 work, so that the answer's timing tells
/// nothing. Made once, on the first sign-in or by [`prepare_sign_in`].
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_blocking("no account has this password").expect("argon2 hashes a constant")
});

/// Makes the dummy hash before the first request, so that the first unknown
/// login does not take twice as long as a known one.
pub async fn prepare_sign_in() -> RecoveryResult<()> {
    on_hashing_thread(|| {
        LazyLock::force(&DUMMY_HASH);
        Ok(())
    })
    .await
}

/// Checks `password` (already NFKC) against `hash`, or against the dummy
/// hash when there is none or it is unreadable: always one argon2 run.
pub(super) fn verify_or_dummy(password: &str, hash: Option<&str>) -> bool {
    match hash.map(|hash| verify_blocking(password, hash)) {
        Some(Ok(matches)) => matches,
        Some(Err(error)) => {
            tracing::error!(%error, "a stored password hash is unreadable");
            let _ = verify_blocking(password, &DUMMY_HASH);
            false
        }
        None => {
            let _ = verify_blocking(password, &DUMMY_HASH);
            false
        }
    }
}

pub(super) fn hash_blocking(password: &str) -> RecoveryResult<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| RecoveryError::Hashing(e.to_string()))
}

pub(super) fn verify_blocking(password: &str, hash: &str) -> RecoveryResult<bool> {
    match Argon2::default().verify_password(password.as_bytes(), hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(RecoveryError::Hashing(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// However many hashes are asked for at once, no more than one per core
    /// runs (each holds 19 MiB).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_one_hashing_job_per_core() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs = (0..cores * 4).map(|_| {
            let (running, most) = (Arc::clone(&running), Arc::clone(&most));
            on_hashing_thread(move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                // Real work, long enough for the jobs to overlap if allowed.
                hash_blocking("correct horse battery staple")?;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok(())
            })
        });
        for result in futures::future::join_all(jobs).await {
            result.unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=cores).contains(&most), "{most} jobs ran at once on {cores} cores");
    }

    #[test]
    fn a_full_queue_admits_nobody_until_a_place_is_free() {
        let queue = HashingQueue::new(2);
        let first = queue.admit().expect("a place");
        let _second = queue.admit().expect("a place");
        assert!(queue.admit().is_none(), "full");
        drop(first);
        assert!(queue.admit().is_some(), "a place came free");
    }

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse battery staple".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery staple".into(), hash.clone()).await.unwrap()
        );
        assert!(!verify_password("wrong".into(), hash).await.unwrap());
        assert!(verify_password("x".into(), "not a hash".into()).await.is_err());
    }
}
