//! The one integration-test binary (so the suite links once). Each module covers
//! one area; `support` holds what they share.
//!
//! Two tiers: `cargo test` runs every test that needs no external program; `cargo
//! test --features real-stack` adds the modules below that run the real programs
//! (nginx, the Mercure hub, Caddy, PHP, systemd-analyze, openssl, tmux...), which
//! fail, never skip, when one is missing (`.ci/install-deps` installs them).

// A test's helpers fail the test by panicking, which is what unwrap does.
#![allow(clippy::unwrap_used)]

mod support;

mod architecture;

#[cfg(feature = "real-stack")]
mod admin_socket;
#[cfg(feature = "real-stack")]
mod apply;
#[cfg(feature = "real-stack")]
mod apply_attacks;
#[cfg(feature = "real-stack")]
mod check;
#[cfg(feature = "real-stack")]
mod check_lint;
mod cli_render;
mod cli_render_concurrency;
mod cli_shape;
#[cfg(feature = "real-stack")]
mod crash;
#[cfg(feature = "real-stack")]
mod doctor;
#[cfg(feature = "real-stack")]
mod e2e;
mod explain;
#[cfg(feature = "real-stack")]
mod faults;
mod hostile;
#[cfg(feature = "real-stack")]
mod hub;
#[cfg(feature = "real-stack")]
mod hub10;
#[cfg(feature = "real-stack")]
mod hub_migration;
mod keys;
#[cfg(feature = "real-stack")]
mod lab;
#[cfg(feature = "real-stack")]
mod loadtest;
#[cfg(feature = "real-stack")]
mod loadtest_report;
#[cfg(feature = "real-stack")]
mod newcomer;
#[cfg(feature = "real-stack")]
mod package;
#[cfg(feature = "real-stack")]
mod properties;
#[cfg(feature = "real-stack")]
mod public_tls;
#[cfg(feature = "real-stack")]
mod real_tools;
#[cfg(feature = "real-stack")]
mod schema;
#[cfg(feature = "real-stack")]
mod shipping;
mod snapshots;
#[cfg(feature = "real-stack")]
mod symfony_bundle;
#[cfg(feature = "vps")]
mod vps;
mod wizard;
mod wizard_screens;
#[cfg(feature = "real-stack")]
mod wizard_tmux;
