//! The `render` and `init` commands as a user runs them.
