//! Two-factor authentication's pure parts: TOTP secrets and codes (RFC 6238:
//! SHA-1, six digits, 30-second steps, one step of clock skew either way),
//! backup codes, and the box that keeps secrets encrypted at rest.
//!
//! Nothing here reads the clock or the database; "now" and the last
//! accepted step come from the caller.

use std::fmt;

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};

/// Seconds in one TOTP time step.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// Digits in a TOTP code.
pub const TOTP_DIGITS: u8 = 6;
/// Steps either side of now that a code may come from (a phone's clock a
/// little off, a code typed as its step ends).
pub const TOTP_SKEW_STEPS: u64 = 1;
/// Bytes of a new TOTP secret: RFC 4226 recommends 160 bits.
const SECRET_BYTES: usize = 20;
/// The shortest secret RFC 4226 allows (128 bits).
const MIN_SECRET_BYTES: usize = 16;

/// Wrong backup codes an account may get in any hour; then only support.
pub const BACKUP_CODE_TRIES_PER_HOUR: usize = 5;
/// How long a started enrolment waits for its first code.
pub const ENROLMENT_TTL_MINUTES: i64 = 10;

/// Why a secret could not be turned into a URI or a picture.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TwoFactorError {
    #[error("random number generator: {0}")]
    Random(String),
    #[error("otpauth URI: {0}")]
    Uri(String),
    #[error("encryption failed")]
    Encrypt,
}

/// A TOTP shared secret. Never logged: Debug prints stars.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// 160 fresh bits from the operating system's RNG.
    pub fn generate() -> Result<Self, TwoFactorError> {
        let mut bytes = vec![0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| TwoFactorError::Random(e.to_string()))?;
        Ok(Self(bytes))
    }

    /// A secret read back (decrypted); `None` if shorter than RFC 4226 allows.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= MIN_SECRET_BYTES).then_some(Self(bytes))
    }

    /// The raw bytes, for encryption; the only way to see them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding, as authenticator apps take it typed in.
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::from(self.0.clone()).to_base32()
    }

    fn totp(&self, issuer: &str, account: &str) -> Totp {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(TOTP_DIGITS)
            .with_skew(TOTP_SKEW_STEPS as u16)
            .with_step_duration(TOTP_STEP_SECONDS)
            .with_secret(self.0.clone())
            .with_issuer(Some(label_part(issuer)))
            .with_account_name(label_part(account))
            .build_noncompliant()
    }

    /// `otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER` for an
    /// authenticator app. A colon in either name would end the label early,
    /// so it becomes a dash.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, TwoFactorError> {
        self.totp(issuer, account).to_url().map_err(|e| TwoFactorError::Uri(e.to_string()))
    }

    /// The otpauth URI as a QR code, a PNG image (for a Telegram photo).
    pub fn qr_png(&self, issuer: &str, account: &str) -> Result<Vec<u8>, TwoFactorError> {
        self.totp(issuer, account).to_qr_png().map_err(|e| TwoFactorError::Uri(e.to_string()))
    }

    /// The code of the step that holds `unix_seconds`.
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp("", "").generate(unix_seconds).to_string()
    }

    /// The step a typed code belongs to, if it is the code of the step of
    /// `unix_seconds` or of one step either side, and that step is later
    /// than `last_accepted` (RFC 6238 §5.2: a code is accepted once; a step
    /// at or before the last accepted one is refused). Spaces are ignored.
    pub fn accept(
        &self,
        typed: &str,
        unix_seconds: u64,
        last_accepted: Option<u64>,
    ) -> Option<u64> {
        let typed: String = typed.chars().filter(|c| !c.is_whitespace()).collect();
        if typed.len() != usize::from(TOTP_DIGITS) || !typed.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("", "");
        let now = unix_seconds / TOTP_STEP_SECONDS;
        let first = now.saturating_sub(TOTP_SKEW_STEPS);
        // Every step of the window is computed, so the time taken does not
        // tell which one matched.
        let mut matched = None;
        for step in first..=now + TOTP_SKEW_STEPS {
            let code = totp.generate(step * TOTP_STEP_SECONDS).to_string();
            let same: bool =
                subtle::ConstantTimeEq::ct_eq(code.as_bytes(), typed.as_bytes()).into();
            if same && matched.is_none() && last_accepted.is_none_or(|last| step > last) {
                matched = Some(step);
            }
        }
        matched
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(***)")
    }
}

