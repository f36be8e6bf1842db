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

/// Writes a report meant for people: nothing with `-q`, coloured when stdout may be
/// (failures red, diffs green and red). Results asked for (JSON, generated files) go
/// through [`print`] instead.
pub fn print_report(text: &str) -> Result<(), Error> {
    if crate::ui::quiet() {
        return Ok(());
    }
    print(&crate::ui::paint(text, crate::ui::color(false)))
}
