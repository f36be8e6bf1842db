//! The interactive wizard: the questions of `questions::QUESTIONS`, one step
//! per screen, with a live preview of the bundle and teaching text, ending in the
//! same writer `render` uses. Run on a folder that holds a bundle, it edits that
//! bundle's answers and warns before changes that affect the deployment.
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

pub use edge::{NO_TTY, folder_state, perform, preview_env, start};
pub use keys::msg_for_key;
pub use preview::{HIDDEN, Mark, PLACEHOLDER_DOMAIN, Preview, PreviewEnv, PreviewFile, Row};
pub use state::{Effect, Init, Msg, Overlay, Review, ReviewData, ReviewState, RunState, Wizard, WriteFailure, update};
pub use terminal::{Options, run};
pub use view::view;