/// The TOTP step that holds `unix_seconds`.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / TOTP_STEP_SECONDS
}

fn label_part(name: &str) -> String {
    name.replace(':', "-")
}

/// Backup codes: the symbols they are made of. Upper-case letters and
/// digits without the look-alikes 0/O and 1/I/L: 31 symbols.
pub const BACKUP_ALPHABET: &[u8; 31] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
/// Symbols in a backup code: four groups of four.
pub const BACKUP_CODE_SYMBOLS: usize = 16;
/// Codes in one set.
pub const BACKUP_CODES_PER_SET: usize = 10;

/// One single-use backup code, kept in its canonical form (16 symbols, no
/// dashes). Never logged: Debug prints stars.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupCode(String);

impl BackupCode {
    /// 16 symbols drawn uniformly from [`BACKUP_ALPHABET`] with the OS RNG
    /// (bytes at or above 248 are redrawn, so no symbol is favoured):
    /// 16 × log2(31) ≈ 79.3 bits.
    pub fn generate() -> Result<Self, TwoFactorError> {
        let n = BACKUP_ALPHABET.len();
        // The largest multiple of 31 that fits in a byte: 248.
        let limit = (256 / n * n) as u8;
        let mut code = String::with_capacity(BACKUP_CODE_SYMBOLS);
        let mut bytes = [0u8; 32];
        while code.len() < BACKUP_CODE_SYMBOLS {
            getrandom::fill(&mut bytes).map_err(|e| TwoFactorError::Random(e.to_string()))?;
            for &byte in bytes.iter().filter(|&&b| b < limit) {
                if code.len() == BACKUP_CODE_SYMBOLS {
                    break;
                }
                code.push(char::from(BACKUP_ALPHABET[usize::from(byte) % n]));
            }
        }
        Ok(Self(code))
    }

    /// A set of [`BACKUP_CODES_PER_SET`] codes.
    pub fn generate_set() -> Result<Vec<Self>, TwoFactorError> {
        (0..BACKUP_CODES_PER_SET).map(|_| Self::generate()).collect()
    }

    /// Reads a code as a person types it: any case, with or without spaces
    /// and dashes (`abcd efgh-jkmn pqrs`). `None` unless 16 symbols of the
    /// alphabet remain.
    pub fn parse(typed: &str) -> Option<Self> {
        let code: String = typed
            .chars()
            .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '‐' | '‑' | '–' | '—'))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let valid =
            code.len() == BACKUP_CODE_SYMBOLS && code.bytes().all(|b| BACKUP_ALPHABET.contains(&b));
        valid.then_some(Self(code))
    }

    /// The canonical form, what is hashed.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// As shown to the user: `ABCD-EFGH-JKMN-PQRS`.
    pub fn display(&self) -> String {
        let groups: Vec<&str> =
            (0..BACKUP_CODE_SYMBOLS / 4).map(|i| &self.0[i * 4..i * 4 + 4]).collect();
        groups.join("-")
    }
}

impl fmt::Debug for BackupCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupCode(***)")
    }
}

/// A 256-bit key for [`SecretBox`] (`SECRET_KEY`), with a short id that
/// says which key sealed a value without revealing the key. Never logged.
#[derive(Clone)]
pub struct SecretKey {
    key: [u8; 32],
    id: String,
}

