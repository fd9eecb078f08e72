//! argon2id hashing, always on a blocking thread: one hash takes tens of
//! milliseconds of CPU and would stall the async runtime.

use argon2::{
    Argon2,
    password_hash::{PasswordHasher, PasswordVerifier},
};

use super::{RecoveryError, RecoveryResult};

/// Hashes with argon2id and the crate's defaults (OWASP's minimum: 19 MiB, t=2, p=1).
pub async fn hash_password(password: String) -> RecoveryResult<String> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| RecoveryError::Hashing(e.to_string()))?
}

/// True if `password` matches the PHC string `hash`; a malformed stored hash
/// is an error, not a match.
pub async fn verify_password(password: String, hash: String) -> RecoveryResult<bool> {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &hash))
        .await
        .map_err(|e| RecoveryError::Hashing(e.to_string()))?
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
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_and_verify() {
        let hash = hash_password("correct horse battery staple".into())
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse battery staple".into(), hash.clone())
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), hash).await.unwrap());
        assert!(
            verify_password("x".into(), "not a hash".into())
                .await
                .is_err()
        );
    }
}
