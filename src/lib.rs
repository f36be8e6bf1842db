//! mercure-setup: renders a correct Mercure-hub-behind-nginx deployment for a Symfony
//! app, and proves it with the real programs.
//!
//! Data flows one way: answers (file, `--set`, wizard) -> validated `Answers` ->
//! `Plan` -> `Bundle` (files in memory) -> written or checked. Randomness, the clock
//! and file writes stay in `secrets`, `pki`, `host` and `output`.

pub mod alerts;
pub mod answers;
pub mod answers_file;
pub mod apply;
pub mod bearer;
pub mod bundle;
pub mod bundle_dir;
pub mod check;
pub mod cli;
pub mod cmd;
pub mod deployment;
pub mod diagnosis;
pub mod doctor;
pub mod error;
pub mod formats;
pub mod generate;
pub mod host;
pub mod install_plan;
pub mod jwt;
pub mod lab;
pub mod loadtest;
pub mod net;
pub mod output;
pub mod pki;
pub mod plan;
pub mod questions;
pub mod random;
pub mod render;
pub mod schema;
pub mod secrets;
pub mod ship;
pub mod sizing;
pub mod status;
pub mod stdout;
pub mod teaching;
pub mod tls_profile;
pub mod troubleshooting;
pub mod ui;
pub mod values;
pub mod wizard;
