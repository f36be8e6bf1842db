//! `mercure-setup explain [TOPIC|SYMPTOM]`: the teaching text, or the troubleshooting
//! rows a symptom finds.

use crate::error::Error;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// same-host-http, end-to-end-tls or troubleshooting, or a symptom (502, 504, 401, late, 60s, cors,
    /// alert 80); an overview without one.
    #[arg(value_name = "TOPIC|SYMPTOM", value_parser = super::candidates::explain_topics(), hide_possible_values = true)]
    topic: Vec<String>,
}

/// Bold headings when stdout may carry colour (`--color`, a terminal, `NO_COLOR`).
pub fn exec(args: &Args) -> Result<(), Error> {
    let styled = crate::ui::color(false);
    crate::stdout::print(&crate::teaching::explain_words(&args.topic, styled)?)
}
