//! `mercure-setup lab`: run one topology on loopback and break it on purpose, one
//! fault at a time; prints what was seen, doctor's row and the fix (a table or JSON).

use std::fmt::Write as _;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::deployment::Topology;
use crate::error::Error;
use crate::lab::LabError;
use crate::lab::faults::{CLOCK_SCALE, FAULTS, Fault, LAB_HEARTBEAT_MS};
use crate::lab::scenario::{Lab, Outcome};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The topology to run: same-host-http or end-to-end-tls.
    #[arg(value_name = "TOPOLOGY", value_parser = super::candidates::TopologyArg, required_unless_present = "list_faults")]
    pub topology: Option<Topology>,
    /// Run this fault and print the result (`none`: the generated config; `all`: none and
    /// every fault). Without it, on a terminal, the lab opens its screen; elsewhere it runs `all`.
    #[arg(long, value_name = "NAME")]
    pub fault: Option<String>,
    /// List the faults and exit.
    #[arg(long)]
    pub list_faults: bool,
    /// The Mercure hub binary (default: `mercure` on PATH).
    #[arg(long, value_name = "FILE")]
    pub hub_binary: Option<PathBuf>,
    /// Print a JSON array, one object per scenario.
    #[arg(long)]
    pub json: bool,
}

pub fn exec(args: &Args) -> Result<(), Error> {
    if args.list_faults {
        return crate::stdout::print(&list_faults());
    }
    let Some(topology) = args.topology else {
        return Err(LabError::NoTopology.into());
    };
    let screen = args.fault.is_none() && !args.json && std::io::stdout().is_terminal();
    let faults = select(args.fault.as_deref().unwrap_or("all"), topology)?;
    let programs = crate::lab::find_programs(args.hub_binary.as_deref())?;
    if screen {
        return crate::lab::screen::terminal::run_screen(&programs, topology);
    }
    // Ctrl-C or SIGTERM ends the run after the current scenario, so the servers are
    // killed and the temporary folder removed on the way out (a default exit would skip both).
    let stop = crate::ui::watch_signals()?;
    let mut lab = Lab::start(programs, topology)?;
    let mut outcomes = Vec::new();
    for fault in faults {
        if stop.load(Ordering::Relaxed) {
            drop(lab);
            return Err(LabError::Interrupted.into());
        }
        if !args.json {
            eprintln!("lab: {} ...", fault.map_or("none", |f| f.name));
        }
        outcomes.push(lab.run(fault)?);
    }
    drop(lab);
    let text = if args.json {
        format!("{}\n", serde_json::to_string_pretty(&outcomes).unwrap_or_default())
    } else {
        table(topology, &outcomes)
    };
    crate::stdout::print(&text)
}

/// The scenarios `--fault NAME` asks for: `none` is the generated config.
fn select(name: &str, topology: Topology) -> Result<Vec<Option<&'static Fault>>, LabError> {
    match name {
        "all" => Ok(std::iter::once(None).chain(FAULTS.iter().filter(|f| f.applies_to(topology)).map(Some)).collect()),
        "none" => Ok(vec![None]),
        _ => match Fault::named(name) {
            Some(f) if f.applies_to(topology) => Ok(vec![Some(f)]),
            Some(_) => Err(LabError::OtherTopology { name: name.into() }),
            None => Err(LabError::NoSuchFault { name: name.into() }),
        },
    }
}

fn list_faults() -> String {
    let mut s = String::from("none                (the bundle as generated)\n");
    for f in FAULTS {
        let only = f.topology.map(|t| format!(" [{} only]", t.as_str())).unwrap_or_default();
        let _ =
            writeln!(s, "{:<19} {}{only}\n{:<19} wrong: {}\n{:<19} fix:   {}", f.name, f.title, "", f.wrong, "", f.fix);
    }
    let _ = writeln!(
        s,
        "\nTime runs {CLOCK_SCALE}x faster in the lab: the heartbeat is {} ms (40s), nginx's 60s read timeout {} ms.",
        LAB_HEARTBEAT_MS,
        crate::lab::faults::READ_TIMEOUT_MS
    );
    s
}

fn ms(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

fn table(topology: Topology, outcomes: &[Outcome]) -> String {
    let mut s = format!(
        "mercure-setup lab: {} (clock {CLOCK_SCALE}x faster: heartbeat and timeouts divided by {CLOCK_SCALE})\n\n",
        topology.as_str()
    );
    let _ = writeln!(s, "{:<19} {:<9} {:<7} fix", "fault", "symptom", "doctor");
    for o in outcomes {
        let row = o.doctor_row.map_or_else(|| "-".into(), |r| format!("#{r}"));
        let _ = writeln!(s, "{:<19} {:<9} {:<7} {}", o.fault, o.symptom, row, o.fix);
        let _ = writeln!(s, "{:<19} seen: {}", "", o.seen);
        let times: Vec<String> = o
            .updates
            .iter()
            .map(|u| {
                let lag = |at: Option<u64>| ms(at.map(|a| a.saturating_sub(u.published)));
                format!("nginx {} / hub {} ms", lag(u.via_nginx), lag(u.straight_from_hub))
            })
            .collect();
        let _ = writeln!(s, "{:<19} updates: {}", "", times.join(", "));
    }
    s.push_str("\nRows: `mercure-setup explain troubleshooting`.\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{EXIT_FAILURE, EXIT_USAGE};

    #[test]
    fn what_the_user_named_wrong_is_a_usage_error() {
        let e = Error::from(select("nope", Topology::SameHostHttp).err().unwrap());
        assert_eq!((e.exit_code(), e.to_string().as_str()), (EXIT_USAGE, NO_SUCH));
        let only = FAULTS.iter().find(|f| f.topology.is_some()).unwrap();
        let other = Topology::ALL.into_iter().find(|t| Some(*t) != only.topology).unwrap();
        let e = Error::from(select(only.name, other).err().unwrap());
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert!(e.to_string().ends_with(": only for the other topology (see --list-faults)"), "{e}");
        let e = Error::from(LabError::NoTopology);
        assert_eq!(e.to_string(), "lab: name a topology: same-host-http or end-to-end-tls");
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert_eq!(Error::from(LabError::Interrupted).exit_code(), EXIT_FAILURE);
    }

    const NO_SUCH: &str = "--fault nope: no such fault; `lab --list-faults` names them";
}
