//! `mercure-setup schema`: the answers file's JSON Schema.

use crate::error::Error;

pub fn exec() -> Result<(), Error> {
    crate::stdout::print(&crate::schema::schema_text())
}
