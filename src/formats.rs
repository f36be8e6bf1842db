//! Small parsers for the three text formats a bundle holds, as `check`, `doctor` and
//! `apply` read them back: nginx configuration, the Caddyfile and env files.

use std::collections::BTreeMap;

/// Where a bundle file stops parsing (shown in findings, after the file's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("line {line}: no `=`")]
    NoEquals { line: usize },
    #[error("line {line}: unterminated quoted value")]
    UnterminatedValue { line: usize },
    #[error("line {line}: unterminated quote")]
    UnterminatedQuote { line: usize },
    #[error("line {line}: unexpected `}}`")]
    UnexpectedClose { line: usize },
    #[error("line {line}: `{name}` is not terminated by `;`")]
    Unterminated { line: usize, name: String },
    #[error("stray `;` or `{{`")]
    Stray,
    #[error("unbalanced `{{`: missing `}}` at the end")]
    Unbalanced,
    #[error("line {line}: block is never closed")]
    NeverClosed { line: usize },
}

/// Parses an env file as systemd `EnvironmentFile=` and Symfony Dotenv read the
/// subset mercure-setup writes: `KEY=bare` or `KEY="quoted"` (may span lines,
/// with `\\`, `\"`, `\$` and `` \` `` escapes), `#` comment lines.
pub fn parse_env(text: &str) -> Result<BTreeMap<String, String>, FormatError> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, value) = trimmed.split_once('=').ok_or(FormatError::NoEquals { line: n + 1 })?;
        let key = key.trim().to_string();
        let Some(quoted) = value.strip_prefix('"') else {
            out.insert(key, value.trim().to_string());
            continue;
        };
        // A quoted value runs to the first unescaped `"`, possibly on a later line.
        let mut raw = quoted.to_string();
        let value = loop {
            if let Some(v) = take_quoted(&raw) {
                break v;
            }
            let (_, next) = lines.next().ok_or(FormatError::UnterminatedValue { line: n + 1 })?;
            raw.push('\n');
            raw.push_str(next);
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// The unescaped content of `raw` up to its closing quote, if it has one.
fn take_quoted(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return Some(out),
            c => out.push(c),
        }
    }
    None
}

/// One nginx directive: `name args...;` or `name args... { block }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxDirective {
    pub name: String,
    pub args: Vec<String>,
    /// 1-based line of the directive name.
    pub line: usize,
    pub block: Option<Vec<NginxDirective>>,
}

#[derive(Debug, PartialEq)]
enum NginxToken {
    Word(String, usize),
    Semicolon,
    Open,
    Close(usize),
}

fn nginx_tokens(text: &str) -> Result<Vec<NginxToken>, FormatError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while let Some(&c) = chars.peek() {
        match c {
            '\n' => {
                line += 1;
                chars.next();
            }
            c if c.is_whitespace() => {
                chars.next();
            }
            '#' => {
                while chars.peek().is_some_and(|&c| c != '\n') {
                    chars.next();
                }
            }
            ';' => {
                chars.next();
                tokens.push(NginxToken::Semicolon);
            }
            '{' => {
                chars.next();
                tokens.push(NginxToken::Open);
            }
            '}' => {
                chars.next();
                tokens.push(NginxToken::Close(line));
            }
            '"' | '\'' => {
                let start = line;
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        None => return Err(FormatError::UnterminatedQuote { line: start }),
                        Some('\\') => {
                            if let Some(n) = chars.next() {
                                word.push('\\');
                                word.push(n);
                            }
                        }
                        Some(q) if q == c => break,
                        Some(ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            word.push(ch);
                        }
                    }
                }
                tokens.push(NginxToken::Word(word, start));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || matches!(ch, ';' | '{' | '}') {
                        break;
                    }
                    word.push(ch);
                    chars.next();
                }
                tokens.push(NginxToken::Word(word, line));
            }
        }
    }
    Ok(tokens)
}

/// Parses nginx configuration text into its directive tree.
pub fn parse_nginx(text: &str) -> Result<Vec<NginxDirective>, FormatError> {
    let tokens = nginx_tokens(text)?;
    let mut pos = 0;
    let out = nginx_block(&tokens, &mut pos, false)?;
    Ok(out)
}

