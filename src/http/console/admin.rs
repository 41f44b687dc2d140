//! The supervisor's and admin's pages: the wallboard and the settings (manual override,
//! the dial plan served, reload, the simulator). Operators get 403 here.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use tracing::info;

use super::board::{Board, location_hu, state_hu, wait_hu};
use super::gate::{admin, admin_posting};
use super::pages::{self, Nav};
use super::{Console, Who, html as page_response, secure};
use crate::dialplan::calendar::{ManualMode, ManualOverride, manual, tz};
use crate::http::daemon::Daemon;

/// `GET /felugyelet`: the wallboard.
pub async fn wallboard<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
) -> Response {
    let who = match admin(&c, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let board = Board::from_json(&c.daemon.operators());
    let open = c.live.borrow().open_work;
    let today = super::records::today(&c.daemon).await;
    let body = html! {
        div id="falitabla" data-region { (wall(&board)) }
        h2 { "Ma" }
        (today)
    };
    page_response(
        StatusCode::OK,
        pages::page("Felügyelet", Nav::Wallboard, Some(&who.viewer(open)), body),
    )
}

/// The wallboard's live part.
pub fn wall(board: &Board) -> Markup {
    let count = |s: &str| board.operators.iter().filter(|o| o.state == s).count();
    let longest = board.waiting.iter().map(|w| w.waited_s).max();
    html! {
        div.stats {
            div.stat { strong { (board.waiting.len()) } "várakozó hívó" }
            div.stat { strong { (longest.map_or_else(|| "–".to_owned(), wait_hu)) } "leghosszabb várakozás" }
            div.stat { strong { (count("available")) } "szabad operátor" }
            div.stat { strong { (count("on_call") + count("ringing")) } "hívásban" }
            div.stat { strong { (count("paused")) } "szünetel" }
        }
        h2 { "Operátorok" }
        table {
            caption { "Operátorok állapota és helye" }
            thead { tr { th scope="col" { "Név" } th scope="col" { "Hol" } th scope="col" { "Állapot" } th scope="col" { "Telefon" } } }
            tbody {
                @for o in &board.operators {
                    tr {
                        td { (o.name) }
                        td { (location_hu(&o.location)) }
                        td {
                            @if o.logged_out { "kilépett a sorból" } @else { (state_hu(&o.state)) }
                            @if let Some(r) = &o.pause_reason { " (" (r) ")" }
                        }
                        td { @if o.reachable { "regisztrálva" } @else { "nincs regisztrálva" } }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct SimQuery {
    #[serde(default)]
    at: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    keys: String,
    #[serde(default)]
    ok: Option<String>,
}

/// `GET /beallitasok`: manual override, the dial plan served, reload, the simulator.
pub async fn settings<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<SimQuery>,
) -> Response {
    let who = match admin(&c, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let notice = match q.ok.as_deref() {
        Some("felulbiralas") => Some("A kézi felülbírálást elmentettük; azonnal érvényes."),
        Some("ujratoltes") => Some("A hívásterv újratöltve; az új hívások már ezt kapják."),
        _ => None,
    };
    render_settings(&c, &who, &q, notice, None, StatusCode::OK).await
}

async fn render_settings<D: Daemon>(
    c: &Console<D>,
    who: &Who,
    q: &SimQuery,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let serving = c.daemon.serving();
    let reload = c.daemon.reload_status();
    let manual_now = c.daemon.manual_override();
    let from = q.from.clone().unwrap_or_else(|| "+36301234567".to_owned());
    let transcript = if q.from.is_some() {
        let d = Arc::clone(&c.daemon);
        let (at, from, keys) = (q.at.clone(), from.clone(), q.keys.clone());
        Some(
            tokio::task::spawn_blocking(move || d.simulate(&at, &from, &keys))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r),
        )
    } else {
        None
    };
    let (mode, until, reason) = match &manual_now {
        None => ("auto", String::new(), String::new()),
        Some(m) => (
            match m.mode {
                ManualMode::Open => "open",
                ManualMode::Closed => "closed",
            },
            m.until
                .map(|t| {
                    t.to_zoned_datetime(tz())
                        .strftime("%Y-%m-%d %H:%M")
                        .to_string()
                })
                .unwrap_or_default(),
            m.reason.clone().unwrap_or_default(),
        ),
    };
    let open = c.live.borrow().open_work;
    let v = who.viewer(open);
    let body = html! {
        @if let Some(n) = notice { p.notice role="status" { (n) } }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        section aria-labelledby="felulbiralas-cim" {
            h2 id="felulbiralas-cim" { "Kézi felülbírálás" }
            p {
                "Most: " strong { (match mode { "open" => "kézzel nyitva", "closed" => "kézzel zárva", _ => "a naptár szerint" }) }
                @if !until.is_empty() { ", eddig: " (until) }
                @if !reason.is_empty() { " – " (reason) }
            }
            form method="post" action="/beallitasok/felulbiralas" {
                input type="hidden" name="csrf" value=(v.csrf);
                fieldset {
                    legend { "A vonal" }
                    @for (value, label) in [("auto", "a naptár szerint"), ("open", "nyitva"), ("closed", "zárva")] {
                        label { input type="radio" name="mode" value=(value) checked[mode == value]; " " (label) }
                        " "
                    }
                }
                div.field {
                    label for="meddig" { "Meddig (ÉÉÉÉ-HH-NN ÓÓ:PP, üresen: visszavonásig)" }
                    input id="meddig" name="until" type="text" value=(until) placeholder="2026-12-24 18:00";
                }
                div.field {
                    label for="ok" { "Indok" }
                    input id="ok" name="reason" type="text" value=(reason);
                }
                button type="submit" { "Mentés" }
            }
        }
        section aria-labelledby="hivasterv-cim" {
            h2 id="hivasterv-cim" { "Hívásterv" }
            dl {
                dt { "Fájl" } dd { (serving.source) }
                dt { "Verzió" } dd { (serving.version) }
                dt { "Csomópontok" } dd { (serving.nodes) }
                dt { "Hangfájlok" } dd { (serving.prompts) }
                dt { "Újratöltések" } dd { (reload.attempts) " (ebből elutasítva: " (reload.failures) ")" }
            }
            @if !reload.last_errors.is_empty() {
                h3 { "Az utolsó újratöltés hibái (a régi terv maradt érvényben)" }
                ul.errors { @for e in &reload.last_errors { li { code { (e) } } } }
            }
            @if !serving.warnings.is_empty() {
                h3 { "Figyelmeztetések" }
                ul { @for w in &serving.warnings { li { code { (w) } } } }
            }
            form method="post" action="/beallitasok/ujratoltes" {
                input type="hidden" name="csrf" value=(v.csrf);
                button type="submit" { "Újratöltés most" }
            }
        }
        section aria-labelledby="szimulator-cim" {
            h2 id="szimulator-cim" { "Szimulátor" }
            p { "Mit hallana egy hívó a most érvényes hívástervvel: a kézi felülbírálást is figyelembe veszi." }
            form method="get" action="/beallitasok" {
                div.field {
                    label for="sim-ido" { "Időpont (ÉÉÉÉ-HH-NN ÓÓ:PP, üresen: most)" }
                    input id="sim-ido" name="at" type="text" value=(q.at) placeholder="2026-12-08 16:30";
                }
                div.field {
                    label for="sim-szam" { "A hívó száma (vagy anonymous)" }
                    input id="sim-szam" name="from" type="text" value=(from);
                }
                div.field {
                    label for="sim-gombok" { "Lenyomott gombok sorban (pl. 1,2)" }
                    input id="sim-gombok" name="keys" type="text" value=(q.keys);
                }
                button type="submit" { "Szimuláció" }
            }
            @match &transcript {
                Some(Ok(lines)) => {
                    h3 { "Átirat" }
                    pre id="atirat" { @for l in lines { (l) "\n" } }
                },
                Some(Err(e)) => p.error role="alert" { "Az időpont hibás: " (e) },
                None => {},
            }
        }
    };
    page_response(
        status,
        pages::page("Beállítások", Nav::Settings, Some(&v), body),
    )
}

#[derive(Deserialize)]
pub struct OverrideForm {
    #[serde(default)]
    csrf: String,
    mode: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    reason: String,
}

fn parse_override(f: &OverrideForm) -> Result<Option<ManualOverride>, String> {
    let mode = manual::parse_mode(&f.mode).map_err(|e| format!("Hibás mód: {e}"))?;
    let until = Some(f.until.trim())
        .filter(|s| !s.is_empty())
        .map(manual::parse_until)
        .transpose()
        .map_err(|e| format!("Hibás időpont: {e}"))?;
    if let Some(t) = until
        && let Err(e) = manual::until_after(t, crate::clock::civil_now().timestamp())
    {
        return Err(format!(
            "A „meddig” időpont ({}) már elmúlt: most {} van (budapesti idő).",
            e.until, e.now
        ));
    }
    let reason = Some(f.reason.trim().to_owned()).filter(|r| !r.is_empty());
    Ok(mode.map(|mode| ManualOverride {
        mode,
        until,
        reason,
    }))
}

/// `POST /beallitasok/felulbiralas`.
pub async fn set_override<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<OverrideForm>,
) -> Response {
    let who = match admin_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let parsed = parse_override(&f).and_then(|value| {
        c.daemon
            .set_manual_override(value)
            .map_err(|e| format!("Nem sikerült menteni: {e}"))
    });
    if let Err(msg) = parsed {
        let q = SimQuery::default();
        return render_settings(&c, &who, &q, None, Some(&msg), StatusCode::BAD_REQUEST).await;
    }
    info!(account = %who.account.name, mode = %f.mode, "manual override set in the console");
    secure(Redirect::to("/beallitasok?ok=felulbiralas").into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /beallitasok/ujratoltes`.
pub async fn reload<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let who = match admin_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let d = Arc::clone(&c.daemon);
    let result = tokio::task::spawn_blocking(move || d.reload("console")).await;
    info!(account = %who.account.name, ok = matches!(result, Ok(Ok(_))), "reload asked in the console");
    match result {
        Ok(Ok(_)) => secure(Redirect::to("/beallitasok?ok=ujratoltes").into_response()),
        Ok(Err(errors)) => {
            let msg = format!(
                "Az újratöltést elutasítottuk, a régi hívásterv maradt érvényben ({} hiba, lent).",
                errors.len()
            );
            render_settings(
                &c,
                &who,
                &SimQuery::default(),
                None,
                Some(&msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => {
            let msg = format!("Belső hiba: {e}");
            render_settings(
                &c,
                &who,
                &SimQuery::default(),
                None,
                Some(&msg),
                StatusCode::INTERNAL_SERVER_ERROR,
            )
            .await
        }
    }
}
