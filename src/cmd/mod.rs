//! The subcommands, one module each, as cargo keeps `src/bin/cargo/commands/`: each
//! owns its clap `Args` and an `exec` that turns them into the library's options and
//! calls it. Nothing below this layer imports a command; `cli` parses and dispatches.

pub mod apply;
pub mod candidates;
pub mod check;
pub mod completions;
pub mod doctor;
pub mod explain;
pub mod init;
pub mod lab;
pub mod loadtest;
pub mod man;
pub mod render;
pub mod schema;
pub mod wizard;
