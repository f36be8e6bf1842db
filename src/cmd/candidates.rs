//! Value parsers that also tell the completion scripts what to offer: the `explain`
//! topics and symptoms, the topologies, and the answer keys `--set` takes. Parsing
//! stays with the owner of each value (`Topology::parse`, `--set`'s own checks).

use clap::builder::{PossibleValue, TypedValueParser};

use crate::deployment::Topology;

/// Symptoms `explain` finds rows for, offered after the topics.
const SYMPTOMS: [&str; 6] = ["502", "504", "401", "late", "60s", "cors"];

/// Any word, with these offered to the shell; `--help` keeps its own wording.
#[derive(Clone)]
pub struct Offered(fn() -> Vec<&'static str>);

impl TypedValueParser for Offered {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        clap::builder::StringValueParser::new().parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new((self.0)().into_iter().map(PossibleValue::new)))
    }
}

/// `explain`'s topics, then the symptoms it looks up.
pub fn explain_topics() -> Offered {
    Offered(|| crate::teaching::Topic::all().map(crate::teaching::Topic::as_str).chain(SYMPTOMS).collect())
}

/// Every answer key, for `--set KEY=VALUE` (the shell completes the key; `=` and the
/// value are typed).
pub fn answer_keys() -> Offered {
    Offered(|| crate::questions::QUESTIONS.iter().map(|q| q.key).collect())
}

/// A topology by name, the names offered.
#[derive(Clone)]
pub struct TopologyArg;

impl TypedValueParser for TopologyArg {
    type Value = Topology;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<Topology, clap::Error> {
        // The same parser and message as a plain `value_parser = Topology::parse`.
        TypedValueParser::parse_ref(&Topology::parse, cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        Some(Box::new(Topology::ALL.into_iter().map(|t| PossibleValue::new(t.as_str()))))
    }
}
