//! The operators' and admins' web console, served by the daemon on the admin listener.
//!
//! | method | path                 | who      | what                                          |
//! |--------|----------------------|----------|-----------------------------------------------|
//! | GET    | `/`                  | anyone   | to the duty page, or to the login page         |
//! | GET    | `/belepes`           | anyone   | login form                                     |
//! | POST   | `/belepes`           | anyone   | log in (SIP account name and password)         |
//! | POST   | `/kilepes`           | session  | log out                                        |
//! | GET    | `/ugyelet`           | operator | my state, waiting callers, my call, send forms |
//! | POST   | `/ugyelet/allapot`   | operator | log in/out of the queue, pause, back           |
//! | POST   | `/ugyelet/kuldes`    | operator | send a form by SMS or email (into my call's record) |
//! | GET    | `/esemenyek`         | session  | live updates (Server-Sent Events)              |
//! | GET    | `/tudasbazis[?q=]`   | operator | knowledge base: search, every article          |
//! | GET    | `/tudasbazis/{slug}` | operator | one article, its forms, send it as a link      |
//! | GET    | `/visszahivasok`     | operator | callbacks and voice messages: claim, note, done |
//! | POST   | `/visszahivasok/{id}/{vallalom,visszaadom,kesz,megjegyzes}` | operator | claim, release, done, note |
//! | GET    | `/hangposta/{id}`    | operator | a voice message's WAV                          |
//! | GET    | `/felugyelet`        | admin    | wallboard: operators, waiting callers          |
//! | GET    | `/hivasnaplo`        | admin    | call records by day, number, outcome           |
//! | GET    | `/hivasnaplo.csv`    | admin    | the same as CSV                                |
//! | GET    | `/operatorok`        | admin    | operator accounts                              |
//! | POST   | `/operatorok`        | admin    | add an account, new password, location, role   |
//! | GET    | `/hangok`            | admin    | prompts: text, play, which are still synthetic |
//! | POST   | `/hangok`            | admin    | replace a prompt with a recording (multipart)  |
//! | GET    | `/hangok/{id}.wav`   | admin    | a prompt's WAV                                 |
//! | GET    | `/hangok/gepi-szovegek.txt` | admin | the texts of the synthetic prompts         |
//! | GET    | `/beallitasok`       | admin    | manual override, dial plan, reload, simulator  |
//! | POST   | `/beallitasok/felulbiralas` | admin | set the manual override                    |
//! | POST   | `/beallitasok/ujratoltes`   | admin | reload the dial plan now                   |
//! | GET    | `/static/…`          | anyone   | the stylesheet and the script                  |
//!
//! Sessions, CSRF and the cross-site check are in [`auth`]; login throttling in
//! [`throttle`]; the HTML in [`pages`]. The console talks to the daemon only through
//! [`Daemon`], like the JSON API.
//!
//! Live updates: one task samples the board, the outbox and the worklist every
//! [`TICK`] and publishes a snapshot when something changed; each open page holds an
//! event stream that re-renders its regions from the snapshot for its viewer. The browser's
//! `EventSource` reconnects by itself, so a page recovers when the daemon restarts (the
//! session is in the store, not in memory).

pub mod accounts;
pub mod admin;
pub mod auth;
pub mod board;
pub mod gate;
pub mod knowledge;
pub mod pages;
pub mod prompts;
pub mod records;
pub mod throttle;
pub mod worklist;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::Markup;
use serde::Deserialize;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::acd::AgentOp;
use crate::http::daemon::{Account, Daemon};
use crate::http::guard::client_addr;
use crate::metrics::http::{Listener, Refusal};
use crate::store::{Channel, Row};
use board::Board;
use pages::Viewer;

/// How often the live snapshot is sampled: updates reach pages well within a second.
pub const TICK: Duration = Duration::from_millis(250);

/// What every page's live regions are rendered from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub board: Board,
    /// Recent outbox rows sent from the console (newest last).
    pub sent: Vec<Row>,
    pub open_work: u64,
}

/// The console's state: the daemon and what the console keeps itself.
pub struct Console<D> {
    daemon: Arc<D>,
    throttle: Mutex<throttle::Throttle>,
    live: watch::Receiver<Arc<Snapshot>>,
}

