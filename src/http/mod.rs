//! The HTTP admin API (JSON), on 127.0.0.1 unless configured otherwise.
//!
//! | method | path            | what                                                     |
//! |--------|-----------------|----------------------------------------------------------|
//! | GET    | `/api/status`   | plan version and source, reload errors, calendar warnings, manual override |
//! | POST   | `/api/reload`   | reload plan, calendar and prompts now; 422 with every error if refused |
//! | GET    | `/api/override` | the manual override (`{"mode":"auto"}` when none)        |
//! | PUT    | `/api/override` | `{"mode":"open"|"closed"|"auto","until":"2026-12-24 18:00","reason":"…"}` |
//! | GET    | `/api/calls`    | calls in progress: id, caller, start, plan version       |
//! | POST   | `/api/calls/{id}/forms` | `{"form":"lakcim","channel":"sms"\|"email","to":"…"}`: 202 `{"id":…,"created":…,"call":…}` once the message is durably queued, and the call's record lists the form; the call may be in progress or have ended in the last 15 minutes; 404 unknown call; 400 bad form, channel or address; 429 SMS limit; 503 channel not configured |
//! | GET    | `/api/callbacks` | `?days=N` (default 7): `calls`, the calls of those days nobody took (abandoned in the queue, no operator, a callback asked for), and `jobs`, the callback jobs (open ones, and finished ones of those days) with their attempts and outcomes |
//! | POST   | `/api/callbacks` | `{"number":"06 30 123 4567"}`: a callback on an operator's word, merged into the number's open job; 201 with the job |
//! | DELETE | `/api/callbacks/{id}` | withdraw a waiting job: 200, 409 when it is not waiting (being called, finished, unknown) |
//! | GET    | `/api/messages` | voice messages and callback requests not yet done (`?all=1`: every one): caller, time, menu path, length, WAV file, the office email's state |
//! | POST   | `/api/messages/{id}/done` | mark one handled: 200, 404 unknown, 409 already done |
//! | GET    | `/api/outbox`   | messages (`?state=queued\|sending\|sent\|delivered\|failed`, `&limit=100`), newest last, with recipients and last errors |
//! | GET    | `/metrics`      | Prometheus text format                                   |
//! | GET    | `/healthz`      | 200 `ok` while serving (SIP bound, plan loaded); 503 `draining` during shutdown; no token needed |
//!
//! With `admin.token` set, every request needs `Authorization: Bearer <token>`.
//!
//! The same listener serves the web console ([`console`]): pages for people, who log in
//! with their operator account instead of a token.
//!
//! Both HTTP listeners (this one and the public one of [`forms`]) are served by
//! [`serve::serve`] behind a [`guard::Guard`]: header timeout and size limits, path
//! checks, body limits, a request timeout, the public side's rate limit, and security
//! headers on every response. Every refusal is logged and counted by reason
//! (`ugyelet_http_refused_total`).

pub mod console;
pub mod daemon;
pub mod forms;
pub mod guard;
pub mod ratelimit;
pub mod serve;
pub mod twilio;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::acd::AgentOp;
use crate::dialplan::calendar::{ManualMode, ManualOverride, manual, tz};
use crate::metrics::http::{Listener, Refusal};
use daemon::AgentOpError;
pub use daemon::{Daemon, FormFor};

/// Serves the admin API on `listener` behind `guard` until the task is dropped.
pub async fn serve<D: Daemon>(
    listener: tokio::net::TcpListener,
    shared: Arc<D>,
    guard: Arc<guard::Guard>,
) {
    let app = Router::new()
        .route("/api/status", get(status::<D>))
        .route("/api/reload", post(reload::<D>))
        .route("/api/override", get(get_override::<D>).put(put_override))
        .route("/api/calls", get(calls::<D>))
        .route("/api/operators", get(operators::<D>))
        .route(
            "/api/callbacks",
            get(callbacks::<D>).post(callback_request::<D>),
        )
        .route(
            "/api/callbacks/{id}",
            axum::routing::delete(callback_cancel::<D>),
        )
        .route("/api/operators/{name}/{action}", post(operator_action::<D>))
        .route("/api/calls/{id}/forms", post(send_form::<D>))
        .route("/api/outbox", get(outbox::<D>))
        .route("/api/messages", get(messages::<D>))
        .route("/api/messages/{id}/done", post(message_done::<D>))
        .route("/metrics", get(metrics::<D>))
        .route("/healthz", get(healthz::<D>))
        .with_state(Arc::clone(&shared))
        .merge(console::router(console::Console::start(shared)));
    serve::serve(listener, app, guard).await;
}