fn nginx_block(tokens: &[NginxToken], pos: &mut usize, nested: bool) -> Result<Vec<NginxDirective>, FormatError> {
    let mut out = Vec::new();
    while *pos < tokens.len() {
        match &tokens[*pos] {
            NginxToken::Close(line) => {
                *pos += 1;
                return if nested { Ok(out) } else { Err(FormatError::UnexpectedClose { line: *line }) };
            }
            NginxToken::Word(name, line) => {
                let (name, line) = (name.clone(), *line);
                let mut args = Vec::new();
                *pos += 1;
                loop {
                    match tokens.get(*pos) {
                        Some(NginxToken::Word(w, _)) => {
                            args.push(w.clone());
                            *pos += 1;
                        }
                        Some(NginxToken::Semicolon) => {
                            *pos += 1;
                            out.push(NginxDirective { name, args, line, block: None });
                            break;
                        }
                        Some(NginxToken::Open) => {
                            *pos += 1;
                            let block = nginx_block(tokens, pos, true)?;
                            out.push(NginxDirective { name, args, line, block: Some(block) });
                            break;
                        }
                        _ => return Err(FormatError::Unterminated { line, name }),
                    }
                }
            }
            NginxToken::Semicolon | NginxToken::Open => return Err(FormatError::Stray),
        }
    }
    if nested { Err(FormatError::Unbalanced) } else { Ok(out) }
}

/// Every directive named `name` anywhere below `tree` (depth first, in file order).
pub fn nginx_find<'a>(tree: &'a [NginxDirective], name: &str) -> Vec<&'a NginxDirective> {
    let mut out = Vec::new();
    for d in tree {
        if d.name == name {
            out.push(d);
        }
        if let Some(block) = &d.block {
            out.extend(nginx_find(block, name));
        }
    }
    out
}

/// The `location ^~ /.well-known/mercure` block, if the site has one.
pub fn nginx_mercure_location(tree: &[NginxDirective]) -> Option<&NginxDirective> {
    nginx_find(tree, "location")
        .into_iter()
        .find(|d| d.args.last().is_some_and(|a| a.starts_with("/.well-known/mercure")))
}

/// The first argument of directive `name` directly inside `block`.
pub fn nginx_arg<'a>(block: &'a NginxDirective, name: &str) -> Option<&'a str> {
    block.block.as_ref()?.iter().find(|d| d.name == name).and_then(|d| d.args.first()).map(String::as_str)
}

/// The HTTPS `server` block (the one whose `listen` says `ssl`).
pub fn nginx_https_server(tree: &[NginxDirective]) -> Option<&NginxDirective> {
    nginx_find(tree, "server").into_iter().find(|s| {
        s.block.as_ref().is_some_and(|b| b.iter().any(|d| d.name == "listen" && d.args.iter().any(|a| a == "ssl")))
    })
}

/// The `server` block that holds `location`, and the location itself, for the hub
/// location (`location [^~] /.well-known/mercure`), searched in every server.
pub fn nginx_mercure_scope(tree: &[NginxDirective]) -> Option<(&NginxDirective, &NginxDirective)> {
    nginx_find(tree, "server").into_iter().find_map(|server| {
        let location = nginx_mercure_location(server.block.as_deref()?)?;
        Some((server, location))
    })
}

/// An nginx time value (`60s`, `1h`, `1h30m`, `500ms`, a bare number of seconds) in
/// milliseconds, as nginx's `ngx_parse_time` reads it.
pub fn nginx_time_ms(text: &str) -> Option<u64> {
    let mut total: u64 = 0;
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor: u64 = match &rest[..unit] {
            "ms" => 1,
            "" | "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "M" => 2_592_000_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        rest = &rest[unit..];
        total = total.checked_add(n.checked_mul(factor)?)?;
    }
    Some(total)
}

