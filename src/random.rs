//! Bytes from the operating system's random source, through ring (which the TLS stack
//! already brings), for secrets, certificate serials and probe nonces.

use ring::rand::{SecureRandom as _, SystemRandom};

/// Fills `buf` with random bytes, or says the OS source failed.
pub fn fill(buf: &mut [u8]) -> Result<(), String> {
    SystemRandom::new().fill(buf).map_err(|_| "the OS random source failed".to_string())
}
