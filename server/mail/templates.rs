//! Email templates: `templates/email/<name>.{subject.txt,txt,html}`, each rendered from a
//! typed context, sharing one HTML and one text layout.

use anyhow::Context as _;
use rust_embed::RustEmbed;
use serde::Serialize;

#[derive(RustEmbed)]
#[folder = "templates/"]
pub(crate) struct TemplateFiles;

/// The rendered parts of one email.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// A typed email: its context struct and the name of its template files.
pub trait EmailTemplate: Serialize {
    const NAME: &'static str;
}

/// Sent after signup: confirms the address belongs to the member.
#[derive(Serialize)]
pub struct ConfirmEmail {
    pub confirm_url: String,
    pub valid_hours: u32,
}
impl EmailTemplate for ConfirmEmail {
    const NAME: &'static str = "confirm_email";
}

/// Sent to a new address the member wants to switch to.
#[derive(Serialize)]
pub struct ChangeEmail {
    pub confirm_url: String,
    pub new_email: String,
    pub valid_hours: u32,
}
impl EmailTemplate for ChangeEmail {
    const NAME: &'static str = "change_email";
}

/// Sent to the old address once the change is done, so a hijack does not go unseen.
#[derive(Serialize)]
pub struct EmailChanged {
    pub new_email: String,
}
impl EmailTemplate for EmailChanged {
    const NAME: &'static str = "email_changed";
}

/// The single-use link for a forgotten password.
#[derive(Serialize)]
pub struct ResetPassword {
    pub reset_url: String,
    pub valid_minutes: u32,
}
impl EmailTemplate for ResetPassword {
    const NAME: &'static str = "reset_password";
}

/// Sent whenever the password changes, by reset or from the account page.
#[derive(Serialize)]
pub struct PasswordChanged {
    pub sessions_ended: bool,
}
impl EmailTemplate for PasswordChanged {
    const NAME: &'static str = "password_changed";
}

/// Every template set, loaded once at start-up.
pub struct Templates {
    tera: tera::Tera,
    base_url: String,
}

impl Templates {
    pub fn load(base_url: &str) -> anyhow::Result<Self> {
        let mut files = Vec::new();
        for name in TemplateFiles::iter() {
            let file = TemplateFiles::get(&name).context("template vanished")?;
            let body = String::from_utf8(file.data.into_owned())
                .with_context(|| format!("template {name} is not UTF-8"))?;
            files.push((name.to_string(), body));
        }
        let mut tera = tera::Tera::default();
        tera.add_raw_templates(files).context("parsing templates")?;
        tera.set_escape_fn(escape_html);
        Ok(Templates {
            tera,
            base_url: base_url.to_string(),
        })
    }

    /// Renders a page or any other single template from a serializable context.
    pub fn render_page<T: Serialize>(&self, name: &str, ctx: &T) -> anyhow::Result<String> {
        let mut context = tera::Context::from_serialize(ctx).context("page context")?;
        context.insert("base_url", &self.base_url);
        self.tera
            .render(name, &context)
            .with_context(|| format!("rendering {name}"))
    }

    pub fn render<T: EmailTemplate>(&self, email: &T) -> anyhow::Result<Rendered> {
        let mut context = tera::Context::from_serialize(email).context("email context")?;
        context.insert("base_url", &self.base_url);
        let part = |suffix: &str| {
            let name = format!("email/{}.{suffix}", T::NAME);
            self.tera
                .render(&name, &context)
                .with_context(|| format!("rendering {name}"))
        };
        Ok(Rendered {
            subject: part("subject.txt")?.trim().to_string(),
            text: part("txt")?,
            html: part("html")?,
        })
    }
}

/// Escapes what HTML needs escaped and nothing more: tera's default also turns `/` into
/// `&#x2F;`, which mangles every link in a plain-looking email source.
fn escape_html(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn samples(t: &Templates) -> Vec<(&'static str, Rendered)> {
        fn r<T: EmailTemplate>(t: &Templates, e: T) -> (&'static str, Rendered) {
            (T::NAME, t.render(&e).unwrap())
        }
        vec![
            r(
                t,
                ConfirmEmail {
                    confirm_url: "https://b.example/confirm-email?token=abc".into(),
                    valid_hours: 48,
                },
            ),
            r(
                t,
                ChangeEmail {
                    confirm_url: "https://b.example/confirm-email?token=def".into(),
                    new_email: "new@example.com".into(),
                    valid_hours: 24,
                },
            ),
            r(
                t,
                EmailChanged {
                    new_email: "new@example.com".into(),
                },
            ),
            r(
                t,
                ResetPassword {
                    reset_url: "https://b.example/reset-password?token=ghi".into(),
                    valid_minutes: 60,
                },
            ),
            r(
                t,
                PasswordChanged {
                    sessions_ended: true,
                },
            ),
        ]
    }

    #[test]
    fn every_email_renders_all_three_parts() {
        let t = Templates::load("https://b.example").unwrap();
        for (name, rendered) in samples(&t) {
            assert!(
                !rendered.subject.is_empty() && !rendered.subject.contains('\n'),
                "{name}"
            );
            assert!(
                rendered.html.contains("<html"),
                "{name}: html part lacks the layout"
            );
            assert!(
                rendered.text.contains("https://b.example"),
                "{name}: text part lacks the footer"
            );
            assert!(
                !rendered.text.contains('<'),
                "{name}: markup in the text part"
            );
        }
    }

    #[test]
    fn links_appear_in_both_parts() {
        let t = Templates::load("https://b.example").unwrap();
        let r = t
            .render(&ResetPassword {
                reset_url: "https://b.example/reset-password?token=ghi".into(),
                valid_minutes: 60,
            })
            .unwrap();
        assert!(
            r.text
                .contains("https://b.example/reset-password?token=ghi")
        );
        assert!(
            r.html
                .contains("https://b.example/reset-password?token=ghi")
        );
    }

    #[test]
    fn html_escapes_values() {
        let t = Templates::load("https://b.example").unwrap();
        let r = t
            .render(&EmailChanged {
                new_email: "<b>x</b>@example.com".into(),
            })
            .unwrap();
        assert!(r.html.contains("&lt;b&gt;"));
    }

    #[test]
    fn no_email_template_is_left_unrendered() {
        let t = Templates::load("https://b.example").unwrap();
        let rendered: BTreeSet<String> = samples(&t)
            .into_iter()
            .map(|(n, _)| n.to_string())
            .collect();
        let on_disk: BTreeSet<String> = TemplateFiles::iter()
            .filter_map(|f| f.strip_prefix("email/").map(str::to_string))
            .filter(|f| !f.starts_with("layout."))
            .map(|f| f.split('.').next().unwrap_or_default().to_string())
            .collect();
        assert_eq!(
            on_disk, rendered,
            "templates on disk that no typed email renders (or the reverse)"
        );
    }
}