/// A Go duration (`40s`, `1m30s`, `1.5h`, `0s`), as the hub's `heartbeat` takes it, in milliseconds.
pub fn go_duration_ms(text: &str) -> Option<u64> {
    let mut total = 0.0_f64;
    let mut rest = text;
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..number].parse().ok()?;
        rest = &rest[number..];
        let unit = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let factor = match &rest[..unit] {
            "ns" => 1e-6,
            "us" | "µs" => 1e-3,
            "ms" => 1.0,
            "s" => 1e3,
            "m" => 6e4,
            "h" => 3.6e6,
            _ => return None,
        };
        rest = &rest[unit..];
        total += n * factor;
    }
    // Rounded to whole milliseconds; a heartbeat is never finer than that.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Some(total.round() as u64)
}

/// One Caddyfile line: its tokens and, when it opens one, its block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaddyEntry {
    pub tokens: Vec<String>,
    /// 1-based line number.
    pub line: usize,
    pub block: Option<Vec<CaddyEntry>>,
}

fn caddy_line_tokens(line: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '#' {
            // A `#` starting a token begins a comment (Caddyfile lexer rule).
            break;
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            while let Some(ch) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            word.push(n);
                        }
                    }
                    '"' => break,
                    ch => word.push(ch),
                }
            }
            tokens.push(word);
        } else {
            let mut word = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                word.push(ch);
                chars.next();
            }
            tokens.push(word);
        }
    }
    tokens
}

/// Parses a Caddyfile into nested entries. Blocks open with `{` at the end of a
/// line and close with `}` on its own line, which is how Caddy requires them.
pub fn parse_caddyfile(text: &str) -> Result<Vec<CaddyEntry>, FormatError> {
    let mut stack: Vec<(CaddyEntry, Vec<CaddyEntry>)> = Vec::new();
    let mut top = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let mut tokens = caddy_line_tokens(raw);
        if tokens.is_empty() {
            continue;
        }
        if tokens == ["}"] {
            let (mut entry, children) = stack.pop().ok_or(FormatError::UnexpectedClose { line })?;
            entry.block = Some(children);
            match stack.last_mut() {
                Some((_, siblings)) => siblings.push(entry),
                None => top.push(entry),
            }
            continue;
        }
        if tokens.last().is_some_and(|t| t == "{") {
            tokens.pop();
            stack.push((CaddyEntry { tokens, line, block: None }, Vec::new()));
            continue;
        }
        let entry = CaddyEntry { tokens, line, block: None };
        match stack.last_mut() {
            Some((_, siblings)) => siblings.push(entry),
            None => top.push(entry),
        }
    }
    if let Some((open, _)) = stack.last() {
        return Err(FormatError::NeverClosed { line: open.line });
    }
    Ok(top)
}

/// The hub's site: the first top-level block with an address.
pub fn caddy_site(tree: &[CaddyEntry]) -> Option<&CaddyEntry> {
    tree.iter().find(|e| !e.tokens.is_empty() && e.block.is_some())
}

/// The `mercure { }` block inside the site.
pub fn caddy_mercure(tree: &[CaddyEntry]) -> Option<&CaddyEntry> {
    caddy_site(tree)?.block.as_ref()?.iter().find(|e| e.tokens.first().is_some_and(|t| t == "mercure"))
}

/// A directive's arguments inside `entry`'s block (first match).
pub fn caddy_args<'a>(entry: &'a CaddyEntry, name: &str) -> Option<&'a [String]> {
    entry.block.as_ref()?.iter().find(|e| e.tokens.first().is_some_and(|t| t == name)).map(|e| &e.tokens[1..])
}

/// The global options block (`{ ... }` with no address), if any.
pub fn caddy_globals(tree: &[CaddyEntry]) -> Option<&CaddyEntry> {
    tree.iter().find(|e| e.tokens.is_empty() && e.block.is_some())
}

