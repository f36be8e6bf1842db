//! The interactive wizard (issue 3): the questions of `questions::QUESTIONS`, one step
//! per screen, with a live preview of the bundle and teaching text, ending in the
//! same writer `render` uses.
//!
//! Elm-style, as in `architecture.md`: [`Wizard`] is plain state, [`msg_for_key`]
//! maps keys to messages, [`update`] is pure and returns side effects as
//! [`Effect`] values, [`view`] only draws, and [`perform`] (files) and [`run`]
//! (the terminal) are the edges. Validation goes through `answers`, rendering
//! through `generate`/`render`, writing through `output`: none of it lives here.

mod edge;
mod keys;
mod preview;
mod state;
mod terminal;
mod view;

pub use edge::{perform, preview_env};
pub use keys::msg_for_key;
pub use preview::{HIDDEN, PLACEHOLDER_DOMAIN, Preview, PreviewEnv, PreviewFile};
pub use state::{Effect, Init, Msg, Overlay, Pane, Review, ReviewData, ReviewState, Status, Wizard, update};
pub use terminal::{NO_TTY, Options, run};
pub use view::view;