impl SecretKey {
    /// 64 hexadecimal characters (e.g. `openssl rand -hex 32`). The error
    /// never repeats the value.
    pub fn parse_hex(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        if raw.len() != 64 {
            return Err(format!(
                "expected 64 hexadecimal characters (32 bytes, e.g. the output of \
                 `openssl rand -hex 32`), got {} characters",
                raw.chars().count()
            ));
        }
        let mut key = [0u8; 32];
        for (i, pair) in raw.as_bytes().chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok().and_then(|p| u8::from_str_radix(p, 16).ok());
            key[i] = hex.ok_or_else(|| {
                "expected 64 hexadecimal characters (0-9, a-f), e.g. the output of \
                 `openssl rand -hex 32`; found another character"
                    .to_owned()
            })?;
        }
        Ok(Self::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"crm-recovery-bot secret key id\0")
            .chain_update(key)
            .finalize();
        let id = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
        Self { key, id }
    }

    /// Eight hex characters derived from the key (a one-way digest).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({}, ***)", self.id)
    }
}

/// A value sealed by [`SecretBox`]: what the database keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The [`SecretKey::id`] of the key that sealed it.
    pub key_id: String,
    /// 24 random bytes (XChaCha20's nonce: random nonces never repeat in
    /// practice).
    pub nonce: Vec<u8>,
    /// The ciphertext followed by Poly1305's 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed with key {0}, which is neither SECRET_KEY nor SECRET_KEY_PREVIOUS")]
    UnknownKey(String),
    #[error("the ciphertext does not authenticate (tampered, or sealed for another account)")]
    Inauthentic,
}

/// What [`SecretBox::open`] found.
#[derive(Debug)]
pub struct Opened {
    pub plaintext: Vec<u8>,
    /// Sealed with the previous key: seal it again with the current one.
    pub stale: bool,
}

/// XChaCha20-Poly1305 with the current key (`SECRET_KEY`) and, while keys
/// are being rotated, the previous one (`SECRET_KEY_PREVIOUS`) for opening.
/// `context` (associated data) binds a value to its owner: a value copied
/// to another account's row does not open there.
#[derive(Debug, Clone)]
pub struct SecretBox {
    current: SecretKey,
    previous: Option<SecretKey>,
}

impl SecretBox {
    pub fn new(current: SecretKey, previous: Option<SecretKey>) -> Self {
        Self { current, previous }
    }