fn authorized<D: Daemon>(shared: &D, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some(token) = shared.admin_token().filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Compared without an early exit so the time taken says nothing about the token.
    let ok = given.is_some_and(|g| console::auth::same(g, token));
    if ok {
        Ok(())
    } else {
        shared
            .http_refusals()
            .count(Listener::Admin, Refusal::BadToken);
        tracing::warn!(
            given = given.is_some(),
            "admin API request refused with 401: missing or wrong bearer token"
        );
        let denied = (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "missing or wrong bearer token"})),
        );
        Err(Box::new(denied.into_response()))
    }
}

fn override_json(m: Option<&ManualOverride>) -> Value {
    match m {
        None => json!({"mode": "auto"}),
        Some(m) => json!({
            "mode": match m.mode { ManualMode::Open => "open", ManualMode::Closed => "closed" },
            "until": m.until.map(|t| t.to_zoned_datetime(tz()).strftime("%Y-%m-%d %H:%M").to_string()),
            "reason": m.reason,
        }),
    }
}

async fn status<D: Daemon>(State(shared): State<Arc<D>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let live = shared.serving();
    Json(json!({
        "plan": {
            "source": live.source,
            "version": live.version,
            "nodes": live.nodes,
        },
        "prompts": live.prompts,
        "warnings": live.warnings,
        "reload": shared.reload_status(),
        "override": override_json(shared.manual_override().as_ref()),
        "trunk": shared.trunk(),
    }))
    .into_response()
}

async fn calls<D: Daemon>(State(shared): State<Arc<D>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    Json(json!({ "calls": shared.calls() })).into_response()
}

async fn operators<D: Daemon>(State(shared): State<Arc<D>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    Json(shared.operators()).into_response()
}

/// `GET /api/callbacks[?days=N]`: calls of the last N days (default 7) that nobody took:
/// abandoned in the queue, no operator, or a callback or message asked for (`calls`); and
/// the callback jobs, open or finished in those days, with their attempts (`jobs`).
async fn callbacks<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let days_param = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("days="));
    let days: i64 = match days_param.map(str::parse::<i64>) {
        None => 7,
        Some(Ok(d)) if (1..=3660).contains(&d) => d,
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": "days: expected a number of days from 1 to 3660"})),
            )
                .into_response();
        }
    };
    let since = shared
        .now()
        .checked_sub(jiff::SignedDuration::from_hours(24 * days))
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    let d = Arc::clone(&shared);
    let result = tokio::task::spawn_blocking(move || d.to_call_back(since)).await;
    let jobs = match shared.callback_jobs(since).await {
        Ok(jobs) => jobs.iter().map(job_json).collect::<Vec<_>>(),
        Err(e) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response();
        }
    };
    match result {
        Ok(Ok(calls)) => Json(json!({ "calls": calls, "jobs": jobs })).into_response(),
        Ok(Err(e)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

#[derive(Deserialize, Default)]
struct PauseRequest {
    reason: Option<String>,
}

/// `POST /api/operators/{name}/login|logout|pause|unpause` (pause takes `{"reason": …}`).
/// A callback job as the API shows it: the job, its number grouped for people, and its
/// times also as RFC 3339 (UTC).
fn job_json(job: &crate::callback::Job) -> Value {
    let mut v = serde_json::to_value(job).unwrap_or(Value::Null);
    let at = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| t.to_string())
            .unwrap_or_default()
    };
    v["number_display"] = crate::phone::for_people(&job.number).into();
    v["due"] = at(job.due_ms).into();
    v["created"] = at(job.created_ms).into();
    v
}

#[derive(Deserialize)]
struct CallbackRequest {
    number: String,
}

