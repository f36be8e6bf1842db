//! `mercure-setup explain [TOPIC]`: the teaching text.

use crate::error::Error;
use crate::teaching::Topic;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// same-host-http, end-to-end-tls or troubleshooting; an overview without one.
    #[arg(value_name = "TOPIC", value_parser = Topic::parse)]
    topic: Option<Topic>,
}

pub fn exec(args: &Args) -> Result<(), Error> {
    explain(args.topic)
}

/// `explain`: the teaching text, with bold headings only on a terminal without `NO_COLOR`.
fn explain(topic: Option<Topic>) -> Result<(), Error> {
    use std::io::IsTerminal as _;
    let styled = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    crate::stdout::print(&crate::teaching::explain(topic, styled))
}
