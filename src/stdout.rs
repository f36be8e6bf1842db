//! Standard output for every command: each text is written and flushed at once (a
//! probe shows as soon as it completes), a closed pipe (`| head`) ends output quietly,
//! and any other write failure is an error the command reports.

use std::io::Write as _;

use crate::error::Error;

/// Writes `text` to stdout and flushes it.
pub fn print(text: &str) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Failed(format!("writing to stdout: {e}"))),
        _ => Ok(()),
    }
}
