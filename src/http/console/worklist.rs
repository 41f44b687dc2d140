//! `/visszahivasok`: callbacks and voice messages that someone must deal with.
//!
//! One entry per caller number however often they called (the store merges them); each
//! entry is claimed by one operator, carries a note, and is closed as done. Voice messages
//! play in the browser from `/hangposta/{id}`.

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tracing::info;

use super::pages::{self, Nav};
use super::{Console, Who, html as page_response, secure, to_login, who, who_posting};
use crate::http::daemon::Daemon;
use crate::store::{ClaimResult, ReleaseResult, WorkItem, WorkKind};

/// Unix milliseconds as a Budapest date and time.
pub fn when(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| {
            t.to_zoned_datetime(crate::clock::tz())
                .strftime("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_default()
}

fn kinds_hu(kinds: &[WorkKind]) -> String {
    kinds
        .iter()
        .map(|k| match k {
            WorkKind::Callback => "visszahívást kért",
            WorkKind::VoiceMessage => "hangüzenetet hagyott",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// One entry with its actions.
pub fn item(w: &WorkItem, me: &str, csrf: &str, label: &dyn Fn(&str) -> String) -> Markup {
    let heading = if w.hidden {
        "Rejtett szám".to_owned()
    } else {
        crate::phone::for_people(&w.number)
    };
    let action = |path: &str, text: &str| {
        html! {
            form method="post" action=(format!("/visszahivasok/{}/{path}", w.id)) {
                input type="hidden" name="csrf" value=(csrf);
                button type="submit" { (text) " " span.sr-only { "(" (heading) ")" } }
            }
        }
    };
    html! {
        article.work aria-labelledby=(format!("tetel-{}", w.id)) {
            h2 id=(format!("tetel-{}", w.id)) { (heading) }
            dl {
                dt { "Mit kért" } dd { (kinds_hu(&w.kinds)) }
                dt { "Hányszor" } dd { (w.count) " alkalommal, először " (when(w.first_ms)) ", utoljára " (when(w.last_ms)) }
                dt { "Honnan jött" } dd { (label(&w.path)) }
                dt { "Kié" } dd id=(format!("tulajdonos-{}", w.id)) {
                    @match &w.owner { None => "még senkié", Some(o) if o == me => "az enyém", Some(o) => (o) }
                }
                @if w.done {
                    dt { "Elintézve" } dd { (w.done_by.as_deref().unwrap_or("")) ", " (w.done_ms.map(when).unwrap_or_default()) }
                }
            }
            @for id in &w.voice_messages {
                p {
                    span id=(format!("hang-{id}")) { "Hangüzenet" }
                    " "
                    audio controls preload="none" src=(format!("/hangposta/{id}")) aria-labelledby=(format!("hang-{id}")) {
                        a href=(format!("/hangposta/{id}")) { "A hangüzenet letöltése" }
                    }
                }
            }
            @if !w.done {
                div.actions {
                    @match &w.owner {
                        None => (action("vallalom", "Magamra vállalom")),
                        Some(o) if o == me => (action("visszaadom", "Visszaadom")),
                        Some(_) => {},
                    }
                    (action("kesz", "Elintézve"))
                }
                form method="post" action=(format!("/visszahivasok/{}/megjegyzes", w.id)) {
                    input type="hidden" name="csrf" value=(csrf);
                    div.field {
                        label for=(format!("megj-{}", w.id)) { "Megjegyzés" }
                        textarea id=(format!("megj-{}", w.id)) name="note" rows="2" { (w.note) }
                    }
                    button type="submit" { "Megjegyzés mentése " span.sr-only { "(" (heading) ")" } }
                }
            } @else if !w.note.is_empty() {
                p { "Megjegyzés: " (w.note) }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    mind: Option<String>,
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    hiba: Option<String>,
}

/// `GET /visszahivasok[?mind=1]`.
pub async fn list<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let Some((who, _)) = who(&c, &headers).await else {
        return to_login();
    };
    let all = q.mind.is_some();
    let items = match c.daemon.worklist(all).await {
        Ok(i) => i,
        Err(e) => {
            tracing::error!("worklist not read: {e}");
            Vec::new()
        }
    };
    let open = items.iter().filter(|i| !i.done).count() as u64;
    let d = Arc::clone(&c.daemon);
    let label = move |p: &str| d.path_label(p);
    let notice = match q.ok.as_deref() {
        Some("vallalom") => Some("Magára vállalta."),
        Some("visszaadom") => Some("Visszaadta; most bárki vállalhatja."),
        Some("kesz") => Some("Elintézettnek jelölte."),
        Some("megjegyzes") => Some("A megjegyzést elmentettük."),
        _ => None,
    };
    let error = match q.hiba.as_deref() {
        Some("mas") => Some("Ezt a tételt közben egy kolléga vállalta."),
        Some("nincs") => Some("Nincs ilyen tétel."),
        Some("kesz") => Some("Ez a tétel már el van intézve."),
        _ => None,
    };
    let v = who.viewer(open);
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        p {
            (open) " nyitott tétel. "
            @if all { a href="/visszahivasok" { "Csak a nyitottak" } }
            @else { a href="/visszahivasok?mind=1" { "Az elintézettek is" } }
        }
        @if items.is_empty() { p { "Nincs visszahívandó hívó és nincs meghallgatatlan hangüzenet." } }
        @for w in &items { (item(w, &who.account.name, &who.csrf, &label)) }
    };
    page_response(
        StatusCode::OK,
        pages::page("Visszahívások", Nav::Worklist, Some(&v), body),
    )
}

#[derive(Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    note: String,
}

/// `POST /visszahivasok/{id}/{vallalom|visszaadom|kesz|megjegyzes}`.
pub async fn act<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Path((id, action)): Path<(u64, String)>,
    Form(f): Form<ActionForm>,
) -> Response {
    let (who, _): (Who, String) = match who_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let me = who.account.name.clone();
    let outcome: Result<Result<(), &str>, String> = match action.as_str() {
        "vallalom" => c.daemon.work_claim(id, me.clone()).await.map(|r| match r {
            ClaimResult::Claimed => Ok(()),
            ClaimResult::AlreadyOwnedBy(_) => Err("mas"),
            ClaimResult::NotFound => Err("nincs"),
            ClaimResult::Done => Err("kesz"),
        }),
        "visszaadom" => c
            .daemon
            .work_release(id, me.clone())
            .await
            .map(|r| match r {
                ReleaseResult::Released | ReleaseResult::NotClaimed => Ok(()),
                ReleaseResult::OwnedBy(_) => Err("mas"),
                ReleaseResult::NotFound => Err("nincs"),
                ReleaseResult::Done => Err("kesz"),
            }),
        "kesz" => c.daemon.work_done(id, me.clone()).await.map(|r| match r {
            Some(true) => Ok(()),
            Some(false) => Err("kesz"),
            None => Err("nincs"),
        }),
        "megjegyzes" => {
            let note: String = f.note.trim().chars().take(2000).collect();
            c.daemon
                .work_note(id, note, me.clone())
                .await
                .map(|found| if found { Ok(()) } else { Err("nincs") })
        }
        _ => Ok(Err("nincs")),
    };
    match outcome {
        Ok(Ok(())) => {
            info!(account = %me, item = id, action = %action, "worklist entry changed in the console");
            secure(Redirect::to(&format!("/visszahivasok?ok={action}")).into_response())
        }
        Ok(Err(why)) => secure(Redirect::to(&format!("/visszahivasok?hiba={why}")).into_response()),
        Err(e) => {
            tracing::error!("worklist entry {id} not changed: {e}");
            secure(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "belső hiba, próbálja újra",
                )
                    .into_response(),
            )
        }
    }
}

/// `GET /hangposta/{id}`: the voice message's WAV, for the page's audio player.
pub async fn voice<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Path(id): Path<u64>,
) -> Response {
    let Some((who, _)) = who(&c, &headers).await else {
        return secure(StatusCode::UNAUTHORIZED.into_response());
    };
    let file = match c.daemon.voice_messages(true).await {
        Ok(list) => list.into_iter().find(|m| m.id == id).map(|m| m.file),
        Err(e) => {
            tracing::error!("voice messages not read: {e}");
            None
        }
    };
    let Some(file) = file else {
        return secure((StatusCode::NOT_FOUND, "nincs ilyen hangüzenet").into_response());
    };
    let path = file.clone();
    match tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())))
    {
        Ok(bytes) => {
            info!(account = %who.account.name, message = id, "voice message played in the console");
            let mut r = secure(bytes.into_response());
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
            r
        }
        Err(e) => {
            tracing::error!("voice message {id} not read from {file}: {e}");
            secure((StatusCode::NOT_FOUND, "a hangfájl nem olvasható").into_response())
        }
    }
}
