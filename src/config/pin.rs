//! Station PINs: configured either as an argon2 PHC string (`$argon2id$…`, recommended:
//! `livepack hash-pin`) or, for the demo, as plain text. Compared in constant time.

use super::Secret;

/// Whether `candidate` is the configured PIN. A candidate that is no acceptable PIN (under
/// [`MIN_DIGITS`] digits) never is, whatever the configuration holds: a hash made elsewhere
/// of a short PIN cannot let one in.
pub fn verify(configured: &Secret, candidate: &str) -> bool {
    if check_plain(candidate).is_err() {
        return false;
    }
    let stored = configured.expose();
    if stored.starts_with("$argon2") {
        use argon2::password_hash::{PasswordHash, PasswordVerifier};
        match PasswordHash::new(stored) {
            Ok(hash) => argon2::Argon2::default()
                .verify_password(candidate.as_bytes(), &hash)
                .is_ok(),
            Err(_) => false,
        }
    } else {
        configured.matches(candidate)
    }
}

/// What a PIN must be: at least [`MIN_DIGITS`] digits (a short PIN falls to guessing even
/// with the sign-in throttle).
pub const MIN_DIGITS: usize = 6;

/// `Err` with the rule when `pin` (plain text) is not an acceptable PIN.
pub fn check_plain(pin: &str) -> Result<(), String> {
    if pin.chars().count() < MIN_DIGITS || !pin.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("a PIN is at least {MIN_DIGITS} digits (0-9)"));
    }
    Ok(())
}

/// An argon2id PHC string for a PIN, for the config file; refuses a PIN [`check_plain`]
/// refuses, so a hash cannot smuggle in a short PIN.
pub fn hash(pin: &str) -> Result<String, String> {
    check_plain(pin)?;
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(pin.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_hashed_pins() {
        assert!(verify(&Secret::new("246813"), "246813"));
        assert!(!verify(&Secret::new("246813"), "246814"));
        let h = hash("864213").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&Secret::new(h.clone()), "864213"));
        assert!(!verify(&Secret::new(h), "864214"));
        assert!(hash("8642").unwrap_err().contains("at least 6 digits"));
        assert!(hash("12345a").is_err());
    }

    #[test]
    fn a_hash_of_a_short_pin_lets_nothing_in() {
        // As another tool would make it (`hash` refuses a short PIN).
        use argon2::password_hash::{PasswordHasher, SaltString};
        let salt = SaltString::encode_b64(&[7u8; 16]).unwrap();
        let short = argon2::Argon2::default()
            .hash_password(b"123", &salt)
            .unwrap()
            .to_string();
        assert!(!verify(&Secret::new(short), "123"));
    }
}