    /// The id of the key new values are sealed with.
    pub fn current_key_id(&self) -> &str {
        self.current.id()
    }

    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Sealed, TwoFactorError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|e| TwoFactorError::Random(e.to_string()))?;
        let cipher = XChaCha20Poly1305::new(&self.current.key.into());
        let ciphertext = cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: plaintext, aad: context })
            // Only a message over 256 GiB fails to encrypt.
            .map_err(|_| TwoFactorError::Encrypt)?;
        Ok(Sealed { key_id: self.current.id.clone(), nonce: nonce.to_vec(), ciphertext })
    }

    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Opened, OpenError> {
        let (key, stale) = if sealed.key_id == self.current.id {
            (&self.current, false)
        } else {
            match &self.previous {
                Some(previous) if sealed.key_id == previous.id => (previous, true),
                _ => return Err(OpenError::UnknownKey(sealed.key_id.clone())),
            }
        };
        let nonce: [u8; 24] =
            sealed.nonce.as_slice().try_into().map_err(|_| OpenError::Inauthentic)?;
        let cipher = XChaCha20Poly1305::new(&key.key.into());
        let plaintext = cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: &sealed.ciphertext, aad: context })
            .map_err(|_| OpenError::Inauthentic)?;
        Ok(Opened { plaintext, stale })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed ("12345678901234567890").
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    #[test]
    fn rfc_6238_test_vectors_in_six_digits() {
        // Appendix B's eight-digit SHA-1 codes; six digits are their last six.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        let secret = rfc_secret();
        for (time, eight) in vectors {
            assert_eq!(secret.code_at(time), eight[2..], "T = {time}");
            assert_eq!(secret.accept(&eight[2..], time, None), Some(step_at(time)), "T = {time}");
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_not_two() {
        let secret = rfc_secret();
        // 59 is the last second of step 1.
        let code = secret.code_at(59);
        assert_eq!(secret.accept(&code, 59, None), Some(1));
        // One step early (the first second of step 0 and its last).
        assert_eq!(secret.accept(&code, 0, None), Some(1));
        assert_eq!(secret.accept(&code, 29, None), Some(1));
        // One step late: the whole of step 2, to its last second.
        assert_eq!(secret.accept(&code, 60, None), Some(1));
        assert_eq!(secret.accept(&code, 89, None), Some(1));
        // Two steps late: refused from the first second of step 3.
        assert_eq!(secret.accept(&code, 90, None), None);
        // Two steps early.
        let later = secret.code_at(90);
        assert_eq!(secret.accept(&later, 59, None), None);
        assert_eq!(secret.accept(&later, 60, None), Some(3));
    }

    #[test]
    fn a_step_is_accepted_once() {
        let secret = rfc_secret();
        let code = secret.code_at(1_234_567_890);
        let step = secret.accept(&code, 1_234_567_890, None).unwrap();
        assert_eq!(secret.accept(&code, 1_234_567_890, Some(step)), None, "replay");
        // An older step is refused too, even in the window.
        let older = secret.code_at(1_234_567_890 - 30);
        assert_eq!(secret.accept(&older, 1_234_567_890, Some(step)), None);
        // The next step's code is fine.
        let next = secret.code_at(1_234_567_890 + 30);
        assert_eq!(secret.accept(&next, 1_234_567_890 + 30, Some(step)), Some(step + 1));
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = rfc_secret();
        let code = secret.code_at(59);
        assert_eq!(secret.accept(&format!("{} {}", &code[..3], &code[3..]), 59, None), Some(1));
        for bad in ["", "12345", "1234567", "abcdef", "+28708", "２８７０８２"] {
            assert_eq!(secret.accept(bad, 59, None), None, "{bad}");
        }
    }

    #[test]
    fn the_otpauth_uri_names_issuer_and_account() {
        let uri = rfc_secret().otpauth_uri("Acme CRM", "ivan.petrov").unwrap();
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20CRM:ivan.petrov?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Acme%20CRM"
        );
        // A colon would split the label: it becomes a dash.
        let uri = rfc_secret().otpauth_uri("A:B", "x:y").unwrap();
        assert!(uri.starts_with("otpauth://totp/A-B:x-y?"), "{uri}");
    }

    #[test]
    fn the_qr_code_is_a_png() {
        let png = rfc_secret().qr_png("CRM", "ivan.petrov").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn secrets_are_160_random_bits_and_hidden_from_debug() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a, b);
        assert_eq!(a.to_base32().len(), 32);
        assert_eq!(format!("{a:?}"), "TotpSecret(***)");
        assert!(TotpSecret::from_bytes(vec![0; 15]).is_none());
    }

    #[test]
    fn backup_codes_are_sixteen_symbols_of_the_alphabet() {
        let set = BackupCode::generate_set().unwrap();
        assert_eq!(set.len(), 10);
        for code in &set {
            let shown = code.display();
            assert_eq!(shown.len(), 19, "{shown}");
            assert_eq!(shown.matches('-').count(), 3);
            for (i, c) in shown.chars().enumerate() {
                if i % 5 == 4 {
                    assert_eq!(c, '-');
                } else {
                    assert!(BACKUP_ALPHABET.contains(&(c as u8)), "{c} in {shown}");
                }
            }
            for look_alike in ['0', 'O', '1', 'I', 'L'] {
                assert!(!shown.contains(look_alike), "{shown}");
            }
        }
        let mut distinct: Vec<_> = set.iter().map(BackupCode::expose).collect();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        assert_eq!(format!("{:?}", set[0]), "BackupCode(***)");
    }

    #[test]
    fn backup_codes_carry_at_least_64_bits() {
        let bits = BACKUP_CODE_SYMBOLS as f64 * (BACKUP_ALPHABET.len() as f64).log2();
        assert!(bits >= 79.0, "{bits}");
        // Every symbol turns up, none is favoured much: 16,000 symbols,
        // about 516 of each.
        let mut counts = [0usize; 31];
        for _ in 0..1000 {
            for b in BackupCode::generate().unwrap().expose().bytes() {
                counts[BACKUP_ALPHABET.iter().position(|&a| a == b).unwrap()] += 1;
            }
        }
        assert!(counts.iter().all(|&n| (350..700).contains(&n)), "{counts:?}");
    }

    #[test]
    fn backup_codes_parse_whatever_the_case_spaces_and_dashes() {
        let code = BackupCode::parse("ABCD-EFGH-JKMN-PQRS").unwrap();
        assert_eq!(code.expose(), "ABCDEFGHJKMNPQRS");
        assert_eq!(code.display(), "ABCD-EFGH-JKMN-PQRS");
        for typed in [
            "abcd-efgh-jkmn-pqrs",
            " ABCD EFGH JKMN PQRS ",
            "abcdefghjkmnpqrs",
            "AbCd–EfGh—jkmn pqrs",
        ] {
            assert_eq!(BackupCode::parse(typed), Some(code.clone()), "{typed}");
        }
        for bad in [
            "ABCD-EFGH-JKMN",
            "ABCD-EFGH-JKMN-PQRSX",
            "ABCD-EFGH-JKMN-PQR0",
            "OBCD-EFGH-JKMN-PQRS",
            "ABCD-EFGH-JKMN-PQR1",
            "",
        ] {
            assert_eq!(BackupCode::parse(bad), None, "{bad}");
        }
    }

    fn key(byte: u8) -> SecretKey {
        SecretKey::from_bytes([byte; 32])
    }

    #[test]
    fn sealed_secrets_do_not_contain_the_secret() {
        let secret = TotpSecret::generate().unwrap();
        let sealed = SecretBox::new(key(7), None).seal(secret.expose(), b"account 1").unwrap();
        assert_eq!(sealed.nonce.len(), 24);
        assert_eq!(sealed.ciphertext.len(), 20 + 16);
        assert!(!sealed.ciphertext.windows(4).any(|w| secret.expose().windows(4).any(|s| s == w)));
        let base32 = secret.to_base32();
        assert!(!String::from_utf8_lossy(&sealed.ciphertext).contains(&base32));
        let opened = SecretBox::new(key(7), None).open(&sealed, b"account 1").unwrap();
        assert_eq!(opened.plaintext, secret.expose());
        assert!(!opened.stale);
        // Another account's context, or a flipped bit, does not open.
        let sbox = SecretBox::new(key(7), None);
        assert_eq!(sbox.open(&sealed, b"account 2").unwrap_err(), OpenError::Inauthentic);
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert_eq!(sbox.open(&tampered, b"account 1").unwrap_err(), OpenError::Inauthentic);
    }

    #[test]
    fn the_previous_key_opens_and_says_the_value_is_stale() {
        let old = SecretBox::new(key(1), None);
        let sealed = old.seal(b"0123456789abcdefghij", b"ctx").unwrap();
        assert_eq!(sealed.key_id, key(1).id());
        let rotated = SecretBox::new(key(2), Some(key(1)));
        let opened = rotated.open(&sealed, b"ctx").unwrap();
        assert!(opened.stale);
        let resealed = rotated.seal(&opened.plaintext, b"ctx").unwrap();
        assert_eq!(resealed.key_id, key(2).id());
        assert_ne!(resealed.key_id, sealed.key_id);
        assert!(!rotated.open(&resealed, b"ctx").unwrap().stale);
        // Once the previous key is dropped, old values do not open.
        let forgotten = SecretBox::new(key(2), None);
        assert!(matches!(forgotten.open(&sealed, b"ctx"), Err(OpenError::UnknownKey(_))));
    }

    #[test]
    fn keys_are_64_hex_characters_and_never_shown() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let parsed = SecretKey::parse_hex(hex).unwrap();
        assert_eq!(parsed.id().len(), 8);
        assert!(!format!("{parsed:?}").contains("0011"), "{parsed:?}");
        let short = SecretKey::parse_hex(&hex[..62]).unwrap_err();
        assert!(short.contains("got 62 characters"), "{short}");
        let bad = SecretKey::parse_hex(&format!("{}zz", &hex[..62])).unwrap_err();
        assert!(!bad.contains(&hex[..10]), "{bad}");
        assert!(SecretKey::parse_hex(&"é".repeat(32)).is_err());
        // Ids differ per key.
        assert_ne!(key(1).id(), key(2).id());
    }
}
