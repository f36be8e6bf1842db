//! `mercure-setup wizard` (and `mercure-setup` alone): the terminal wizard, then what
//! it wrote.

use std::path::PathBuf;

use crate::error::Error;

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Edit this answers file (saving only the answers asks before replacing it).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// The bundle folder [default: mercure-bundle]; a bundle already there is edited:
    /// its answers.yaml is loaded, and the review warns about changes to the deployment.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

pub fn exec(args: Args) -> Result<(), Error> {
    wizard(args.answers, args.out)
}

/// `wizard` (and no command): runs the terminal wizard, then prints what it wrote.
fn wizard(answers: Option<PathBuf>, out: Option<PathBuf>) -> Result<(), Error> {
    match crate::wizard::run(crate::wizard::Options { answers, out })? {
        Some(text) => crate::stdout::print_report(&text),
        None => Ok(()),
    }
}