impl<D: Daemon> Console<D> {
    /// The console for `daemon`, with its live-update task started.
    pub fn start(daemon: Arc<D>) -> Arc<Self> {
        let (tx, rx) = watch::channel(Arc::new(Snapshot::default()));
        let d = Arc::clone(&daemon);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(TICK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                tick.tick().await;
                n += 1;
                // Once a minute, sessions idle or old beyond the settings are deleted.
                if n % 240 == 1 {
                    match d.sessions_expire().await {
                        Ok(0) => {}
                        Ok(k) => info!(sessions = k, "console sessions expired"),
                        Err(e) => warn!("console sessions not expired: {e}"),
                    }
                }
                let snap = snapshot(d.as_ref()).await;
                tx.send_if_modified(|old| {
                    if **old == snap {
                        false
                    } else {
                        *old = Arc::new(snap);
                        true
                    }
                });
                if tx.is_closed() && tx.receiver_count() == 0 {
                    break;
                }
            }
        });
        Arc::new(Console {
            daemon,
            throttle: Mutex::new(throttle::Throttle::default()),
            live: rx,
        })
    }
}

async fn snapshot<D: Daemon>(d: &D) -> Snapshot {
    let board = Board::from_json(&d.operators());
    let sent = d
        .outbox(None, 500)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.key.starts_with("console:"))
        .collect();
    Snapshot {
        board,
        sent,
        open_work: d.work_open_count().await.unwrap_or(0),
    }
}

/// The console's routes.
pub fn router<D: Daemon>(console: Arc<Console<D>>) -> Router {
    Router::new()
        .route("/", get(root::<D>))
        .route("/belepes", get(login_page::<D>).post(login::<D>))
        .route("/kilepes", post(logout::<D>))
        .route("/ugyelet", get(duty::<D>))
        .route("/ugyelet/allapot", post(set_state::<D>))
        .route("/ugyelet/kuldes", post(send::<D>))
        .route("/esemenyek", get(events::<D>))
        .route("/tudasbazis", get(knowledge::index::<D>))
        .route("/tudasbazis/{slug}", get(knowledge::article::<D>))
        .route("/visszahivasok", get(worklist::list::<D>))
        .route("/visszahivasok/{id}/{action}", post(worklist::act::<D>))
        .route("/hangposta/{id}", get(worklist::voice::<D>))
        .route("/felugyelet", get(admin::wallboard::<D>))
        .route("/beallitasok", get(admin::settings::<D>))
        .route("/hivasnaplo", get(records::search::<D>))
        .route(
            "/operatorok",
            get(accounts::list::<D>).post(accounts::save::<D>),
        )
        .route(
            "/hangok",
            get(prompts::list::<D>)
                .post(prompts::upload::<D>)
                .layer(axum::extract::DefaultBodyLimit::max(prompts::MAX_UPLOAD)),
        )
        .route(
            "/hangok/gepi-szovegek.txt",
            get(prompts::synthetic_texts::<D>),
        )
        .route("/hangok/{file}", get(prompts::wav::<D>))
        .route("/hivasnaplo.csv", get(records::csv::<D>))
        .route("/beallitasok/felulbiralas", post(admin::set_override::<D>))
        .route("/beallitasok/ujratoltes", post(admin::reload::<D>))
        .route("/static/console.css", get(css))
        .route("/static/console.js", get(js))
        .with_state(console)
}

/// A logged-in person.
struct Who {
    account: Account,
    csrf: String,
}

impl Who {
    fn viewer(&self, open_work: u64) -> Viewer<'_> {
        Viewer {
            account: &self.account,
            csrf: &self.csrf,
            open_work,
        }
    }
}

/// Security headers on every console response.
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; media-src 'self'; img-src 'self' data:; object-src 'none'; \
             base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn html(status: StatusCode, m: Markup) -> Response {
    secure((status, m).into_response())
}

fn to_login() -> Response {
    secure(Redirect::to("/belepes").into_response())
}

