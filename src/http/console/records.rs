//! Call records in the console: the admin's search (by day, number, outcome) with a CSV
//! download, a caller's earlier contacts beside the operator's current call, and today's
//! numbers on the wallboard.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::pages::{self, Nav};
use super::worklist::when;
use super::{Console, html as page_response, secure};
use crate::cdr::{Contacts, RecordQuery, RecordRow, ServiceLevel};
use crate::http::daemon::Daemon;
use crate::outcome::Outcome;

/// Every outcome a call record can have, as the outcome filter offers them: the word the
/// records, metrics and logs use (the option's value, the CSV's column) and its Hungarian
/// label (what the admin reads), both from [`Outcome`].
pub fn outcome_choices() -> impl Iterator<Item = (&'static str, &'static str)> {
    Outcome::ALL.into_iter().map(|o| (o.as_str(), o.label_hu()))
}

#[derive(Deserialize, Default, Clone)]
pub struct SearchQuery {
    #[serde(default)]
    nap: String,
    #[serde(default)]
    szam: String,
    #[serde(default)]
    kimenet: String,
}

impl SearchQuery {
    fn to_query(&self, limit: u32) -> Result<RecordQuery, String> {
        let day = match self.nap.trim() {
            "" => None,
            d => Some(
                d.parse::<jiff::civil::Date>()
                    .map_err(|_| format!("a nap ÉÉÉÉ-HH-NN alakú legyen, nem „{d}”"))?,
            ),
        };
        let outcome = match self.kimenet.trim() {
            "" => None,
            o => Some(Outcome::parse(o).map_err(|_| format!("ismeretlen kimenet: „{o}”"))?),
        };
        Ok(RecordQuery {
            day,
            number: Some(self.szam.trim().to_owned()).filter(|s| !s.is_empty()),
            outcome,
            limit,
        })
    }

    fn query_string(&self) -> String {
        let enc = pages::query_value;
        format!(
            "nap={}&szam={}&kimenet={}",
            enc(&self.nap),
            enc(&self.szam),
            enc(&self.kimenet)
        )
    }
}

/// Runs `f` on the call-record database, off the async threads.
async fn with_records<D: Daemon, T: Send + 'static>(
    d: &Arc<D>,
    f: impl FnOnce(&crate::cdr::Records) -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    let d = Arc::clone(d);
    tokio::task::spawn_blocking(move || d.records().and_then(|r| f(&r)))
        .await
        .map_err(|e| e.to_string())?
}

/// `GET /hivasnaplo`.
pub async fn search<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    let who = match super::gate::admin(&c, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let result = match q.to_query(200) {
        Ok(rq) => with_records(&c.daemon, move |r| r.search(&rq)).await,
        Err(e) => Err(e),
    };
    let d = Arc::clone(&c.daemon);
    let label = move |p: &str| d.path_label(p);
    let open = c.live.borrow().open_work;
    let v = who.viewer(open);
    let body = html! {
        form method="get" action="/hivasnaplo" {
            div.field { label for="nap" { "Nap (ÉÉÉÉ-HH-NN)" } input id="nap" name="nap" type="date" value=(q.nap); }
            div.field { label for="szam" { "Telefonszám vagy részlete" } input id="szam" name="szam" type="text" value=(q.szam); }
            div.field {
                label for="kimenet" { "Kimenet" }
                select id="kimenet" name="kimenet" {
                    option value="" { "mind" }
                    @for (k, hu) in outcome_choices() { option value=(k) selected[q.kimenet == k] { (hu) } }
                }
            }
            button type="submit" { "Keresés" }
        }
        p { a href=(format!("/hivasnaplo.csv?{}", q.query_string())) download { "Letöltés CSV-ben (ugyanezek a szűrők)" } }
        @match &result {
            Err(e) => p.error role="alert" { (e) },
            Ok(rows) => (table(rows, &label)),
        }
    };
    page_response(
        StatusCode::OK,
        pages::page("Hívásnapló", Nav::Records, Some(&v), body),
    )
}

