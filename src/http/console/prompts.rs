//! `/hangok`: the voice prompts for admins: every prompt with its text, played in the
//! browser; a studio recording uploaded to replace one (any WAV rate, checked before it
//! replaces anything, in force at once); and the text of every prompt still in the
//! synthetic voice, as one file for the studio.

use std::sync::Arc;

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;
use tracing::info;

use super::gate::{admin, admin_posting};
use super::pages::{self, Nav};
use super::{Console, html as page_response, secure};
use crate::http::daemon::{Daemon, PromptInfo};

/// Largest upload accepted (a minute of 48 kHz stereo 16-bit is 11 MB).
pub const MAX_UPLOAD: usize = 16 * 1024 * 1024;

#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    ok: Option<String>,
    #[serde(default)]
    hiba: Option<String>,
}

async fn list_of<D: Daemon>(d: &Arc<D>) -> Vec<PromptInfo> {
    let d = Arc::clone(d);
    tokio::task::spawn_blocking(move || d.prompts())
        .await
        .unwrap_or_default()
}

/// `GET /hangok`.
pub async fn list<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let who = match admin(&c, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let prompts = list_of(&c.daemon).await;
    let synthetic = prompts.iter().filter(|p| p.synthetic).count();
    let open = c.live.borrow().open_work;
    let v = who.viewer(open);
    let body = html! {
        @if let Some(id) = q.ok.as_deref() { p.notice role="status" { "Az új felvétel él: „" (id) "”. A következő hívások már ezt hallják." } }
        @if let Some(e) = q.hiba.as_deref() { p.error role="alert" { "Nem cseréltük le: " (e) } }
        p {
            (prompts.len()) " hang, ebből " (synthetic) " még gépi hangon szól. "
            a href="/hangok/gepi-szovegek.txt" download { "A gépi hangok szövege a stúdiónak (szövegfájl)" }
        }
        h2 id="csere-cim" { "Felvétel cseréje" }
        form method="post" action="/hangok" enctype="multipart/form-data" aria-labelledby="csere-cim" {
            input type="hidden" name="csrf" value=(v.csrf);
            div.field {
                label for="hang-id" { "Melyik hang" }
                select id="hang-id" name="id" required {
                    @for p in &prompts { option value=(p.id) { (p.id) " – " (p.text) } }
                }
            }
            div.field {
                label for="hang-fajl" { "A felvétel (WAV, bármilyen mintavétellel)" }
                input id="hang-fajl" name="wav" type="file" accept=".wav,audio/wav" required;
            }
            button type="submit" { "Feltöltés és csere" }
        }
        table {
            caption { "Hangok" }
            thead { tr { th scope="col" { "Azonosító" } th scope="col" { "Szöveg" } th scope="col" { "Hossz" } th scope="col" { "Hang" } th scope="col" { "Meghallgatás" } } }
            tbody {
                @for p in &prompts {
                    tr {
                        td { (p.id) }
                        td { (p.text) }
                        td { (format!("{:.1}", p.seconds).replace('.', ",")) " mp" }
                        td { @if p.synthetic { "gépi" } @else { "felvétel" } }
                        td { audio controls preload="none" src=(format!("/hangok/{}.wav", p.id)) aria-label=(format!("{} meghallgatása", p.id)) {} }
                    }
                }
            }
        }
    };
    page_response(
        StatusCode::OK,
        pages::page("Hangok", Nav::Prompts, Some(&v), body),
    )
}

/// `GET /hangok/{id}.wav`.
pub async fn wav<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Path(file): Path<String>,
) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let Some(path) = file
        .strip_suffix(".wav")
        .and_then(|id| c.daemon.prompt_file(id))
    else {
        return secure((StatusCode::NOT_FOUND, "nincs ilyen hang").into_response());
    };
    match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
        Ok(Ok(bytes)) => {
            let mut r = secure(bytes.into_response());
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
            r
        }
        _ => secure((StatusCode::NOT_FOUND, "a hangfájl nem olvasható").into_response()),
    }
}

/// `GET /hangok/gepi-szovegek.txt`: id, file and text of every synthetic prompt.
pub async fn synthetic_texts<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
) -> Response {
    if let Err(r) = admin(&c, &headers).await {
        return r;
    }
    let mut out = String::from(
        "# A még gépi hangon szóló hangok szövege: azonosító, majd a felmondandó szöveg.\n",
    );
    for p in list_of(&c.daemon).await.iter().filter(|p| p.synthetic) {
        out.push_str(&format!("{}\t{}\n", p.id, p.text));
    }
    let mut r = secure(out.into_response());
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"gepi-hangok.txt\""),
    );
    r
}

fn back_with(key: &str, value: &str) -> Response {
    let enc = pages::query_value(value);
    secure(Redirect::to(&format!("/hangok?{key}={enc}")).into_response())
}

/// `POST /hangok` (multipart: `csrf`, `id`, `wav`).
pub async fn upload<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Response {
    let (mut csrf, mut id, mut wav) = (String::new(), String::new(), Vec::new());
    loop {
        match form.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or("").to_owned();
                let Ok(bytes) = field.bytes().await else {
                    return back_with("hiba", "a feltöltés megszakadt vagy túl nagy");
                };
                match name.as_str() {
                    "csrf" => csrf = String::from_utf8_lossy(&bytes).into_owned(),
                    "id" => id = String::from_utf8_lossy(&bytes).into_owned(),
                    "wav" => wav = bytes.to_vec(),
                    _ => {}
                }
            }
            Ok(None) => break,
            Err(_) => return back_with("hiba", "a feltöltés megszakadt vagy túl nagy"),
        }
    }
    let who = match admin_posting(&c, &headers, &csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    if wav.is_empty() {
        return back_with("hiba", "nem jött fájl");
    }
    let size = wav.len();
    match c.daemon.prompt_upload(id.clone(), wav).await {
        Ok(()) => {
            info!(account = %who.account.name, prompt = %id, bytes = size, "prompt recording replaced in the console");
            back_with("ok", &id)
        }
        Err(e) => {
            info!(account = %who.account.name, prompt = %id, "prompt recording refused: {e}");
            back_with("hiba", &e)
        }
    }
}
