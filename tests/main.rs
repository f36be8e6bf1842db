//! The one integration-test binary (so the suite links once). Each module covers
//! one area; `support` holds what they share.

mod support;

mod cli_render;
mod snapshots;
