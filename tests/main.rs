//! The one integration-test binary (so the suite links once). Each module covers
//! one area; `support` holds what they share.

// A test's helpers fail the test by panicking, which is what unwrap does.
#![allow(clippy::unwrap_used)]

mod support;

mod check;
mod cli_render;
mod cli_render_concurrency;
mod doctor;
mod e2e;
mod explain;
mod faults;
mod loadtest;
mod real_tools;
mod snapshots;
mod wizard;
mod wizard_screens;
mod wizard_tmux;
