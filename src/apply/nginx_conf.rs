//! The smallest edit to the main `nginx.conf` that gives nginx the connection limits
//! the bundle was sized for: raise the existing `worker_connections` inside the one
//! `events` block and add (or raise) `worker_rlimit_nofile` in the main context.
//! Every other line is kept byte for byte; a limit already high enough is left alone.

use crate::formats::{NginxDirective, parse_nginx};
use crate::install_plan::actions::Limits;

/// Why `nginx.conf` cannot be edited safely (the admin changes it by hand).
#[derive(Debug, thiserror::Error)]
pub enum NginxConfError {
    #[error("nginx.conf does not parse: {0}")]
    Unparsable(#[source] crate::formats::FormatError),
    #[error("nginx.conf has more than one `events` block; nginx -t rejects it")]
    TwoEventsBlocks,
    #[error("nginx.conf line {line}: `{name} {value}` is not a number")]
    NotANumber { line: usize, name: String, value: String },
    #[error("nginx.conf line {line}: `{name}` takes one number")]
    NotOneNumber { line: usize, name: String },
    #[error("nginx.conf line {line}: `{name}` spans lines; change it by hand")]
    SpansLines { line: usize, name: String },
}

/// The edited text, or `None` when the file already has what the bundle needs.
pub fn edit(text: &str, limits: Limits) -> Result<Option<String>, NginxConfError> {
    let tree = parse_nginx(text).map_err(NginxConfError::Unparsable)?;
    let mut lines: Vec<String> = text.split('\n').map(String::from).collect();
    // Edits are collected first and applied from the bottom up, so line numbers stay valid.
    let mut replace: Vec<(usize, String)> = Vec::new();
    let mut insert_after: Vec<(usize, String)> = Vec::new();
    let mut append = String::new();

    let events: Vec<&NginxDirective> = tree.iter().filter(|d| d.name == "events").collect();
    match events.as_slice() {
        [] => {
            append = format!("\nevents {{\n\tworker_connections {};\n}}\n", limits.worker_connections);
        }
        [events] => {
            let block = events.block.as_deref().unwrap_or_default();
            match block.iter().find(|d| d.name == "worker_connections") {
                Some(d) => {
                    if number(d)? < limits.worker_connections {
                        replace.push((d.line, set_value(&lines[d.line - 1], d, limits.worker_connections)?));
                    }
                }
                None => {
                    let indent = block.first().map_or("\t".to_string(), |d| indent_of(&lines[d.line - 1]));
                    insert_after
                        .push((events.line, format!("{indent}worker_connections {};", limits.worker_connections)));
                }
            }
        }
        _ => return Err(NginxConfError::TwoEventsBlocks),
    }

    match tree.iter().find(|d| d.name == "worker_rlimit_nofile") {
        Some(d) => {
            if number(d)? < limits.worker_rlimit_nofile {
                replace.push((d.line, set_value(&lines[d.line - 1], d, limits.worker_rlimit_nofile)?));
            }
        }
        None => {
            // Next to worker_processes, where readers look for process limits; else first.
            let line = format!("worker_rlimit_nofile {};", limits.worker_rlimit_nofile);
            match tree.iter().find(|d| d.name == "worker_processes") {
                Some(d) => insert_after.push((d.line, line)),
                None => insert_after.push((0, line)),
            }
        }
    }

    if replace.is_empty() && insert_after.is_empty() && append.is_empty() {
        return Ok(None);
    }
    for (line, new) in replace {
        lines[line - 1] = new;
    }
    insert_after.sort_by_key(|e| std::cmp::Reverse(e.0));
    for (after, new) in insert_after {
        lines.insert(after, new);
    }
    let mut out = lines.join("\n");
    if !append.is_empty() {
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&append);
    }
    Ok(Some(out))
}

