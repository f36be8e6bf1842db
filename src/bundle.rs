//! The bundle: every file a render produces, in memory, keyed by its path
//! relative to the output folder, with its mode and whether it holds a secret.

use std::collections::BTreeMap;

/// One generated file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleFile {
    pub contents: String,
    pub mode: u32,
    /// Secret files are 0600, their folders 0700, and their contents are never printed.
    pub secret: bool,
}

/// Sorted map of relative path -> file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bundle {
    pub files: BTreeMap<String, BundleFile>,
}

impl Bundle {
    pub fn add(&mut self, path: impl Into<String>, contents: impl Into<String>) {
        self.insert(path, contents, 0o644, false);
    }

    pub fn add_secret(&mut self, path: impl Into<String>, contents: impl Into<String>) {
        self.insert(path, contents, 0o600, true);
    }

    fn insert(&mut self, path: impl Into<String>, contents: impl Into<String>, mode: u32, secret: bool) {
        let mut contents = contents.into();
        if !contents.ends_with('\n') {
            contents.push('\n');
        }
        self.files.insert(path.into(), BundleFile { contents, mode, secret });
    }

    pub fn get(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(|f| f.contents.as_str())
    }

    /// Whether a folder (relative path) holds a secret file anywhere below it.
    pub fn dir_holds_secret(&self, dir: &str) -> bool {
        let prefix = format!("{dir}/");
        self.files.iter().any(|(p, f)| f.secret && p.starts_with(&prefix))
    }
}
