//! `/operatorok`: operator accounts for admins: add one, set a new password (written as HA1
//! digests into `operators.toml`, as `ugyelet passwd` does), location and role. A new
//! password ends that person's console sessions.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use tracing::info;

use super::gate::{admin, admin_posting};
use super::pages::{self, Nav};
use super::{Console, html as page_response, secure};
use crate::http::daemon::{AccountChange, Daemon};
use crate::operators::MIN_PASSWORD_CHARS;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    hiba: Option<String>,
}

/// `GET /operatorok`.
pub async fn list<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let who = match admin(&c, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let accounts = c.daemon.accounts();
    let open = c.live.borrow().open_work;
    let v = who.viewer(open);
    let notice = match q.ok.as_deref() {
        Some("uj") => Some("Az új fiókot felvettük; a telefonja már regisztrálhat vele."),
        Some("mentve") => Some("A fiókot elmentettük."),
        _ => None,
    };
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = q.hiba.as_deref() { p.error role="alert" { "Nem mentettük: " (e) } }
        table {
            caption { (accounts.len()) " fiók" }
            thead { tr { th scope="col" { "Név" } th scope="col" { "Megjelenő név" } th scope="col" { "Hol" } th scope="col" { "Szerep" } } }
            tbody {
                @for a in &accounts {
                    tr {
                        td { (a.name) }
                        td { (a.display.as_deref().unwrap_or("")) }
                        td { @if a.remote { "távmunka" } @else { "helyszínen" } }
                        td { @if a.admin { "rendszergazda" } @else { "operátor" } }
                    }
                }
            }
        }
        h2 id="modositas-cim" { "Fiók felvétele vagy módosítása" }
        p { "Meglévő fiók nevénél csak a kitöltött mezők változnak; üres jelszó a régit hagyja meg. Új jelszó után az illető a telefonján és itt is az új jelszóval lép be." }
        form method="post" action="/operatorok" aria-labelledby="modositas-cim" {
            input type="hidden" name="csrf" value=(v.csrf);
            div.field {
                label for="fiok-nev" { "Felhasználónév (a-z, 0-9, pont, aláhúzás, kötőjel)" }
                input id="fiok-nev" name="name" type="text" required pattern="[a-z0-9._-]+" autocomplete="off";
            }
            div.field { label for="fiok-megj" { "Megjelenő név" } input id="fiok-megj" name="display" type="text"; }
            div.field {
                label for="fiok-hely" { "Hol dolgozik" }
                select id="fiok-hely" name="location" {
                    option value="" { "változatlan (új fióknál: helyszínen)" }
                    option value="on_site" { "helyszínen (a hivatalban)" }
                    option value="remote" { "távmunkában" }
                }
            }
            div.field {
                label for="fiok-szerep" { "Szerep" }
                select id="fiok-szerep" name="role" {
                    option value="" { "változatlan (új fióknál: operátor)" }
                    option value="operator" { "operátor" }
                    option value="admin" { "rendszergazda" }
                }
            }
            div.field {
                label for="fiok-jelszo" { "Új jelszó (legalább " (MIN_PASSWORD_CHARS) " karakter)" }
                input id="fiok-jelszo" name="password" type="password" autocomplete="new-password" minlength=(MIN_PASSWORD_CHARS);
            }
            button type="submit" { "Mentés" }
        }
    };
    page_response(
        StatusCode::OK,
        pages::page("Operátorok", Nav::Accounts, Some(&v), body),
    )
}

#[derive(Deserialize)]
pub struct SaveForm {
    #[serde(default)]
    csrf: String,
    name: String,
    #[serde(default)]
    display: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /operatorok`.
pub async fn save<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<SaveForm>,
) -> Response {
    let who = match admin_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let name = f.name.trim().to_lowercase();
    let change = AccountChange {
        name: name.clone(),
        display: Some(f.display.trim().to_owned()).filter(|d| !d.is_empty()),
        remote: match f.location.as_str() {
            "remote" => Some(true),
            "on_site" => Some(false),
            _ => None,
        },
        admin: match f.role.as_str() {
            "admin" => Some(true),
            "operator" => Some(false),
            _ => None,
        },
        password: Some(f.password).filter(|p| !p.is_empty()),
    };
    let new_password = change.password.is_some();
    match c.daemon.account_save(change).await {
        Ok(added) => {
            info!(account = %who.account.name, operator = %name, added, new_password,
                  "operator account saved in the console");
            let ok = if added { "uj" } else { "mentve" };
            secure(Redirect::to(&format!("/operatorok?ok={ok}")).into_response())
        }
        Err(e) => {
            info!(account = %who.account.name, operator = %name, "operator account not saved: {e}");
            let enc = pages::query_value(&e);
            secure(Redirect::to(&format!("/operatorok?hiba={enc}")).into_response())
        }
    }
}