fn table(rows: &[RecordRow], label: &dyn Fn(&str) -> String) -> Markup {
    html! {
        @if rows.is_empty() { p { "Nincs ilyen hívás." } }
        @else {
            table {
                caption { (rows.len()) " hívás, a legújabb elöl" }
                thead { tr {
                    th scope="col" { "Kezdete" } th scope="col" { "Hívó" } th scope="col" { "Útvonal" }
                    th scope="col" { "Várt" } th scope="col" { "Ügyintéző" } th scope="col" { "Kimenet" } th scope="col" { "Nyomtatványok" }
                } }
                tbody {
                    @for r in rows {
                        tr {
                            td { (when(r.record.start.as_millisecond())) }
                            td { @if r.pseudonymized { "(álnevesítve)" } @else { (crate::phone::for_people(&r.record.caller)) } }
                            td { (label(&r.record.path)) }
                            td { (r.record.queue_wait_s.map(|s| format!("{s} mp")).unwrap_or_default()) }
                            td { (r.record.operator.as_deref().unwrap_or("")) }
                            td { (r.record.outcome.label_hu()) }
                            td { (r.record.forms.join(", ")) }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /hivasnaplo.csv`: the same search as CSV (the `ugyelet cdr export` columns).
pub async fn csv<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    let who = match super::gate::admin(&c, &headers).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let rq = match q.to_query(crate::cdr::MAX_LIMIT) {
        Ok(rq) => rq,
        Err(e) => return secure((StatusCode::BAD_REQUEST, e).into_response()),
    };
    match with_records(&c.daemon, move |r| {
        let mut out = Vec::new();
        r.search_csv(&rq, &mut out).map(|_| out)
    })
    .await
    {
        Ok(bytes) => {
            tracing::info!(account = %who.account.name, "call records downloaded from the console");
            let mut r = secure(bytes.into_response());
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            h.insert(
                header::CONTENT_DISPOSITION,
                HeaderValue::from_static("attachment; filename=\"hivasnaplo.csv\""),
            );
            r
        }
        Err(e) => secure((StatusCode::INTERNAL_SERVER_ERROR, e).into_response()),
    }
}

/// A caller's contacts in the last 30 days, beside the current call.
pub async fn contacts_of<D: Daemon>(d: &Arc<D>, number: String) -> Markup {
    if number.is_empty() {
        return html! { p { "Rejtett számról hív: korábbi hívásai nem kereshetők." } };
    }
    let since = d
        .now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * 30))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let n = number.clone();
    let found = with_records(d, move |r| r.contacts(&n, since)).await;
    let sent = d
        .outbox(None, 500)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.recipient == number && r.created_ms >= since.as_millisecond())
        .count();
    let label = |p: &str| d.path_label(p);
    match found {
        Err(e) => html! { p.error { "A korábbi hívások nem olvashatók: " (e) } },
        Ok(c) => contacts_markup(&c, sent, &label),
    }
}

fn contacts_markup(c: &Contacts, messages_sent: usize, label: &dyn Fn(&str) -> String) -> Markup {
    html! {
        p {
            "Az elmúlt 30 napban: " (c.total) " hívás, " (c.voice_messages) " hangüzenet, "
            (c.callbacks) " visszahíváskérés, " (c.forms) " nyomtatvány a hívások alatt; "
            (messages_sent) " üzenetet küldtünk erre a számra."
        }
        @if !c.calls.is_empty() {
            ul {
                @for k in c.calls.iter().take(5) {
                    li {
                        (when(k.start.as_millisecond())) ": " (k.outcome.label_hu()) " – " (label(&k.path))
                        @if !k.forms.is_empty() { " (nyomtatvány: " (k.forms.join(", ")) ")" }
                    }
                }
            }
        }
    }
}

/// Today's calls by outcome and the share answered within 60 s, for the wallboard.
pub async fn today<D: Daemon>(d: &Arc<D>) -> Markup {
    let now = d.now();
    let midnight = now
        .to_zoned_datetime(crate::clock::tz())
        .start_of_day()
        .map(|z| z.timestamp())
        .unwrap_or(now);
    let stats = with_records(d, move |r| {
        Ok((
            r.outcomes_since(midnight)?,
            r.answered_within(midnight, 60)?,
        ))
    })
    .await;
    match stats {
        Err(e) => html! { p.error { "A mai hívások nem olvashatók: " (e) } },
        Ok((outcomes, level)) => today_markup(&outcomes, level),
    }
}

fn today_markup(outcomes: &[(Outcome, u64)], level: ServiceLevel) -> Markup {
    let total: u64 = outcomes.iter().map(|(_, n)| n).sum();
    html! {
        div.stats {
            div.stat { strong { (total) } "hívás ma" }
            div.stat {
                strong { (level.share().map_or_else(|| "–".to_owned(), |s| format!("{:.0} %", s * 100.0))) }
                "60 mp-en belül felvéve (" (level.answered_within) " / " (level.queued) " sorba került hívás)"
            }
        }
        @if !outcomes.is_empty() {
            table {
                caption { "A mai hívások kimenet szerint" }
                thead { tr { th scope="col" { "Kimenet" } th scope="col" { "Hívás" } } }
                tbody { @for (o, n) in outcomes { tr { td { (o.label_hu()) } td { (n) } } } }
            }
        }
    }
}