/// `POST /api/callbacks`: a callback on an operator's word.
async fn callback_request<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let err = |code: StatusCode, msg: String| (code, Json(json!({"error": msg}))).into_response();
    let req: CallbackRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return err(
                StatusCode::BAD_REQUEST,
                format!("body: expected {{\"number\": \"…\"}}, found an error: {e}"),
            );
        }
    };
    let Some(number) = crate::phone::normalize(&req.number) else {
        return err(
            StatusCode::BAD_REQUEST,
            format!(
                "number: expected a phone number such as 06 30 123 4567, found \"{}\"",
                req.number
            ),
        );
    };
    match shared.callback_request(number).await {
        Ok(job) => {
            tracing::info!(job = job.id, "callback requested through the admin API");
            (StatusCode::CREATED, Json(job_json(&job))).into_response()
        }
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `DELETE /api/callbacks/{id}`: withdraw a waiting job.
async fn callback_cancel<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<u64>,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    match shared.callback_cancel(id).await {
        Ok(true) => Json(json!({"id": id, "state": "cancelled"})).into_response(),
        Ok(false) => (
            StatusCode::CONFLICT,
            Json(json!({"error": format!("callback {id}: expected a waiting job, found none (unknown, finished, or being called)")})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": "stopping"})),
        )
            .into_response(),
    }
}

async fn operator_action<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    axum::extract::Path((name, action)): axum::extract::Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let err = |code: StatusCode, msg: String| (code, Json(json!({"error": msg}))).into_response();
    let op = match action.as_str() {
        "login" => AgentOp::Login,
        "logout" => AgentOp::Logout,
        "unpause" => AgentOp::Unpause,
        "pause" => {
            let req: PauseRequest = if body.is_empty() {
                PauseRequest::default()
            } else {
                match serde_json::from_slice(&body) {
                    Ok(r) => r,
                    Err(e) => return err(StatusCode::BAD_REQUEST, format!("body: {e}")),
                }
            };
            AgentOp::Pause(req.reason.unwrap_or_else(|| "admin".to_owned()))
        }
        other => {
            return err(
                StatusCode::NOT_FOUND,
                format!("expected login, logout, pause or unpause, found \"{other}\""),
            );
        }
    };
    match shared.agent_op(name.clone(), op).await {
        Ok(()) => {
            tracing::info!(operator = %name, action = %action, "operator state set through the admin API");
            Json(json!({"operator": name, "done": action})).into_response()
        }
        Err(AgentOpError::Unknown(e)) => err(StatusCode::NOT_FOUND, e),
        Err(AgentOpError::Unavailable) => {
            err(StatusCode::SERVICE_UNAVAILABLE, "stopping".to_owned())
        }
    }
}

async fn metrics<D: Daemon>(State(shared): State<Arc<D>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let body = shared.metrics().await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        body,
    )
        .into_response()
}

/// Liveness for load balancers and systemd: the admin API only starts once SIP listens and
/// the plan is loaded, so reaching it means serving, unless draining.
async fn healthz<D: Daemon>(State(shared): State<Arc<D>>) -> Response {
    if shared.draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else {
        (StatusCode::OK, "ok\n").into_response()
    }
}

async fn reload<D: Daemon>(State(shared): State<Arc<D>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let s = Arc::clone(&shared);
    // Decoding prompts and parsing files is blocking work: keep it off the async threads.
    match tokio::task::spawn_blocking(move || s.reload("admin API")).await {
        Ok(Ok(version)) => Json(json!({"version": version})).into_response(),
        Ok(Err(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"errors": errors})),
        )
            .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": e.to_string()})),
        )
            .into_response(),
    }
}

async fn get_override<D: Daemon>(State(shared): State<Arc<D>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    Json(override_json(shared.manual_override().as_ref())).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideRequest {
    mode: String,
    until: Option<String>,
    reason: Option<String>,
}

async fn put_override<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    body: Result<Json<OverrideRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let bad = |msg: String| (StatusCode::BAD_REQUEST, Json(json!({"error": msg}))).into_response();
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return bad(e.body_text()),
    };
    let mode = match manual::parse_mode(&req.mode) {
        Ok(m) => m,
        Err(e) => return bad(format!("mode: {e}")),
    };
    let until = match req.until.as_deref().map(manual::parse_until).transpose() {
        Ok(u) => u,
        Err(e) => return bad(format!("until: {e}")),
    };
    if let Some(t) = until
        && let Err(e) = manual::until_after(t, crate::clock::civil_now().timestamp())
    {
        return bad(format!("until: {e}"));
    }
    let value = mode.map(|mode| ManualOverride {
        mode,
        until,
        reason: req.reason,
    });
    if let Err(e) = shared.set_manual_override(value.clone()) {
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": e}))).into_response();
    }
    tracing::info!(mode = %req.mode, "manual override set through the admin API");
    Json(override_json(value.as_ref())).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FormRequest {
    form: String,
    channel: String,
    to: String,
}

fn error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

