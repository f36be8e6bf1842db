//! Fuzz target: any bytes as an answers file, then as `--set` overrides. The
//! parser and validator must never panic, hang or blow up memory, and whatever
//! they accept must round-trip, keep every path inside its safe character set, and
//! render.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mercure_setup::answers::Answers;
use mercure_setup::answers_file;
use mercure_setup::plan::Plan;
use mercure_setup::{render, secrets};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parsed = answers_file::parse_all(text, "fuzz.yaml");
    let mut draft = parsed.draft;
    // The same text, line by line, as `--set KEY=VALUE` overrides.
    let sets: Vec<String> = text.lines().take(8).map(str::to_string).collect();
    let _ = answers_file::apply_sets(&mut draft, &sets);
    let Ok((answers, _)) = Answers::from_draft(&draft) else { return };
    // Accepted answers round-trip through the answers file they render to.
    let again = answers_file::write_commented(&answers.to_draft(), "fuzz");
    let reread = answers_file::parse(&again, "again.yaml").expect("a written answers file reads back");
    let (back, _) = Answers::from_draft(&reread).expect("a written answers file validates");
    assert_eq!(back, answers);
    // Paths hold only the strict character set (they reach root shell commands).
    for p in [
        answers.symfony.project_dir.as_str(),
        answers.hub.binary.as_str(),
        answers.public_tls.acme_webroot.as_str(),
        answers.public_tls.certificate.as_str(),
        answers.public_tls.certificate_key.as_str(),
    ] {
        assert!(p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+@".contains(&b)), "{p:?}");
    }
    // Accepted answers render (fresh secrets; nginx's version as the answers say, or the fallback).
    let now = time::OffsetDateTime::now_utc();
    let (secrets, _) = secrets::prepare(&answers, secrets::StoredState::default(), false, now).expect("secrets");
    render::render(&Plan::new(answers, None), &secrets).expect("valid answers render");
});
