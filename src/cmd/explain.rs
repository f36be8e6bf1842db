//! `mercure-setup explain [TOPIC|SYMPTOM]`: the teaching text, or the troubleshooting
//! rows a symptom finds.

use crate::error::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// same-host-http, end-to-end-tls or troubleshooting, or a symptom (502, 504, 401, late, 60s, cors,
    /// alert 80); an overview without one.
    #[arg(value_name = "TOPIC|SYMPTOM")]
    topic: Vec<String>,
}

/// Bold headings only on a terminal without `NO_COLOR`.
pub fn exec(args: &Args) -> Result<(), Error> {
    use std::io::IsTerminal as _;
    let styled = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    crate::stdout::print(&crate::teaching::explain_words(&args.topic, styled).map_err(Error::Usage)?)
}
