//! Quoting values for a POSIX shell: every value placed in a command that INSTALL.md
//! shows (and `apply` prints) goes through `quote`, so a path can never become syntax.

/// `value` as one shell word: bare when it only holds characters no shell treats
/// specially, else single-quoted (a `'` inside becomes `'\''`).
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
        && !value.starts_with('=');
    if plain { value.to_string() } else { format!("'{}'", value.replace('\'', "'\\''")) }
}

/// A command line from its words, each quoted.
pub fn command(words: &[&str]) -> String {
    words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_words_stay_bare() {
        assert_eq!(quote("/usr/local/bin/mercure"), "/usr/local/bin/mercure");
        assert_eq!(quote("0640"), "0640");
    }

    #[test]
    fn syntax_is_quoted() {
        assert_eq!(quote("/srv/x&>/srv/victim&"), "'/srv/x&>/srv/victim&'");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), "'it'\\''s'");
        assert_eq!(quote("~root"), "'~root'");
        assert_eq!(quote("*"), "'*'");
        assert_eq!(quote("$(id)"), "'$(id)'");
        assert_eq!(quote(""), "''");
        assert_eq!(command(&["install", "-m", "0600", "a;b", "/x y"]), "install -m 0600 'a;b' '/x y'");
    }

    /// What the shell really makes of a quoted word: the value itself.
    #[test]
    fn sh_reads_back_the_value() {
        for v in ["/srv/x&>/srv/victim&", "it's", "a\nb", "$(id)`id`", "~", "-n", "=x"] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", quote(v))).output();
            let out = out.expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), v, "{v:?}");
        }
    }
}
