//! Snapshots of every rendered file for each fixture, with fixed secrets so the
//! files are stable (rendering is pure). Certificates and keys are placeholders here;
//! the real-tool tests check real ones.

use std::fmt::Write as _;

use mercure_setup::answers::Answers;
use mercure_setup::answers_file;
use mercure_setup::plan::Plan;
use mercure_setup::render::render;

use crate::support::{FIXTURES, HUB10_FIXTURES, fixed_secrets, fixture};

fn answers(name: &str) -> Answers {
    let path = fixture(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let draft = answers_file::parse(&text, name).unwrap();
    Answers::from_draft(&draft).unwrap().0
}

#[test]
fn every_rendered_file_matches_its_snapshot() {
    for name in FIXTURES.iter().chain(HUB10_FIXTURES) {
        let answers = answers(name);
        let secrets = fixed_secrets(answers.jwt_algorithm, answers.topology.facts().private_ca);
        let plan = Plan::new(answers, None);
        let bundle = render(&plan, &secrets).unwrap();
        let stem = name.trim_end_matches(".yaml");
        let mut listing = String::new();
        for (p, f) in &bundle.files {
            let _ = writeln!(listing, "{:04o} {}{}", f.mode, p, if f.secret { " (secret)" } else { "" });
        }
        insta::assert_snapshot!(format!("{stem}__files"), listing);
        for (path, file) in &bundle.files {
            // Raw key material and tokens are fixed placeholders: nothing to review.
            if path.starts_with(".state/")
                || path.starts_with("tokens/")
                || path.starts_with("mercure/tls/")
                || path.rsplit_once('.').is_some_and(|(_, ext)| ext == "pem")
            {
                continue;
            }
            insta::assert_snapshot!(format!("{stem}__{}", path.replace('/', "__")), &file.contents);
        }
    }
}

#[test]
fn rendering_is_deterministic() {
    for name in FIXTURES.iter().chain(HUB10_FIXTURES) {
        let a = answers(name);
        let secrets = fixed_secrets(a.jwt_algorithm, a.topology.facts().private_ca);
        let plan = Plan::new(a, None);
        assert_eq!(render(&plan, &secrets).unwrap(), render(&plan, &secrets).unwrap(), "{name}");
    }
}
