//! `check`'s lints of meaning on hand-edited copies of real rendered bundles: each
//! mistake fails its lint naming the file, the line and its `explain troubleshooting`
//! row, the seed article's configurations fail on each of their mistakes, and `-v`
//! shows the hand edit as a diff.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::{fixture, run, stderr, stdout};

const HTTP: &str = "same-host-http-hs256-nginx122.yaml";
const TLS: &str = "end-to-end-tls-hs256-nginx122.yaml";
const SITE: &str = "nginx/app.example.com.conf";
const CADDYFILE: &str = "mercure/Caddyfile";

fn render(name: &str, dir: &Path) {
    let answers = fixture(name);
    let o = run(&["render", "--answers", answers.to_str().unwrap(), "--out", dir.to_str().unwrap()]);
    assert!(o.status.success(), "render {name}: {}", stderr(&o));
}

fn edit(dir: &Path, rel: &str, from: &str, to: &str) {
    let path = dir.join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{rel} has no `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// The failed lints of `check --json`: id -> (row, error).
fn failed_lints(dir: &Path) -> std::collections::BTreeMap<String, (u64, String)> {
    let o = run(&["check", dir.to_str().unwrap(), "--json"]);
    let report: serde_json::Value =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    let failed: std::collections::BTreeMap<String, (u64, String)> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "failed" && c["id"].as_str().unwrap().starts_with("lint-"))
        .map(|c| {
            let id = c["id"].as_str().unwrap().to_string();
            (id, (c["row"].as_u64().unwrap(), c["error"].as_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(o.status.code() == Some(1), !failed.is_empty(), "{report}");
    failed
}

struct Case {
    fixture: &'static str,
    file: &'static str,
    from: &'static str,
    to: &'static str,
    lint: &'static str,
    row: u64,
    needle: &'static str,
}

const CASES: &[Case] = &[
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_buffering off;",
        to: "proxy_buffering on;",
        lint: "lint-buffering",
        row: 7,
        needle: "proxy_buffering on",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_cache off;",
        to: "proxy_ignore_headers X-Accel-Buffering;",
        lint: "lint-buffering",
        row: 7,
        needle: "X-Accel-Buffering",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_cache off;",
        to: "gzip on;\n        gzip_types text/event-stream;",
        lint: "lint-buffering",
        row: 7,
        needle: "gzip on",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_http_version 1.1;",
        to: "",
        lint: "lint-upstream-http",
        row: 7,
        needle: "HTTP/1.0",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_set_header Connection \"\";",
        to: "proxy_set_header Connection \"upgrade\";",
        lint: "lint-upstream-http",
        row: 7,
        needle: "WebSocket",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_read_timeout 1h;",
        to: "proxy_read_timeout 30s;",
        lint: "lint-read-timeout",
        row: 8,
        needle: "proxy_read_timeout 30s",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_read_timeout 1h;",
        to: "",
        lint: "lint-read-timeout",
        row: 8,
        needle: "nginx's default 60s",
    },
    Case {
        fixture: HTTP,
        file: CADDYFILE,
        from: "heartbeat 40s",
        to: "heartbeat 1h",
        lint: "lint-read-timeout",
        row: 8,
        needle: "heartbeat (1h, mercure/Caddyfile:",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "location ^~ /.well-known/mercure {",
        to: "location /.well-known/mercure {",
        lint: "lint-hub-location",
        row: 5,
        needle: "without `^~`",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "127.0.0.1:3000;",
        to: "127.0.0.1:3000/.well-known/mercure;",
        lint: "lint-hub-location",
        row: 5,
        needle: "URI part",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "http://127.0.0.1:3000;",
        to: "http://localhost:3000;",
        lint: "lint-upstream-address",
        row: 16,
        needle: "localhost",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_cache off;",
        to: "add_header Access-Control-Allow-Origin $http_origin;",
        lint: "lint-cors",
        row: 10,
        needle: "Access-Control-Allow-Origin",
    },
    Case {
        fixture: TLS,
        file: SITE,
        from: "proxy_ssl_server_name on;",
        to: "",
        lint: "lint-tls-sni",
        row: 2,
        needle: "no SNI",
    },
    Case {
        fixture: TLS,
        file: SITE,
        from: "proxy_ssl_verify on;",
        to: "proxy_ssl_verify off;",
        lint: "lint-tls-verify",
        row: 17,
        needle: "proxy_ssl_verify off",
    },
    Case {
        fixture: TLS,
        file: CADDYFILE,
        from: "\tauto_https disable_redirects\n",
        to: "",
        lint: "lint-hub-listeners",
        row: 1,
        needle: "binds :80",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "proxy_buffering off;\n",
        to: "",
        lint: "lint-buffering",
        row: 7,
        needle: "no proxy_buffering off",
    },
    Case {
        fixture: HTTP,
        file: SITE,
        from: "mercure_28059829b105;\n",
        to: "combined;\n",
        lint: "lint-access-log",
        row: 14,
        needle: "format `combined`",
    },
];

#[test]
fn each_hand_edit_fails_its_lint_citing_its_row() {
    let tmp = tempfile::tempdir().unwrap();
    for name in [HTTP, TLS] {
        let fresh = tmp.path().join(name);
        render(name, &fresh);
        assert!(failed_lints(&fresh).is_empty(), "{name}: a fresh bundle passes every lint");
    }
    for (i, case) in CASES.iter().enumerate() {
        let dir = tmp.path().join(format!("case-{i}"));
        render(case.fixture, &dir);
        edit(&dir, case.file, case.from, case.to);
        let failed = failed_lints(&dir);
        let ids: BTreeSet<&str> = failed.keys().map(String::as_str).collect();
        assert_eq!(ids, BTreeSet::from([case.lint, "lint-edited"]), "{} -> {}: {failed:?}", case.from, case.to);
        let (row, error) = &failed[case.lint];
        assert_eq!(*row, case.row, "{error}");
        assert!(error.contains(case.needle) && error.contains(case.file), "{error}");
        assert_eq!(failed["lint-edited"].1, format!("{}: edited since the last render", case.file));
    }
}

/// The seed article's two nginx locations and its `cors_origins *` / `publish_origins *`.
#[test]
fn the_seed_articles_mistakes_each_fail() {
    let tmp = tempfile::tempdir().unwrap();
    let http = tmp.path().join("http");
    render(HTTP, &http);
    let site = std::fs::read_to_string(http.join(SITE)).unwrap();
    let start = site.find("    location ^~ /.well-known/mercure {").unwrap();
    let end = start + site[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    let seed_http = "    location /.well-known/mercure {\n        proxy_pass http://127.0.0.1:3000/.well-known/mercure;\n        \
                     proxy_http_version 1.1;\n        proxy_set_header Upgrade $http_upgrade;\n        \
                     proxy_set_header Connection \"upgrade\";\n        proxy_set_header Host $host;\n    }\n";
    std::fs::write(http.join(SITE), format!("{}{seed_http}{}", &site[..start], &site[end..])).unwrap();
    edit(&http, CADDYFILE, "heartbeat 40s", "heartbeat 40s\n\t\tcors_origins *\n\t\tpublish_origins *");
    let failed = failed_lints(&http);
    let rows: BTreeSet<(&str, u64)> = failed.iter().map(|(id, (row, _))| (id.as_str(), *row)).collect();
    assert_eq!(
        rows,
        BTreeSet::from([
            ("lint-hub-location", 5),
            ("lint-buffering", 7),
            ("lint-upstream-http", 7),
            ("lint-read-timeout", 8),
            ("lint-cors", 10),
            ("lint-access-log", 14),
            ("lint-edited", 18)
        ]),
        "{failed:?}"
    );
    assert!(
        failed["lint-hub-location"].1.contains("without `^~`") && failed["lint-hub-location"].1.contains("URI part")
    );
    assert!(failed["lint-cors"].1.contains("cors_origins *") && failed["lint-cors"].1.contains("publish_origins *"));

    let tls = tmp.path().join("tls");
    render(TLS, &tls);
    let site = std::fs::read_to_string(tls.join(SITE)).unwrap();
    let start = site.find("    location ^~ /.well-known/mercure {").unwrap();
    let end = start + site[start..].find("\n    }\n").unwrap() + "\n    }\n".len();
    let seed_tls = "    location /.well-known/mercure {\n        proxy_pass https://127.0.0.1:8443/.well-known/mercure;\n        \
                    proxy_ssl_verify off;\n        proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n        \
                    proxy_set_header Host $http_host;\n        \
                    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        proxy_read_timeout 24h;\n    }\n";
    std::fs::write(tls.join(SITE), format!("{}{seed_tls}{}", &site[..start], &site[end..])).unwrap();
    let failed = failed_lints(&tls);
    let rows: BTreeSet<(&str, u64)> = failed.iter().map(|(id, (row, _))| (id.as_str(), *row)).collect();
    assert_eq!(
        rows,
        BTreeSet::from([
            ("lint-hub-location", 5),
            ("lint-tls-sni", 2),
            ("lint-buffering", 7),
            ("lint-access-log", 14),
            ("lint-tls-verify", 17),
            ("lint-edited", 18),
            ("lint-forwarded-for", 19)
        ]),
        "{failed:?}"
    );
}

#[test]
fn the_text_report_cites_the_row_and_verbose_shows_the_edit() {
    let tmp = tempfile::tempdir().unwrap();
    render(HTTP, tmp.path());
    edit(tmp.path(), SITE, "proxy_buffering off;", "proxy_buffering on;");
    let o = run(&["check", tmp.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let text = stdout(&o);
    assert!(text.contains("mercure-setup explain troubleshooting #7: Events arrive late or in bursts"), "{text}");
    assert!(text.contains(&format!("{SITE}: edited since the last render")), "{text}");
    assert!(!text.contains("+        proxy_buffering on;"), "no diff without -v:\n{text}");
    let o = run(&["check", "-v", tmp.path().to_str().unwrap()]);
    let text = stdout(&o);
    assert!(
        text.contains("-        proxy_buffering off;\n") || text.contains("-        proxy_buffering off;"),
        "{text}"
    );
    assert!(text.contains("+        proxy_buffering on;"), "{text}");
}

/// `--system --root`: the installed site is linted too, and the live limits are
/// compared with what the bundle is sized for, failing with the numbers.
#[test]
fn system_limits_and_the_installed_site_under_a_root() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("bundle");
    render(TLS, &bundle);
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("etc/nginx/sites-enabled")).unwrap();
    std::fs::create_dir_all(root.join("etc/systemd/system/nginx.service.d")).unwrap();
    let debian =
        "user www-data;\nworker_processes auto;\nevents {\n\tworker_connections 768;\n}\nhttp {\n\tgzip on;\n}\n";
    std::fs::write(root.join("etc/nginx/nginx.conf"), debian).unwrap();
    let site =
        std::fs::read_to_string(bundle.join(SITE)).unwrap().replace("proxy_buffering off;", "proxy_buffering on;");
    let installed = root.join("etc/nginx/sites-enabled/app.example.com.conf");
    std::fs::write(&installed, site).unwrap();

    let report = |root: &Path| {
        let o = run(&["check", bundle.to_str().unwrap(), "--system", "--root", root.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
        v["checks"].as_array().unwrap().clone()
    };
    let find = |checks: &[serde_json::Value], id: &str| checks.iter().find(|c| c["id"] == id).unwrap().clone();
    let checks = report(&root);
    let limits = find(&checks, "system-limits");
    assert_eq!(limits["status"], "failed", "{limits}");
    assert_eq!(limits["row"], 15);
    let error = limits["error"].as_str().unwrap();
    assert!(
        error.contains("worker_connections 768 (/etc/nginx/nginx.conf:4), the bundle needs 3072 for 1000 subscribers"),
        "{error}"
    );
    assert!(error.contains("no worker_rlimit_nofile in nginx.conf, the bundle needs 6144"), "{error}");
    assert!(error.contains("LimitNOFILE=1024"), "{error}");
    let buffering = find(&checks, "lint-buffering");
    assert_eq!(buffering["status"], "failed", "{buffering}");
    let error = buffering["error"].as_str().unwrap();
    assert!(
        error.contains(&format!("{}:", installed.display())) && !error.contains(SITE),
        "only the installed copy: {error}"
    );

    // Raised as INSTALL.md says, with the bundle's drop-in installed: enough.
    let raised = debian
        .replace("worker_connections 768", "worker_connections 4096")
        .replace("user www-data;", "user www-data;\nworker_rlimit_nofile 6144;");
    std::fs::write(root.join("etc/nginx/nginx.conf"), raised).unwrap();
    std::fs::copy(
        bundle.join("systemd/nginx.service.d/mercure-limits.conf"),
        root.join("etc/systemd/system/nginx.service.d/mercure-limits.conf"),
    )
    .unwrap();
    let limits = find(&report(&root), "system-limits");
    assert_eq!(limits["status"], "passed", "{limits}");
}
