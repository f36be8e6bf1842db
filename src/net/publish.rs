//! Publishing a Mercure update: the form body and the nonces that make topics and
//! updates unique.

use std::fmt::Write as _;

use super::form_encode;

/// The `application/x-www-form-urlencoded` body of a Mercure publish: `topic` and `data`.
pub fn publish_form(topic: &str, data: &str) -> Vec<u8> {
    format!("topic={}&data={}", form_encode(topic), form_encode(data)).into_bytes()
}

/// `bytes` random bytes as lowercase hex (topic and update nonces).
pub fn nonce_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    let _ = getrandom::fill(&mut b);
    b.iter().fold(String::with_capacity(bytes * 2), |mut s, x| {
        let _ = write!(s, "{x:02x}");
        s
    })
}
