//! The answers file's JSON Schema, generated from the question table.
pub fn schema_text() -> String {
    String::new()
}
