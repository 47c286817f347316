//! The console's secrets in the small: random tokens, what the database keeps of one (its
//! SHA-256), and comparing two in constant time.

use base64::Engine as _;
use sha2::Digest as _;
use subtle::ConstantTimeEq as _;

/// 32 random bytes from the operating system, base64url: session ids, CSRF tokens, links.
pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a secret the browser holds.
pub(super) fn digest(secret: &str) -> String {
    let hash = sha2::Sha256::digest(secret.as_bytes());
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal, compared in constant time (their SHA-256s, so not even the length shows).
pub(super) fn same(a: &str, b: &str) -> bool {
    let (a, b) = (
        sha2::Sha256::digest(a.as_bytes()),
        sha2::Sha256::digest(b.as_bytes()),
    );
    bool::from(a[..].ct_eq(&b[..]))
}