/// An operator sends a form during a call; the caller dictates the address.
async fn send_form<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Result<Json<FormRequest>, axum::extract::rejection::JsonRejection>,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let call = id
        .parse::<u64>()
        .ok()
        .and_then(|id| shared.form_call(&FormFor::Call(id)));
    let Some(call) = call else {
        return error(
            StatusCode::NOT_FOUND,
            format!(
                "no call {id} in progress or ended in the last {} minutes (GET /api/calls lists the calls in progress)",
                crate::cdr::LATE_FORM_WINDOW.as_secs() / 60
            ),
        );
    };
    let Json(req) = match body {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Some(channel) = crate::store::Channel::parse(&req.channel) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!(
                "channel: expected \"sms\" or \"email\", found {:?}",
                req.channel
            ),
        );
    };
    // Sending the same form to the same address during one call is one message, however
    // often the operator clicks.
    let to = req.to.trim().to_lowercase();
    let key = crate::notify::outbox::derive_key(&[
        &call.sip_call_id,
        "operator",
        &req.form,
        channel.as_str(),
        &crate::phone::normalize(&to).unwrap_or(to.clone()),
    ]);
    match shared
        .send_form(key, &req.form, channel, &to, Some(call.clone()))
        .await
    {
        Ok(e) => {
            tracing::info!(
                call = call.id,
                call_ended = call.ended,
                id = e.id,
                created = e.created,
                "operator sent a form"
            );
            (
                StatusCode::ACCEPTED,
                Json(json!({"id": e.id, "created": e.created, "call": call.id})),
            )
                .into_response()
        }
        Err(e) => error(
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            e.message,
        ),
    }
}

/// The outbox for admins: what was sent, what is pending, what failed and why.
async fn outbox<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let mut state = None;
    let mut limit = 100u32;
    for (k, v) in forms::parse_form(uri.query().unwrap_or("")) {
        match k.as_str() {
            "state" => match crate::notify::outbox::State::parse(&v) {
                Some(s) => state = Some(s),
                None => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "state: expected queued, sending, sent, delivered or failed, found {v:?}"
                        ),
                    );
                }
            },
            "limit" => match v.parse::<u32>() {
                Ok(n) if (1..=10_000).contains(&n) => limit = n,
                _ => {
                    return error(
                        StatusCode::BAD_REQUEST,
                        format!("limit: expected 1 to 10000, found {v:?}"),
                    );
                }
            },
            other => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown parameter {other:?} (known: state, limit)"),
                );
            }
        }
    }
    match shared.outbox(state, limit).await {
        Ok(rows) => {
            let list: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id,
                        "channel": r.channel.as_str(),
                        "recipient": r.recipient,
                        "form": r.form_id,
                        "state": r.state.as_str(),
                        "attempts": r.attempts,
                        "last_error": r.last_error,
                        "provider_id": r.provider_id,
                        "created_ms": r.created_ms,
                        "updated_ms": r.updated_ms,
                        "downloads": r.downloads,
                    })
                })
                .collect();
            Json(json!({"messages": list})).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// Voice messages and callback requests for the office.
async fn messages<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let all = forms::parse_form(uri.query().unwrap_or(""))
        .iter()
        .any(|(k, v)| k == "all" && (v == "1" || v == "true"));
    match shared.voice_messages(all).await {
        Ok(list) => {
            let list: Vec<Value> = list
                .iter()
                .map(|m| {
                    json!({
                        "id": m.id,
                        "caller": m.caller,
                        "created": jiff::Timestamp::from_millisecond(m.created_ms)
                            .map(|t| t.to_zoned_datetime(tz()).strftime("%Y-%m-%d %H:%M:%S").to_string())
                            .unwrap_or_default(),
                        "menu_path": m.menu_path,
                        "seconds": m.seconds,
                        "file": m.file,
                        "email": m.outbox_id,
                        "done": m.done_ms.is_some(),
                    })
                })
                .collect();
            Json(json!({ "messages": list })).into_response()
        }
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

async fn message_done<D: Daemon>(
    State(shared): State<Arc<D>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    if let Err(r) = authorized(shared.as_ref(), &headers) {
        return *r;
    }
    let Ok(n) = id.parse::<u64>() else {
        return error(
            StatusCode::NOT_FOUND,
            format!("expected a message id, found {id:?}"),
        );
    };
    match shared.voice_message_done(n).await {
        Ok(Some(true)) => {
            tracing::info!(id = n, "voice message marked done");
            Json(json!({"id": n, "done": true})).into_response()
        }
        Ok(Some(false)) => error(StatusCode::CONFLICT, format!("message {n} is already done")),
        Ok(None) => error(StatusCode::NOT_FOUND, format!("no voice message {n}")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
