//! Bytes from the operating system's random source, through ring (which the TLS stack
//! already brings), for secrets, certificate serials and probe nonces.

use ring::rand::{SecureRandom as _, SystemRandom};

/// The OS random source gave no bytes (ring says no more).
#[derive(Debug, thiserror::Error)]
#[error("the OS random source failed")]
pub struct RandomError;

/// Fills `buf` with random bytes, or says the OS source failed.
pub fn fill(buf: &mut [u8]) -> Result<(), RandomError> {
    SystemRandom::new().fill(buf).map_err(|_| RandomError)
}
