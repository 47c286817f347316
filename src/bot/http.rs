//! HTTP callback mode (§11 F of the API notes): Feishu posts each callback to
//! `{public_url}/feishu/callback`, the body AES-256-CBC under the app's Encrypt Key (key =
//! SHA-256 of it, the IV the first 16 bytes), signed with SHA-256 over timestamp, nonce, key and
//! body. A body is opened only when its signature is right and its timestamp recent (a replay
//! is refused), and acted on only when it carries the Verification Token.

use aes::cipher::{
    BlockDecryptMut as _, BlockEncryptMut as _, KeyIvInit as _, block_padding::Pkcs7,
};
use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// How far a callback's timestamp may be from our clock.
pub const WINDOW_SECS: i64 = 300;

/// Why a callback was not opened.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the signature does not match")]
    Signature,
    #[error("the timestamp is missing or more than five minutes away (a replay?)")]
    Stale,
    #[error("the body cannot be decrypted")]
    Undecryptable,
    #[error("the verification token does not match")]
    Token,
}

/// The signature Feishu sends in `X-Lark-Signature`: lowercase hex SHA-256 of timestamp,
/// nonce, Encrypt Key and the raw body.
pub fn signature(timestamp: &str, nonce: &str, encrypt_key: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(timestamp.as_bytes());
    h.update(nonce.as_bytes());
    h.update(encrypt_key.as_bytes());
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks a callback's signature and timestamp against `now` (seconds).
pub fn check(
    timestamp: Option<&str>,
    nonce: Option<&str>,
    given: Option<&str>,
    encrypt_key: &str,
    body: &[u8],
    now: i64,
) -> Result<(), Refused> {
    let (Some(ts), Some(nonce), Some(given)) = (timestamp, nonce, given) else {
        return Err(Refused::Signature);
    };
    let want = signature(ts, nonce, encrypt_key, body);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        want.as_bytes(),
        given.trim().as_bytes(),
    )) {
        return Err(Refused::Signature);
    }
    let at: i64 = ts.trim().parse().map_err(|_| Refused::Stale)?;
    if (now - at).abs() > WINDOW_SECS {
        return Err(Refused::Stale);
    }
    Ok(())
}

fn key(encrypt_key: &str) -> [u8; 32] {
    Sha256::digest(encrypt_key.as_bytes()).into()
}

/// The `encrypt` field opened: the callback's JSON text.
pub fn decrypt(encrypt_key: &str, encrypted: &str) -> Result<Vec<u8>, Refused> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encrypted.trim())
        .map_err(|_| Refused::Undecryptable)?;
    if bytes.len() < 32 || bytes.len() % 16 != 0 {
        return Err(Refused::Undecryptable);
    }
    let (iv, data) = bytes.split_at(16);
    cbc::Decryptor::<aes::Aes256>::new(&key(encrypt_key).into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(data)
        .map_err(|_| Refused::Undecryptable)
}

/// As Feishu encrypts a callback (the simulated Feishu's sender uses it): base64 of the IV
/// and the AES-256-CBC ciphertext.
pub fn encrypt(encrypt_key: &str, iv: [u8; 16], plain: &[u8]) -> String {
    let data = cbc::Encryptor::<aes::Aes256>::new(&key(encrypt_key).into(), &iv.into())
        .encrypt_padded_vec_mut::<Pkcs7>(plain);
    let mut out = iv.to_vec();
    out.extend(data);
    base64::engine::general_purpose::STANDARD.encode(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_callback_opens_only_with_the_right_key_a_right_signature_and_a_recent_time() {
        let key = "kEy-123";
        let body = br#"{"encrypt":"x"}"#;
        let sig = signature("1700000000", "n1", key, body);
        assert_eq!(
            check(
                Some("1700000000"),
                Some("n1"),
                Some(&sig),
                key,
                body,
                1_700_000_100
            ),
            Ok(())
        );
        assert_eq!(
            check(
                Some("1700000000"),
                Some("n1"),
                Some(&sig),
                "other",
                body,
                1_700_000_100
            ),
            Err(Refused::Signature)
        );
        assert_eq!(
            check(
                Some("1700000000"),
                Some("n2"),
                Some(&sig),
                key,
                body,
                1_700_000_100
            ),
            Err(Refused::Signature)
        );
        assert_eq!(
            check(
                Some("1700000000"),
                Some("n1"),
                Some(&sig),
                key,
                body,
                1_700_001_000
            ),
            Err(Refused::Stale)
        );
        assert_eq!(
            check(None, Some("n1"), Some(&sig), key, body, 1_700_000_000),
            Err(Refused::Signature)
        );
        let sealed = encrypt(key, [7; 16], b"{\"challenge\":\"c\"}");
        assert_eq!(decrypt(key, &sealed).unwrap(), b"{\"challenge\":\"c\"}");
        assert_eq!(decrypt("wrong", &sealed), Err(Refused::Undecryptable));
        assert_eq!(decrypt(key, "not base64!"), Err(Refused::Undecryptable));
    }
}
