//! INSTALL.md's commands, built from the same plan of actions `apply` carries out, so
//! a person who prefers to run them by hand runs exactly what `apply` would. Every
//! value placed in a command is quoted for the shell.

use serde::Serialize;

use super::actions::{self, Action, Part};
use super::shell::{command, quote};
use super::steps::{Services, Touched, live_steps};
use crate::plan::{Plan, install};

/// The command sections of INSTALL.md, in the order `apply` runs them.
#[derive(Debug, Clone, Serialize)]
pub struct InstallDoc {
    pub hub_release: &'static str,
    /// The release archive for this CPU, its checksum check and the .deb alternative.
    pub download: Vec<String>,
    pub deb_binary: &'static str,
    pub user_and_binary: Vec<String>,
    pub hub_files: Vec<String>,
    pub nginx_files: Vec<String>,
    pub nginx_conf: Vec<String>,
    pub certbot: Vec<String>,
    pub symfony: Vec<String>,
    pub go_live: Vec<String>,
    pub doctor: String,
    pub apply: Vec<String>,
    pub rollback: Vec<String>,
    /// Quoted values for the prose commands.
    pub q: Quoted,
}

#[derive(Debug, Clone, Serialize)]
pub struct Quoted {
    pub hub_binary: String,
    pub project_dir: String,
    pub unit: String,
}

/// The hub binary as downloaded and unpacked in the bundle folder: in a folder of its own,
/// as the bundle already has a `mercure/` folder (the hub's files), which a `./mercure`
/// binary would collide with.
pub const DOWNLOADED: &str = "hub-release/mercure";

fn lines(actions: &[Action], parts: &[Part]) -> Vec<String> {
    actions
        .iter()
        .filter(|a| parts.contains(&a.part()) && !matches!(a, Action::NginxLimits { .. }))
        .filter(|a| !matches!(a, Action::CreateUser { .. } | Action::InstallHub { .. }))
        .flat_map(|a| a.shell(DOWNLOADED))
        .collect()
}

/// The shell form of one go-live step.
pub fn live_step_shell(step: &str, plan: &Plan) -> Vec<String> {
    match step {
        "mercure validate" => vec![
            // As apply does: on a copy whose history database is a throwaway one, in a
            // fresh folder (a fixed name in /tmp is a link another user can plant).
            "tmp=$(mktemp -d)".into(),
            format!(
                "sed \"s|{db}|$tmp/validate.db|\" {cf} > \"$tmp/Caddyfile\"",
                db = format_args!("{}/mercure.db", install::DATA_DIR),
                cf = quote(install::CADDYFILE)
            ),
            format!(
                "(set -a && . {} && {} validate --config \"$tmp/Caddyfile\" --adapter caddyfile)",
                quote(install::ENV_FILE),
                quote(&plan.hub_binary)
            ),
            "rm -r \"$tmp\"".into(),
        ],
        "nginx -t" => vec!["nginx -t".into()],
        "systemctl restart mercure" => vec!["systemctl restart mercure && systemctl is-active mercure".into()],
        other => vec![other.to_string()],
    }
}

/// Builds INSTALL.md's commands for `plan`.
pub fn install_doc(plan: &Plan) -> InstallDoc {
    let acts = actions::actions(plan);
    let all = Touched { hub: true, hub_unit: true, nginx: true, nginx_unit: true };
    let steps = live_steps(all, &Services::default());
    let go_live = steps.iter().flat_map(|s| live_step_shell(s, plan)).collect();
    let webroot = quote(&plan.acme_webroot);
    let domain = quote(&plan.domain);
    let acme_conf = "/etc/nginx/conf.d/mercure-setup-acme.conf";
    let nginx_conf = acts.iter().find(|a| matches!(a, Action::NginxLimits { .. })).map(|a| a.shell(DOWNLOADED));
    let releases = format!("https://github.com/dunglas/mercure/releases/download/v{}", plan.hub.release);
    InstallDoc {
        hub_release: plan.hub.release,
        download: vec![
            "case \"$(dpkg --print-architecture)\" in amd64) cpu=x86_64 ;; arm64) cpu=arm64 ;; *) echo 'see the releases page' ;; esac".into(),
            format!("curl -fLO \"{releases}/mercure_Linux_${{cpu}}.tar.gz\""),
            format!("curl -fLO {releases}/checksums.txt"),
            "sha256sum --ignore-missing -c checksums.txt   # must print: mercure_Linux_...tar.gz: OK".into(),
            format!(
                "mkdir -p {dir} && tar -xzf \"mercure_Linux_${{cpu}}.tar.gz\" -C {dir} mercure",
                dir = DOWNLOADED.rsplit_once('/').map_or(".", |(d, _)| d)
            ),
        ],
        deb_binary: "/usr/bin/mercure",
        user_and_binary: acts
            .iter()
            .filter(|a| matches!(a, Action::CreateUser { .. } | Action::InstallHub { .. }))
            .flat_map(|a| a.shell(DOWNLOADED))
            .chain([format!("{} version", quote(&plan.hub_binary))])
            .collect(),
        hub_files: lines(&acts, &[Part::Hub, Part::HubUnit]),
        nginx_files: lines(&acts, &[Part::Nginx, Part::NginxUnit]),
        nginx_conf: nginx_conf.unwrap_or_default(),
        certbot: vec![
            "apt-get install certbot".into(),
            command(&["install", "-d", "-m", "0755", &plan.acme_webroot]),
            format!(
                "printf 'server {{\\n\\tlisten 80;\\n\\tserver_name %s;\\n\\tlocation ^~ /.well-known/acme-challenge/ {{\\n\\t\\troot %s;\\n\\t}}\\n}}\\n' {domain} {webroot} > {acme_conf}"
            ),
            "nginx -t && systemctl reload nginx".into(),
            format!(
                "certbot certonly --webroot -w {webroot} -d {domain} --cert-name {domain} --email YOU@EXAMPLE.COM --agree-tos -n --deploy-hook 'systemctl reload nginx'"
            ),
            format!("rm {acme_conf} && systemctl reload nginx"),
        ],
        symfony: lines(&acts, &[Part::Symfony]),
        go_live,
        doctor: format!("mercure-setup doctor . --resolve {}", quote(&format!("{}:443:127.0.0.1", plan.domain))),
        apply: vec!["mercure-setup apply . --dry-run".into(), format!("mercure-setup apply . --hub-binary {DOWNLOADED}")],
        rollback: vec!["mercure-setup apply --rollback          # the newest backup; or --rollback TIMESTAMP".into()],
        q: Quoted {
            hub_binary: quote(&plan.hub_binary),
            project_dir: quote(&plan.project_dir),
            unit: quote(install::UNIT),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The unpacked hub must not land on a path the bundle itself uses (it did: `./mercure`
    /// was the bundle's `mercure/` folder, so `install ./mercure ...` and `--hub-binary
    /// ./mercure` failed when run from the bundle as the file says).
    #[test]
    fn the_downloaded_hub_does_not_collide_with_a_bundle_path() {
        use crate::bundle::paths as p;
        let top = DOWNLOADED.trim_start_matches("./").split('/').next().unwrap_or_default();
        let bundle = [p::INSTALL, p::ANSWERS, p::NGINX_DIR, p::UNIT, p::CADDYFILE, p::ENV_LOCAL, p::PUBLISHER_TOKEN];
        for path in bundle {
            assert_ne!(path.split('/').next(), Some(top), "{path}");
        }
    }
}