fn number(d: &NginxDirective) -> Result<u32, NginxConfError> {
    match d.args.as_slice() {
        [v] => {
            v.parse().map_err(|_| NginxConfError::NotANumber { line: d.line, name: d.name.clone(), value: v.clone() })
        }
        _ => Err(NginxConfError::NotOneNumber { line: d.line, name: d.name.clone() }),
    }
}

/// `line` with the directive's one number replaced by `value`, comments and spacing kept.
fn set_value(line: &str, d: &NginxDirective, value: u32) -> Result<String, NginxConfError> {
    let old = &d.args[0];
    let start = line
        .find(d.name.as_str())
        .and_then(|at| line[at + d.name.len()..].find(old.as_str()).map(|i| at + d.name.len() + i))
        .ok_or_else(|| NginxConfError::SpansLines { line: d.line, name: d.name.clone() })?;
    Ok(format!("{}{value}{}", &line[..start], &line[start + old.len()..]))
}

fn indent_of(line: &str) -> String {
    line.chars().take_while(|c| c.is_whitespace()).collect()
}

/// A unified diff of `old` -> `new` for the plan, labelled with the file's path.
pub fn diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(1).header(path, path).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str = "user www-data;\nworker_processes auto;\npid /run/nginx.pid;\n\
        include /etc/nginx/modules-enabled/*.conf;\n\nevents {\n\tworker_connections 768;\n\t# multi_accept on;\n}\n\n\
        http {\n\tsendfile on;\n}\n";
    const LIMITS: Limits = Limits { worker_connections: 3072, worker_rlimit_nofile: 6144 };

    #[test]
    fn debian_file_gets_two_line_changes() {
        let new = edit(DEBIAN, LIMITS).unwrap().unwrap();
        assert_eq!(
            new,
            "user www-data;\nworker_processes auto;\nworker_rlimit_nofile 6144;\npid /run/nginx.pid;\n\
             include /etc/nginx/modules-enabled/*.conf;\n\nevents {\n\tworker_connections 3072;\n\t# multi_accept on;\n}\n\n\
             http {\n\tsendfile on;\n}\n"
        );
        assert_eq!(new.matches("events").count(), 1);
        // Applying again changes nothing.
        assert_eq!(edit(&new, LIMITS).unwrap(), None);
        let d = diff("/etc/nginx/nginx.conf", DEBIAN, &new);
        assert!(d.contains("-\tworker_connections 768;\n+\tworker_connections 3072;"), "{d}");
        assert!(d.contains("+worker_rlimit_nofile 6144;"), "{d}");
    }

    #[test]
    fn higher_limits_are_kept() {
        let text = "worker_rlimit_nofile 100000;\nevents { worker_connections 50000; }\n";
        assert_eq!(edit(text, LIMITS).unwrap(), None);
    }

    #[test]
    fn missing_pieces_are_added_once() {
        let new = edit("events {\n}\nhttp {}\n", LIMITS).unwrap().unwrap();
        assert_eq!(new, "worker_rlimit_nofile 6144;\nevents {\n\tworker_connections 3072;\n}\nhttp {}\n");
        let new = edit("http {}\n", LIMITS).unwrap().unwrap();
        assert!(new.ends_with("http {}\n\nevents {\n\tworker_connections 3072;\n}\n"), "{new}");
        assert_eq!(edit(&new, LIMITS).unwrap(), None);
    }

    #[test]
    fn comments_and_same_line_text_survive() {
        let text = "events { worker_connections 512; } # keep\n";
        let new = edit(text, LIMITS).unwrap().unwrap();
        assert!(new.ends_with("events { worker_connections 3072; } # keep\n"), "{new}");
    }

    #[test]
    fn refusals() {
        assert!(edit("events {}\nevents {}\n", LIMITS).unwrap_err().to_string().contains("more than one"));
        assert!(edit("events { worker_connections x; }\n", LIMITS).is_err());
        assert!(edit("events {", LIMITS).is_err());
    }
}