/// `scheme://host:port` split into its parts (`host` may be empty for a catch-all).
pub fn split_url(url: &str) -> Option<(String, String, Option<u16>, String)> {
    let (scheme, rest) = url.split_once("://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, String::new()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h.to_string(), Some(p.parse().ok()?)),
        _ => (authority.to_string(), None),
    };
    Some((scheme.to_ascii_lowercase(), host, port, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files() {
        let env = parse_env("# c\nA=bare\nB=\"x\ny\\$z\\\"q\"\n\nC=\n").unwrap();
        assert_eq!(env["A"], "bare");
        assert_eq!(env["B"], "x\ny$z\"q");
        assert_eq!(env["C"], "");
        assert!(parse_env("A=\"open\n").is_err());
        assert_eq!(parse_env("novalue\n"), Err(FormatError::NoEquals { line: 1 }));
        assert_eq!(parse_env("A=1\nB=\"open\n").unwrap_err().to_string(), "line 2: unterminated quoted value");
    }

    #[test]
    fn nginx_tree() {
        let text = "map $a $b {\n \"~x{1}\" \"${y}\";\n}\nserver {\n listen 443 ssl http2; # c\n server_name a.b;\n \
                    location ^~ /.well-known/mercure {\n  proxy_pass http://127.0.0.1:3000;\n }\n}\n";
        let tree = parse_nginx(text).unwrap();
        let server = nginx_https_server(&tree).unwrap();
        assert_eq!(nginx_arg(server, "server_name"), Some("a.b"));
        let loc = nginx_mercure_location(&tree).unwrap();
        assert_eq!(loc.line, 7);
        assert_eq!(nginx_arg(loc, "proxy_pass"), Some("http://127.0.0.1:3000"));
        assert!(parse_nginx("server {").is_err());
        assert!(parse_nginx("listen 80").is_err());
    }

    #[test]
    fn times_and_durations() {
        assert_eq!(nginx_time_ms("60s"), Some(60_000));
        assert_eq!(nginx_time_ms("720"), Some(720_000));
        assert_eq!(nginx_time_ms("1h30m"), Some(5_400_000));
        assert_eq!(nginx_time_ms("24h"), Some(86_400_000));
        assert_eq!(nginx_time_ms("500ms"), Some(500));
        assert_eq!(nginx_time_ms("1x"), None);
        assert_eq!(nginx_time_ms(""), None);
        assert_eq!(go_duration_ms("40s"), Some(40_000));
        assert_eq!(go_duration_ms("1m30s"), Some(90_000));
        assert_eq!(go_duration_ms("1.5h"), Some(5_400_000));
        assert_eq!(go_duration_ms("0s"), Some(0));
        assert_eq!(go_duration_ms("0"), Some(0));
        assert_eq!(go_duration_ms("40"), None);
    }

    #[test]
    fn the_hub_location_and_its_server() {
        let text = "server {\n listen 80;\n}\nserver {\n listen 443 ssl;\n location /.well-known/mercure {\n  proxy_pass http://x;\n }\n}\n";
        let tree = parse_nginx(text).unwrap();
        let (server, location) = nginx_mercure_scope(&tree).unwrap();
        assert_eq!((server.line, location.line), (4, 6));
        assert!(nginx_mercure_scope(&parse_nginx("server {\n}\n").unwrap()).is_none());
    }

    #[test]
    fn caddy_tree() {
        let text = "{\n\tadmin off # x\n}\n\nhttps://:8443 {\n\tbind 127.0.0.1\n\tmercure {\n\t\tpublisher_jwt \
                    {env.K} HS256\n\t\ttransport bolt {\n\t\t\tpath /x\n\t\t}\n\t}\n\trespond \"Not Found\" 404\n}\n";
        let tree = parse_caddyfile(text).unwrap();
        assert_eq!(caddy_args(caddy_globals(&tree).unwrap(), "admin").unwrap(), ["off"]);
        let site = caddy_site(&tree).unwrap();
        assert_eq!(site.tokens, ["https://:8443"]);
        let m = caddy_mercure(&tree).unwrap();
        assert_eq!(caddy_args(m, "publisher_jwt").unwrap(), ["{env.K}", "HS256"]);
        assert_eq!(caddy_args(site, "respond").unwrap(), ["Not Found", "404"]);
        assert_eq!(parse_caddyfile("a {\n").unwrap_err().to_string(), "line 1: block is never closed");
    }

    #[test]
    fn urls() {
        assert_eq!(split_url("https://:8443"), Some(("https".into(), String::new(), Some(8443), String::new())));
        assert_eq!(
            split_url("https://a.b/.well-known/mercure"),
            Some(("https".into(), "a.b".into(), None, "/.well-known/mercure".into()))
        );
    }
}
