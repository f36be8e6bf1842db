//! The one set of status words every command's `--json` uses, for a check, a probe,
//! a run or a whole report: passed, failed, skipped (could not run) and partial (ran
//! on a stand-in, or some parts could not run).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Passed,
    Failed,
    Skipped,
    Partial,
}

impl Status {
    /// Every word, for tests and documentation.
    pub const ALL: [&'static str; 4] = ["passed", "failed", "skipped", "partial"];

    /// A whole report's status from its counts: any failure fails it; anything that
    /// ran only in part, or not at all, makes it partial.
    pub fn of_counts(failed: usize, incomplete: usize) -> Status {
        match (failed, incomplete) {
            (0, 0) => Status::Passed,
            (0, _) => Status::Partial,
            _ => Status::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_decide_the_word() {
        assert_eq!(Status::of_counts(0, 0), Status::Passed);
        assert_eq!(Status::of_counts(0, 2), Status::Partial);
        assert_eq!(Status::of_counts(1, 2), Status::Failed);
        for s in [Status::Passed, Status::Failed, Status::Skipped, Status::Partial] {
            let word = serde_json::to_value(s).unwrap();
            assert!(Status::ALL.contains(&word.as_str().unwrap()), "{word}");
        }
    }
}
