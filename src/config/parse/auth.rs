//! An endpoint's `auth` table: which keys each kind takes, and the secrets its `*_env` keys
//! name, read from the environment and never echoed.

use std::ops::Range;

use toml::Spanned;
use url::Url;

use super::raw::RawAuth;
use super::values::{is_env_name, looks_like_secret, shown, Ctx};
use crate::config::Auth;
use crate::secrets::{Secret, SecretSource};

/// The keys each auth kind takes; `None` for an unknown kind.
fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "bearer" => &["token_env"],
        "basic" => &["user_env", "password_env"],
        "header" => &["name", "value_env"],
        "query" => &["param", "value_env"],
        "oauth2_client_credentials" => {
            &["token_url", "client_id_env", "client_secret_env", "scopes"]
        }
        _ => return None,
    })
}

pub(super) fn auth(
    ctx: &mut Ctx,
    endpoint: &str,
    raw: &Spanned<RawAuth>,
    secrets: &dyn SecretSource,
) -> Option<Auth> {
    let a = raw.get_ref();
    let kind = a.kind.get_ref().as_str();
    let Some(allowed) = keys_of(kind) else {
        ctx.error(&a.kind.span(), format!("auth kind {} is unknown; expected one of bearer, basic, header, query, oauth2_client_credentials", shown(kind)));
        return None;
    };
    unused_keys(ctx, raw, kind, allowed);
    let mut f = Fields {
        ctx,
        table: raw.span(),
        kind,
        endpoint,
        secrets,
    };
    match kind {
        "bearer" => bearer(&mut f, a),
        "basic" => basic(&mut f, a),
        "header" => header(&mut f, a),
        "query" => query(&mut f, a),
        _ => oauth2(&mut f, a),
    }
}

/// A key that this kind does not read is an error: it usually means a different kind was meant.
fn unused_keys(ctx: &mut Ctx, raw: &Spanned<RawAuth>, kind: &str, allowed: &[&str]) {
    let a = raw.get_ref();
    let present = [
        ("token_env", a.token_env.is_some()),
        ("user_env", a.user_env.is_some()),
        ("password_env", a.password_env.is_some()),
        ("name", a.name.is_some()),
        ("value_env", a.value_env.is_some()),
        ("param", a.param.is_some()),
        ("token_url", a.token_url.is_some()),
        ("client_id_env", a.client_id_env.is_some()),
        ("client_secret_env", a.client_secret_env.is_some()),
        ("scopes", !a.scopes.is_empty()),
    ];
    for (key, is) in present {
        if is && !allowed.contains(&key) {
            ctx.error(
                &raw.span(),
                format!(
                    "auth kind `{kind}` does not use `{key}`; it takes {}",
                    allowed.join(", ")
                ),
            );
        }
    }
}

/// Reads one auth table's keys, reporting each problem at its line.
struct Fields<'c, 'a, 's> {
    ctx: &'c mut Ctx<'a>,
    /// The auth table, where a missing key is reported.
    table: Range<usize>,
    kind: &'s str,
    endpoint: &'s str,
    secrets: &'s dyn SecretSource,
}

impl Fields<'_, '_, '_> {
    /// A required key of this kind: its (trimmed) text, or an error at the auth table.
    fn field(&mut self, key: &str, v: &Option<Spanned<String>>) -> Option<(String, Range<usize>)> {
        match v {
            Some(v) if !v.get_ref().trim().is_empty() => {
                Some((v.get_ref().trim().to_string(), v.span()))
            }
            _ => {
                let kind = self.kind;
                self.ctx
                    .error(&self.table, format!("auth kind `{kind}` needs `{key}`"));
                None
            }
        }
    }

    /// The value of the environment variable that a `*_env` key (read by [`Fields::field`])
    /// names; absent or empty is an error.
    fn env(&mut self, key: &str, v: Option<(String, Range<usize>)>) -> Option<(String, Secret)> {
        let (var, span) = v?;
        if !is_env_name(&var) || looks_like_secret(&var) {
            // Most likely the secret itself was pasted here (`sk_live_…`, `ghp_…`, `AKIA…`):
            // never repeat it.
            self.ctx.error(&span, format!("{key} must name an environment variable; the value is not an UPPER_CASE variable name (A-Z, 0-9, `_`; did you paste the secret?). Put the secret in the environment or .env and name its variable here"));
            return None;
        }
        let endpoint = shown(self.endpoint);
        match self.secrets.get(&var) {
            Some(value) if !value.is_empty() => Some((var, Secret::new(value))),
            Some(_) => {
                self.ctx.error(
                    &span,
                    format!(
                        "{key}: environment variable `{var}` (for endpoint {endpoint}) is empty"
                    ),
                );
                None
            }
            None => {
                self.ctx.error(&span, format!("{key}: environment variable `{var}` (for endpoint {endpoint}) is not set; set it in the environment or in .env"));
                None
            }
        }
    }
}

fn bearer(f: &mut Fields, a: &RawAuth) -> Option<Auth> {
    let v = f.field("token_env", &a.token_env);
    let (token_env, token) = f.env("token_env", v)?;
    Some(Auth::Bearer { token_env, token })
}

fn basic(f: &mut Fields, a: &RawAuth) -> Option<Auth> {
    // Both are read before either is required, so both problems are reported.
    let u = f.field("user_env", &a.user_env);
    let p = f.field("password_env", &a.password_env);
    let user = f.env("user_env", u);
    let password = f.env("password_env", p);
    let ((user_env, user), (password_env, password)) = (user?, password?);
    Some(Auth::Basic {
        user_env,
        user,
        password_env,
        password,
    })
}

fn header(f: &mut Fields, a: &RawAuth) -> Option<Auth> {
    let n = f.field("name", &a.name);
    let v = f.field("value_env", &a.value_env);
    let value = f.env("value_env", v);
    let (name, nspan) = n?;
    if hyper::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        f.ctx.error(&nspan, format!("name: {} is not a valid header name (a name only, e.g. \"X-Api-Key\"; the value comes from value_env)", shown(&name)));
        return None;
    }
    let (value_env, value) = value?;
    Some(Auth::Header {
        name,
        value_env,
        value,
    })
}

fn query(f: &mut Fields, a: &RawAuth) -> Option<Auth> {
    let p = f.field("param", &a.param);
    let v = f.field("value_env", &a.value_env);
    let value = f.env("value_env", v);
    let ((param, _), (value_env, value)) = (p?, value?);
    Some(Auth::Query {
        param,
        value_env,
        value,
    })
}

fn oauth2(f: &mut Fields, a: &RawAuth) -> Option<Auth> {
    let t = f.field("token_url", &a.token_url);
    let i = f.field("client_id_env", &a.client_id_env);
    let s = f.field("client_secret_env", &a.client_secret_env);
    let token_url = t.and_then(|(t, tspan)| match Url::parse(&t) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Some(u),
        _ => {
            f.ctx.error(
                &tspan,
                "token_url: not an http(s) URL; expected e.g. https://auth.example.com/oauth/token",
            );
            None
        }
    });
    let id = f.env("client_id_env", i);
    let secret = f.env("client_secret_env", s);
    let ((client_id_env, client_id), (client_secret_env, client_secret)) = (id?, secret?);
    Some(Auth::OAuth2ClientCredentials {
        token_url: token_url?,
        client_id_env,
        client_id,
        client_secret_env,
        client_secret,
        scopes: a.scopes.clone(),
    })
}
