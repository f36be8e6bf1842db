//! `mercure-setup init`: a commented answers file with every key, its default and why.

use std::path::PathBuf;

use crate::answers::Draft;
use crate::answers_file;
use crate::deployment::Topology;
use crate::error::Error;
use crate::output;
use crate::questions::RawValue;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Topology to pre-select: same-host-http or end-to-end-tls.
    #[arg(long, value_parser = super::candidates::TopologyArg)]
    topology: Option<Topology>,
    /// Fill in a key by its dotted path, e.g. --set domain=app.example.com (lists: comma-separated).
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = super::candidates::answer_keys(), hide_possible_values = true)]
    sets: Vec<String>,
    /// Write to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The old spelling of --out, kept for one release.
    #[arg(long, value_name = "FILE", hide = true, conflicts_with = "out")]
    output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    force: bool,
}

pub fn exec(args: Args) -> Result<(), Error> {
    let Args { topology, sets, out, output, force } = args;
    if output.is_some() {
        crate::ui::deprecated("init --output", "--out");
    }
    let mut draft = Draft::default();
    if let Some(t) = topology {
        draft.set("topology", RawValue::Scalar(t.as_str().into()), None);
    }
    answers_file::apply_sets(&mut draft, &sets).map_err(Error::InvalidAnswers)?;
    // The modeline comes first: yaml-language-server reads it from the file's top.
    let header = format!(
        "{}\nmercure-setup {} answers file. Fill in `domain`, uncomment what you want to change, then:\n  \
         mercure-setup render            (in this file's folder, when it is answers.yaml)\n  \
         mercure-setup render --answers FILE BUNDLE\n\
         (Editors check this file against the schema above, which the Debian package installs;\n\
         elsewhere: mercure-setup schema > answers.schema.json, and point the first line at it.)",
        crate::schema::modeline(),
        env!("CARGO_PKG_VERSION")
    );
    let text = answers_file::write_commented(&draft, &header);
    match out.or(output) {
        Some(path) => Ok(output::write_single(&path, &text, 0o644, force)?),
        None => crate::stdout::print(&text),
    }
}
