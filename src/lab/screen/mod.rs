//! The lab's screen (ratatui), as the wizard is built: a pure state machine
//! (`state`), a pure drawing of it (`view`), and the edge that owns the terminal and
//! the running lab (`terminal`).

pub mod state;
pub mod terminal;
pub mod view;
