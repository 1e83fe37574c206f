//! Station PINs: configured either as an argon2 PHC string (`$argon2id$…`, recommended:
//! `livepack hash-pin`) or, for the demo, as plain text. Compared in constant time.

use super::Secret;

pub fn verify(configured: &Secret, candidate: &str) -> bool {
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

/// An argon2id PHC string for a PIN, for the config file.
pub fn hash(pin: &str) -> Result<String, String> {
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
        assert!(verify(&Secret::new("2468"), "2468"));
        assert!(!verify(&Secret::new("2468"), "2469"));
        let h = hash("8642").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(&Secret::new(h.clone()), "8642"));
        assert!(!verify(&Secret::new(h), "8643"));
    }
}