/// The session behind the request's cookie, if it is valid; refreshes its last use.
async fn who<D: Daemon>(c: &Console<D>, headers: &HeaderMap) -> Option<(Who, String)> {
    let token = auth::cookie(headers, auth::SESSION_COOKIE)?;
    let hash = auth::token_hash(token);
    let rec = c.daemon.session(hash.clone()).await.ok()??;
    let s = c.daemon.console_settings();
    let now = c.daemon.now().as_millisecond();
    if !auth::session_alive(
        rec.created_ms,
        rec.last_seen_ms,
        now,
        s.idle_timeout_s,
        s.max_age_s,
    ) {
        let _ = c.daemon.session_delete(hash).await;
        info!(account = %rec.account, "console session ended: idle or too old");
        return None;
    }
    let Some(account) = c.daemon.account(&rec.account) else {
        let _ = c.daemon.session_delete(hash).await;
        info!(account = %rec.account, "console session ended: the account is gone");
        return None;
    };
    // One write a minute is enough to keep the idle clock honest.
    if now - rec.last_seen_ms > 60_000 {
        let _ = c.daemon.session_touch(hash.clone()).await;
    }
    Some((
        Who {
            account,
            csrf: rec.csrf,
        },
        hash,
    ))
}

/// For a state-changing request: the session, its CSRF token checked, and not cross-site.
async fn who_posting<D: Daemon>(
    c: &Console<D>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(Who, String), Response> {
    let Some((who, hash)) = who(c, headers).await else {
        return Err(to_login());
    };
    if auth::cross_site(headers) || !auth::same(csrf, &who.csrf) {
        c.daemon
            .http_refusals()
            .count(Listener::Admin, Refusal::Csrf);
        warn!(account = %who.account.name, "console request refused: missing or wrong CSRF token");
        let page = pages::refusal(
            "Elutasított kérés",
            "A kérés nem ebből a munkafelületből érkezett (hiányzó vagy hibás biztonsági kód). Töltse be újra az oldalt, és próbálja újra.",
            None,
        );
        return Err(html(StatusCode::FORBIDDEN, page));
    }
    Ok((who, hash))
}

async fn root<D: Daemon>(State(c): State<Arc<Console<D>>>, headers: HeaderMap) -> Response {
    match who(&c, &headers).await {
        Some(_) => secure(Redirect::to("/ugyelet").into_response()),
        None => to_login(),
    }
}

fn login_form(
    message: Option<&str>,
    name: &str,
    status: StatusCode,
    secure_cookie: bool,
) -> Response {
    let token = auth::new_token();
    let mut r = html(status, pages::login(&token, message, name));
    if let Ok(v) = HeaderValue::from_str(&auth::set_cookie(
        auth::LOGIN_COOKIE,
        &token,
        3600,
        secure_cookie,
    )) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

async fn login_page<D: Daemon>(State(c): State<Arc<Console<D>>>, headers: HeaderMap) -> Response {
    if who(&c, &headers).await.is_some() {
        return secure(Redirect::to("/ugyelet").into_response());
    }
    login_form(
        None,
        "",
        StatusCode::OK,
        c.daemon.console_settings().secure_cookies,
    )
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

async fn login<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let settings = c.daemon.console_settings();
    let secure_cookie = settings.secure_cookies;
    let addr = client_addr(peer, &headers, settings.secure_cookies);
    let double_submit = auth::cookie(&headers, auth::LOGIN_COOKIE).unwrap_or("");
    if auth::cross_site(&headers) || f.csrf.is_empty() || !auth::same(&f.csrf, double_submit) {
        c.daemon
            .http_refusals()
            .count(Listener::Admin, Refusal::Csrf);
        warn!(src = %addr, "console login refused: missing or wrong CSRF token");
        return login_form(
            Some("A belépési űrlap lejárt vagy nem innen érkezett. Próbálja újra."),
            "",
            StatusCode::FORBIDDEN,
            secure_cookie,
        );
    }
    let name = f.name.trim().to_lowercase();
    let now_ms = u64::try_from(c.daemon.now().as_millisecond()).unwrap_or(0);
    let blocked = lock(&c.throttle).check(addr, &name, now_ms);
    if let Err(b) = blocked {
        c.daemon
            .http_refusals()
            .count(Listener::Admin, Refusal::LoginThrottled);
        let minutes = b.wait_ms.div_ceil(60_000);
        warn!(account = %name, src = %addr, by_account = b.by_account, wait_s = b.wait_ms / 1000,
              "console login throttled after failed passwords");
        return login_form(
            Some(&format!(
                "Túl sok sikertelen belépési kísérlet. Próbálja újra {minutes} perc múlva."
            )),
            &name,
            StatusCode::TOO_MANY_REQUESTS,
            secure_cookie,
        );
    }
    let Some(account) = c.daemon.check_password(&name, &f.password) else {
        lock(&c.throttle).failed(addr, &name, now_ms);
        c.daemon
            .http_refusals()
            .count(Listener::Admin, Refusal::LoginFailed);
        warn!(account = %name, src = %addr, "console login refused: wrong name or password");
        return login_form(
            Some("Hibás felhasználónév vagy jelszó."),
            &name,
            StatusCode::UNAUTHORIZED,
            secure_cookie,
        );
    };
    lock(&c.throttle).succeeded(addr, &name);
    let token = auth::new_token();
    if let Err(e) = c
        .daemon
        .session_create(auth::token_hash(&token), &account, auth::new_token())
        .await
    {
        warn!("console login failed: session not stored: {e}");
        return login_form(
            Some("A belépés most nem sikerült (belső hiba). Próbálja újra."),
            &name,
            StatusCode::INTERNAL_SERVER_ERROR,
            secure_cookie,
        );
    }
    info!(account = %account.name, admin = account.admin, src = %addr, "console login");
    let mut r = secure(Redirect::to("/ugyelet").into_response());
    for cookie in [
        auth::set_cookie(
            auth::SESSION_COOKIE,
            &token,
            settings.max_age_s,
            secure_cookie,
        ),
        auth::set_cookie(auth::LOGIN_COOKIE, "", 0, secure_cookie),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    r
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The throttle table is consistent after every statement; a panic elsewhere cannot
    // leave it half-written.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

async fn logout<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let (who, hash) = match who_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let _ = c.daemon.session_delete(hash).await;
    info!(account = %who.account.name, "console logout");
    let mut r = to_login();
    let cookie = auth::set_cookie(
        auth::SESSION_COOKIE,
        "",
        0,
        c.daemon.console_settings().secure_cookies,
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

#[derive(Deserialize, Default)]
struct DutyQuery {
    #[serde(default)]
    ok: Option<String>,
    /// A knowledge-base search beside the call.
    #[serde(default)]
    q: Option<String>,
    /// Preselect this item in the send form.
    #[serde(default)]
    kuld: Option<String>,
    /// The call an operator's phone linked to (`Call-Info` of a call to an operator); text,
    /// so a mangled link still opens the page.
    #[serde(default)]
    hivas: Option<String>,
}

async fn duty<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<DutyQuery>,
) -> Response {
    let Some((who, _)) = who(&c, &headers).await else {
        return to_login();
    };
    let notice = match q.ok.as_deref() {
        Some("kuldes") => Some("Az üzenetet sorba állítottuk; az állapota alább látszik."),
        Some("allapot") => Some("Az állapota megváltozott."),
        // The screen-pop link of a call: the page shows the call while it is this
        // operator's or waiting; otherwise it says where the call went.
        _ => q.hivas.as_deref().and_then(|call| {
            // A mangled id names no call: the page says the call is over.
            let call = call.trim().parse().unwrap_or(u64::MAX);
            Board::from_json(&c.daemon.operators()).linked_call_notice(&who.account.name, call)
        }),
    };
    let view = DutyView {
        q: q.q.unwrap_or_default(),
        selected: q.kuld,
    };
    render_duty(&c, &who, notice, None, StatusCode::OK, &view).await
}

/// What the duty page was asked to show besides the live parts.
#[derive(Default)]
struct DutyView {
    q: String,
    selected: Option<String>,
}

async fn render_duty<D: Daemon>(
    c: &Console<D>,
    who: &Who,
    notice: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
    view: &DutyView,
) -> Response {
    let snap = Arc::clone(&c.live.borrow());
    // The page may be the first thing after a state change: read the board fresh.
    let board = Board::from_json(&c.daemon.operators());
    let kb = c.daemon.knowledge();
    let forms = pages::send_choices(&c.daemon.form_choices(), &kb);
    let sent = mine(&snap.sent, &who.account.name);
    let d = Arc::clone(&c.daemon);
    let label = move |p: &str| d.path_label(p);
    let nonce = auth::new_token();
    let q = view.q.trim();
    let hits = (!q.is_empty()).then(|| kb.search(q, knowledge::HITS));
    let knowledge_box = knowledge::search_box("/ugyelet", q, hits.as_deref());
    let contacts = contacts(c, &board, &who.account.name).await;
    let page = pages::duty(
        &who.viewer(snap.open_work),
        &pages::DutyPage {
            board: &board,
            forms: &forms,
            sent: &sent,
            label: &label,
            notice,
            error,
            nonce: &nonce,
            contacts,
            selected: view.selected.as_deref(),
            knowledge: knowledge_box,
        },
    );
    html(status, page)
}

/// The number of `account`'s current caller, if on a call (empty for a hidden number).
fn current_caller(board: &Board, account: &str) -> Option<String> {
    board
        .operator(account)
        .and_then(|o| o.current_call.as_ref())
        .map(|c| c.caller.clone())
}

/// The earlier contacts of `account`'s current caller.
async fn contacts<D: Daemon>(c: &Console<D>, board: &Board, account: &str) -> Markup {
    match current_caller(board, account) {
        None => {
            maud::html! { p { "Hívás közben itt látszanak a hívó korábbi hívásai és üzenetei." } }
        }
        Some(number) => records::contacts_of(&c.daemon, number).await,
    }
}

/// The console-sent rows of `account`, newest first, at most ten.
fn mine(rows: &[Row], account: &str) -> Vec<Row> {
    let prefix = format!("console:{account}:");
    rows.iter()
        .rev()
        .filter(|r| r.key.starts_with(&prefix))
        .take(10)
        .cloned()
        .collect()
}

#[derive(Deserialize)]
struct StateForm {
    #[serde(default)]
    csrf: String,
    action: String,
    #[serde(default)]
    reason: Option<String>,
}

async fn set_state<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<StateForm>,
) -> Response {
    let (who, _) = match who_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let op = match f.action.as_str() {
        "login" => AgentOp::Login,
        "logout" => AgentOp::Logout,
        "unpause" => AgentOp::Unpause,
        "pause" => {
            let reason = f
                .reason
                .map(|r| r.trim().chars().take(60).collect::<String>())
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "szünet".to_owned());
            AgentOp::Pause(reason)
        }
        _ => {
            return render_duty(
                &c,
                &who,
                None,
                Some("Ismeretlen művelet."),
                StatusCode::BAD_REQUEST,
                &DutyView::default(),
            )
            .await;
        }
    };
    match c.daemon.agent_op(who.account.name.clone(), op).await {
        Ok(()) => {
            info!(account = %who.account.name, action = %f.action, "operator state set in the console");
            secure(Redirect::to("/ugyelet?ok=allapot").into_response())
        }
        Err(e) => {
            let msg = match e {
                crate::http::daemon::AgentOpError::Unknown(_) => {
                    "Ez a fiók nem szerepel a sor operátorai között."
                }
                crate::http::daemon::AgentOpError::Unavailable => {
                    "A szolgáltatás most áll le vagy indul; próbálja újra egy perc múlva."
                }
            };
            render_duty(
                &c,
                &who,
                None,
                Some(msg),
                StatusCode::SERVICE_UNAVAILABLE,
                &DutyView::default(),
            )
            .await
        }
    }
}

#[derive(Deserialize)]
struct SendForm {
    #[serde(default)]
    csrf: String,
    /// One submission of the form: a second click sends nothing twice.
    #[serde(default)]
    nonce: String,
    item: String,
    channel: String,
    to: String,
}

async fn send<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Form(f): Form<SendForm>,
) -> Response {
    let (who, _) = match who_posting(&c, &headers, &f.csrf).await {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Some(channel) = Channel::parse(&f.channel) else {
        return render_duty(
            &c,
            &who,
            None,
            Some("Válassza ki, SMS-ben vagy e-mailben küldjük."),
            StatusCode::BAD_REQUEST,
            &DutyView::default(),
        )
        .await;
    };
    let nonce: String = f
        .nonce
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if nonce.len() < 16 {
        return render_duty(
            &c,
            &who,
            None,
            Some("Az űrlap hiányos; töltse be újra az oldalt."),
            StatusCode::BAD_REQUEST,
            &DutyView::default(),
        )
        .await;
    }
    let key = format!("console:{}:{nonce}", who.account.name);
    // The form goes into the record of the call the operator is on, or has just finished.
    let call = c
        .daemon
        .form_call(&crate::http::FormFor::Operator(who.account.name.clone()));
    let call_id = call.as_ref().map(|t| t.id);
    match c
        .daemon
        .send_form(key, &f.item, channel, f.to.trim(), call)
        .await
    {
        Ok(q) => {
            info!(account = %who.account.name, form = %f.item, channel = channel.as_str(),
                  outbox_id = q.id, created = q.created, call = ?call_id, "form sent from the console");
            secure(Redirect::to("/ugyelet?ok=kuldes").into_response())
        }
        Err(refused) => {
            let status = StatusCode::from_u16(refused.status).unwrap_or(StatusCode::BAD_REQUEST);
            let msg = format!("Nem küldtük el: {}", refused.message);
            let view = DutyView {
                q: String::new(),
                selected: Some(f.item.clone()),
            };
            render_duty(&c, &who, None, Some(&msg), status, &view).await
        }
    }
}

/// The regions of the duty page for `who`, as the live stream sends them.
fn regions<D: Daemon>(
    c: &Console<D>,
    who: &Who,
    snap: &Snapshot,
    contacts: &str,
) -> serde_json::Value {
    let d = Arc::clone(&c.daemon);
    let label = move |p: &str| d.path_label(p);
    let forms = pages::send_choices(&c.daemon.form_choices(), &c.daemon.knowledge());
    let sent = mine(&snap.sent, &who.account.name);
    serde_json::json!({
        "allapotom": pages::my_state(&snap.board, &who.account, &who.csrf).into_string(),
        "hivasom": pages::my_call(&snap.board, &who.account, &label).into_string(),
        "varakozok": pages::waiting(&snap.board, &label).into_string(),
        "kollegak": pages::colleagues(&snap.board).into_string(),
        "kuldeseim": pages::my_messages(&sent, &forms).into_string(),
        "munkalista-szam": snap.open_work.to_string(),
        "falitabla": admin::wall(&snap.board).into_string(),
        "elozmenyek": contacts,
    })
}

/// `GET /esemenyek`: the live regions whenever the snapshot changes, and an announcement
/// for screen readers when a new caller starts waiting.
async fn events<D: Daemon>(State(c): State<Arc<Console<D>>>, headers: HeaderMap) -> Response {
    let Some((who, _)) = who(&c, &headers).await else {
        return secure(StatusCode::UNAUTHORIZED.into_response());
    };
    let mut rx = c.live.clone();
    let console = Arc::clone(&c);
    let stream = async_stream(move |tx| async move {
        let mut waiting_before: Option<usize> = None;
        // The first message is sampled now: the shared snapshot may be a tick older than
        // the page that just loaded, and must not show it an older state.
        rx.borrow_and_update();
        let mut fresh = Some(Arc::new(snapshot(console.daemon.as_ref()).await));
        // The caller's earlier contacts are read from the records only when the caller
        // changes, not on every update.
        let mut caller: Option<Option<String>> = None;
        let mut contacts_html = String::new();
        loop {
            let snap = match fresh.take() {
                Some(s) => s,
                None => Arc::clone(&rx.borrow_and_update()),
            };
            let now_caller = current_caller(&snap.board, &who.account.name);
            if caller.as_ref() != Some(&now_caller) {
                contacts_html = contacts(&console, &snap.board, &who.account.name)
                    .await
                    .into_string();
                caller = Some(now_caller);
            }
            let mut msg = serde_json::json!({
                "regions": regions(&console, &who, &snap, &contacts_html)
            });
            let waiting_now = snap.board.waiting.len();
            if let Some(before) = waiting_before
                && waiting_now > before
                && let Some(w) = snap.board.waiting.last()
            {
                msg["announce"] = serde_json::Value::String(format!(
                    "Új hívó várakozik: {}. Összesen {waiting_now} várakozó.",
                    console.daemon.path_label(&w.path)
                ));
            }
            waiting_before = Some(waiting_now);
            let ev = Event::default().event("frissites").data(msg.to_string());
            if tx.send(Ok(ev)).await.is_err() {
                return;
            }
            if rx.changed().await.is_err() {
                return;
            }
        }
    });
    secure(
        Sse::new(stream)
            .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
            .into_response(),
    )
}

/// A stream fed by a task: the task ends when the page goes away (the send fails).
fn async_stream<F, Fut>(
    f: F,
) -> impl futures_core::Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(f(tx));
    ReceiverStream(rx)
}

struct ReceiverStream(tokio::sync::mpsc::Receiver<Result<Event, Infallible>>);

impl futures_core::Stream for ReceiverStream {
    type Item = Result<Event, Infallible>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("assets/console.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=300"),
        ],
        include_str!("assets/console.js"),
    )
        .into_response()
}
