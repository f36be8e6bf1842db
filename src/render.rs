//! Rendering: `render(&Plan, &Secrets) -> Bundle`, a pure function over the Tera
//! templates embedded from `templates/`. No clock, randomness or file access here.

use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::Serialize;
use tera::Tera;

use crate::answers_file;
use crate::bundle::{Bundle, paths};
use crate::jwt::SigningKey;
use crate::plan::Plan;
use crate::secrets::Secrets;

/// Template name -> source, embedded at compile time.
const TEMPLATES: &[(&str, &str)] = &[
    ("INSTALL.md", include_str!("../templates/INSTALL.md.tera")),
    ("nginx-site.conf", include_str!("../templates/nginx-site.conf.tera")),
    ("nginx-limits.conf", include_str!("../templates/nginx-limits.conf.tera")),
    ("Caddyfile", include_str!("../templates/Caddyfile.tera")),
    ("mercure.env", include_str!("../templates/mercure.env.tera")),
    ("mercure.service", include_str!("../templates/mercure.service.tera")),
    ("env.local", include_str!("../templates/env.local.tera")),
    ("mercure.yaml", include_str!("../templates/mercure.yaml.tera")),
];

#[derive(Debug, thiserror::Error)]
#[error("template {template}: {detail}")]
pub struct RenderError {
    template: String,
    detail: String,
}

fn tera() -> &'static Tera {
    static TERA: OnceLock<Tera> = OnceLock::new();
    TERA.get_or_init(|| {
        let mut t = Tera::default();
        // Autoescaping is for HTML; config safety comes from validated values.
        t.autoescape_on(vec![]);
        t.add_raw_templates(TEMPLATES.iter().copied())
            .unwrap_or_else(|e| panic!("embedded templates must parse (a test checks this): {e:?}"));
        t
    })
}

/// The template context: the plan plus the few secret values that config files carry.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    plan: &'a Plan,
    /// The hub's verification key, formatted for an environment file.
    hub_jwt_key: String,
    /// `MERCURE_JWT_SECRET` for HMAC algorithms.
    symfony_jwt_secret: &'a str,
    /// INSTALL.md's commands, from the plan of actions `apply` runs.
    install: crate::install_plan::install_doc::InstallDoc,
}

/// Formats a value for a systemd `EnvironmentFile` / dotenv line: bare when it is a
/// single safe token (base64url secrets), else double-quoted, where PEM newlines are kept.
pub fn env_value(value: &str) -> String {
    if value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_./:+=".contains(&b)) {
        value.to_string()
    } else {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$").replace('`', "\\`"))
    }
}

fn describe(e: &tera::Error) -> String {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let _ = write!(detail, ": {s}");
        source = s.source();
    }
    detail
}

/// Renders the whole bundle for a plan and its secrets.
pub fn render(plan: &Plan, secrets: &Secrets) -> Result<Bundle, RenderError> {
    let ctx = Context {
        plan,
        install: crate::install_plan::install_doc::install_doc(plan),
        hub_jwt_key: env_value(secrets.jwt.hub_key()),
        symfony_jwt_secret: match &secrets.jwt {
            SigningKey::Hmac(s) => s,
            SigningKey::Es256 { .. } => "",
        },
    };
    let ctx = tera::Context::from_serialize(&ctx)
        .map_err(|e| RenderError { template: "(context)".into(), detail: describe(&e) })?;
    let r = |name: &str| {
        tera().render(name, &ctx).map_err(|e| RenderError { template: name.to_string(), detail: describe(&e) })
    };

    let mut b = Bundle::default();
    b.add(paths::INSTALL, r("INSTALL.md")?);
    b.add(paths::ANSWERS, answers_file::write_commented(&plan.answers.to_draft(), &answers_header(plan)));
    b.add(plan.nginx_site_file.clone(), r("nginx-site.conf")?);
    b.add(paths::NGINX_DROP_IN, r("nginx-limits.conf")?);
    b.add(paths::UNIT, r("mercure.service")?);
    b.add(paths::CADDYFILE, r("Caddyfile")?);
    b.add_secret(paths::HUB_ENV, r("mercure.env")?);
    b.add_secret(paths::ENV_LOCAL, r("env.local")?);
    b.add(paths::SYMFONY_YAML, r("mercure.yaml")?);
    b.add_secret(paths::PUBLISHER_TOKEN, secrets.publisher_token.clone());
    b.add_secret(paths::SUBSCRIBER_TOKEN, secrets.subscriber_token.clone());

    match &secrets.jwt {
        SigningKey::Hmac(secret) => b.add_secret(paths::state::HMAC_SECRET, secret.clone()),
        SigningKey::Es256 { private_pem, public_pem } => {
            b.add_secret(paths::SYMFONY_PRIVATE_KEY, private_pem.clone());
            b.add_secret(paths::state::ES256_PRIVATE, private_pem.clone());
            b.add_secret(paths::state::ES256_PUBLIC, public_pem.clone());
        }
    }
    b.add_secret(paths::state::PUBLISHER_TOKEN, secrets.publisher_token.clone());
    b.add_secret(paths::state::SUBSCRIBER_TOKEN, secrets.subscriber_token.clone());
    if let Some(pki) = &secrets.pki {
        b.add(paths::CA_CERT, pki.ca_cert.clone());
        b.add(paths::HUB_CERT, pki.hub_cert.clone());
        b.add_secret(paths::HUB_KEY, pki.hub_key.clone());
        b.add(paths::state::CA_CERT, pki.ca_cert.clone());
        b.add_secret(paths::state::CA_KEY, pki.ca_key.clone());
        b.add(paths::state::HUB_CERT, pki.hub_cert.clone());
        b.add_secret(paths::state::HUB_KEY, pki.hub_key.clone());
    }
    Ok(b)
}

fn answers_header(plan: &Plan) -> String {
    format!(
        "Generated by mercure-setup {} (topology: {}): the resolved answers of this bundle, no secrets.\n\
         Render it again with: mercure-setup render (in this folder)",
        plan.tool_version, plan.topology
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse() {
        assert_eq!(tera().get_template_names().count(), TEMPLATES.len());
    }

    #[test]
    fn env_values() {
        assert_eq!(env_value("abc-_DEF123"), "abc-_DEF123");
        assert_eq!(
            env_value("-----BEGIN PUBLIC KEY-----\nMF\n-----END PUBLIC KEY-----"),
            "\"-----BEGIN PUBLIC KEY-----\nMF\n-----END PUBLIC KEY-----\""
        );
        assert_eq!(env_value("a$b\"c"), "\"a\\$b\\\"c\"");
    }
}
