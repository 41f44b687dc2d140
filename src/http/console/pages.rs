//! The console's HTML, rendered on the server (maud escapes every interpolated value).
//!
//! Every page has the same frame: a skip link, a banner with the navigation (the open
//! worklist count on every page), one `main` landmark with a single `h1`, and a polite
//! live region that announces new waiting callers to screen readers. Forms work without
//! JavaScript (POST, then a redirect back); the script only keeps the live regions fresh.
//! The parts that change while a page is open are *regions*: rendered here both for the
//! first page and for every live update, so the two cannot drift apart.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::board::{Board, location_hu, state_hu, wait_hu};
use crate::http::daemon::{Account, FormChoice};
use crate::notify::outbox::State as OutboxState;
use crate::store::{Channel, Row};

/// The pages in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Duty,
    Worklist,
    Knowledge,
    Wallboard,
    Records,
    Accounts,
    Prompts,
    Settings,
    Login,
}

/// What the frame needs to know about who is looking.
pub struct Viewer<'a> {
    pub account: &'a Account,
    pub csrf: &'a str,
    pub open_work: u64,
}

const NAV: [(Nav, &str, &str, bool); 8] = [
    (Nav::Duty, "/ugyelet", "Ügyelet", false),
    (Nav::Worklist, "/visszahivasok", "Visszahívások", false),
    (Nav::Knowledge, "/tudasbazis", "Tudásbázis", false),
    (Nav::Wallboard, "/felugyelet", "Felügyelet", true),
    (Nav::Records, "/hivasnaplo", "Hívásnapló", true),
    (Nav::Accounts, "/operatorok", "Operátorok", true),
    (Nav::Prompts, "/hangok", "Hangok", true),
    (Nav::Settings, "/beallitasok", "Beállítások", true),
];

/// The frame around every page.
pub fn page(title: &str, active: Nav, viewer: Option<&Viewer<'_>>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="hu" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Segít a hivatal" }
                link rel="stylesheet" href="/static/console.css";
                @if let Some(v) = viewer {
                    meta name="csrf" content=(v.csrf);
                    script src="/static/console.js" defer {}
                }
            }
            body {
                a.skip href="#tartalom" { "Ugrás a tartalomra" }
                header {
                    p.brand { "Segít a hivatal – ügyeleti munkafelület" }
                    @if let Some(v) = viewer {
                        nav aria-label="Fő navigáció" {
                            ul {
                                @for (nav, href, label, admin_only) in NAV {
                                    @if !admin_only || v.account.admin {
                                        li {
                                            a href=(href) aria-current=[(nav == active).then_some("page")] {
                                                (label)
                                                @if nav == Nav::Worklist {
                                                    " "
                                                    span.badge id="munkalista-szam" aria-label=(format!("{} nyitott tétel", v.open_work)) { (v.open_work) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        form.logout method="post" action="/kilepes" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            span { (v.account.display.as_deref().unwrap_or(&v.account.name)) }
                            " "
                            button type="submit" { "Kijelentkezés" }
                        }
                    }
                }
                main id="tartalom" tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
                div.sr-only id="bejelentes" role="status" aria-live="polite" {}
                footer { p { "Budaörsi Polgármesteri Hivatal · ugyelet" } }
            }
        }
    }
}

/// The login page.
pub fn login(login_token: &str, message: Option<&str>, name: &str) -> Markup {
    page(
        "Bejelentkezés",
        Nav::Login,
        None,
        html! {
            p { "Jelentkezzen be a telefonos (SIP) felhasználónevével és jelszavával." }
            @if let Some(m) = message {
                p.error role="alert" { (m) }
            }
            form method="post" action="/belepes" {
                input type="hidden" name="csrf" value=(login_token);
                div.field {
                    label for="nev" { "Felhasználónév" }
                    input id="nev" name="name" type="text" autocomplete="username" required value=(name) autofocus;
                }
                div.field {
                    label for="jelszo" { "Jelszó" }
                    input id="jelszo" name="password" type="password" autocomplete="current-password" required;
                }
                button type="submit" { "Belépés" }
            }
        },
    )
}

/// A short page for refusals (403, 404, 429) with a way back.
pub fn refusal(title: &str, message: &str, viewer: Option<&Viewer<'_>>) -> Markup {
    page(
        title,
        Nav::Login,
        viewer,
        html! {
            p role="alert" { (message) }
            p { a href="/ugyelet" { "Vissza az ügyeleti oldalra" } }
        },
    )
}

/// An outbox state in Hungarian.
pub fn outbox_state_hu(s: OutboxState) -> &'static str {
    match s {
        OutboxState::Queued => "sorban áll",
        OutboxState::Sending => "küldés alatt",
        OutboxState::Sent => "elküldve",
        OutboxState::Delivered => "kézbesítve",
        OutboxState::Failed => "sikertelen",
    }
}

/// "My state": what it is and the buttons that change it.
pub fn my_state(board: &Board, me: &Account, csrf: &str) -> Markup {
    let row = board.operator(&me.name);
    let state = row.map_or("offline", |r| r.state.as_str());
    // Out of the queue by choice; an account missing from the board counts as out too.
    let logged_out = row.is_none_or(|r| r.logged_out);
    let paused = state == "paused";
    html! {
        p {
            "Állapotom: "
            strong {
                @if logged_out { "kiléptem a sorból" }
                @else if state == "offline" { "a sorban, de nem elérhető" }
                @else { (state_hu(state)) }
            }
            @if let Some(reason) = row.and_then(|r| r.pause_reason.as_deref()) {
                " (" (reason) ")"
            }
            @if row.is_some_and(|r| !r.reachable) {
                " – a telefonja nincs regisztrálva, így hívást nem kaphat."
            }
        }
        div.actions {
            @if logged_out {
                (state_button(csrf, "login", "Belépés a sorba", None))
            } @else {
                @if paused {
                    (state_button(csrf, "unpause", "Vissza a szünetről", None))
                } @else {
                    form method="post" action="/ugyelet/allapot" {
                        input type="hidden" name="csrf" value=(csrf);
                        input type="hidden" name="action" value="pause";
                        label for="szunet-ok" { "A szünet oka" }
                        select id="szunet-ok" name="reason" {
                            @for r in ["rövid szünet", "ebéd", "adminisztráció", "megbeszélés"] {
                                option value=(r) { (r) }
                            }
                        }
                        " "
                        button id="allapot-pause" type="submit" { "Szünet" }
                    }
                }
                (state_button(csrf, "logout", "Kilépés a sorból", None))
            }
        }
    }
}

fn state_button(csrf: &str, action: &str, label: &str, reason: Option<&str>) -> Markup {
    html! {
        form method="post" action="/ugyelet/allapot" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="action" value=(action);
            @if let Some(r) = reason { input type="hidden" name="reason" value=(r); }
            button id=(format!("allapot-{action}")) type="submit" { (label) }
        }
    }
}

/// The waiting callers, with how they came.
pub fn waiting(board: &Board, label: &dyn Fn(&str) -> String) -> Markup {
    html! {
        @if board.waiting.is_empty() {
            p { "Most senki sem várakozik." }
        } @else {
            table {
                caption { (board.waiting.len()) " várakozó hívó" }
                thead { tr { th scope="col" { "Sorszám" } th scope="col" { "Hívó" } th scope="col" { "Várakozik" } th scope="col" { "Honnan jött" } th scope="col" { "Kinél cseng" } } }
                tbody {
                    @for w in &board.waiting {
                        tr {
                            td { (w.position) "." }
                            td { (shown_number(&w.caller_display, &w.caller)) }
                            td { (wait_hu(w.waited_s)) }
                            td { (shown_path(&w.path_label, &w.path, label)) }
                            td { @if w.ringing.is_empty() { "–" } @else { (w.ringing.join(", ")) } }
                        }
                    }
                }
            }
        }
    }
}

/// Every operator's state (for colleagues and the wallboard).
pub fn colleagues(board: &Board) -> Markup {
    html! {
        table {
            caption { "Kollégák" }
            thead { tr { th scope="col" { "Név" } th scope="col" { "Hol" } th scope="col" { "Állapot" } } }
            tbody {
                @for o in &board.operators {
                    tr {
                        td { (o.name) }
                        td { (location_hu(&o.location)) }
                        td {
                            (state_hu(&o.state))
                            @if let Some(r) = &o.pause_reason { " (" (r) ")" }
                            @if !o.reachable && !o.logged_out { " – nem elérhető" }
                        }
                    }
                }
            }
        }
    }
}

/// The operator's current call.
pub fn my_call(board: &Board, me: &Account, label: &dyn Fn(&str) -> String) -> Markup {
    let call = board
        .operator(&me.name)
        .and_then(|o| o.current_call.as_ref());
    html! {
        @match call {
            None => p { "Most nincs hívása." },
            Some(c) => dl {
                dt { "Hívó" } dd { (shown_number(&c.caller_display, &c.caller)) }
                dt { "Honnan jött" } dd { (shown_path(&c.path_label, &c.path, label)) }
                @if let Some(s) = c.on_call_s { dt { "Beszélgetés" } dd { (wait_hu(s)) } }
            },
        }
    }
}

/// The messages this operator sent, with their live state.
pub fn my_messages(rows: &[Row], forms: &[FormChoice]) -> Markup {
    let title = |r: &Row| {
        r.form_id
            .as_deref()
            .and_then(|id| forms.iter().find(|f| f.id == id))
            .map_or_else(
                || r.form_id.clone().unwrap_or_default(),
                |f| f.title.clone(),
            )
    };
    html! {
        @if rows.is_empty() {
            p { "Ma még nem küldött üzenetet." }
        } @else {
            table {
                caption { "Elküldött üzeneteim" }
                thead { tr { th scope="col" { "Mit" } th scope="col" { "Kinek" } th scope="col" { "Hogyan" } th scope="col" { "Állapot" } } }
                tbody {
                    @for r in rows {
                        tr {
                            td { (title(r)) }
                            td { (r.recipient) }
                            td { @if r.channel == Channel::Sms { "SMS" } @else { "e-mail" } }
                            td {
                                (outbox_state_hu(r.state))
                                @if let Some(e) = r.last_error.as_deref().filter(|_| matches!(r.state, OutboxState::Failed | OutboxState::Queued)) {
                                    " – " (e)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// What can be sent: the catalog's forms, then the knowledge base's articles (as links to
/// a page, id `cikk:SLUG`).
pub fn send_choices(forms: &[FormChoice], kb: &crate::knowledge::KnowledgeBase) -> Vec<FormChoice> {
    let mut all = forms.to_vec();
    all.extend(kb.articles().iter().map(|a| FormChoice {
        id: format!("{}{}", crate::notify::compose::PAGE_PREFIX, a.slug),
        title: a.title.clone(),
    }));
    all
}

/// The form to send a catalog form or an article by SMS or email.
pub fn send_form(
    choices: &[FormChoice],
    csrf: &str,
    to: &str,
    nonce: &str,
    selected: Option<&str>,
) -> Markup {
    let is_page = |f: &&FormChoice| crate::notify::compose::is_page(&f.id);
    html! {
        form method="post" action="/ugyelet/kuldes" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="nonce" value=(nonce);
            div.field {
                label for="mit" { "Mit küldjünk" }
                select id="mit" name="item" required {
                    optgroup label="Nyomtatványok" {
                        @for f in choices.iter().filter(|f| !is_page(f)) {
                            option value=(f.id) selected[selected == Some(f.id.as_str())] { (f.title) }
                        }
                    }
                    optgroup label="Tájékoztatók a tudásbázisból (link)" {
                        @for f in choices.iter().filter(is_page) {
                            option value=(f.id) selected[selected == Some(f.id.as_str())] { (f.title) }
                        }
                    }
                }
            }
            fieldset {
                legend { "Hogyan" }
                label { input type="radio" name="channel" value="sms" checked; " SMS (mobilszámra)" }
                " "
                label { input type="radio" name="channel" value="email"; " e-mail" }
            }
            div.field {
                label for="kinek" { "Kinek (mobilszám vagy e-mail-cím)" }
                input id="kinek" name="to" type="text" required value=(to) autocomplete="off";
            }
            button id="kuldes-gomb" type="submit" { "Küldés" }
        }
    }
}

/// The operator's duty page.
pub struct DutyPage<'a> {
    pub board: &'a Board,
    pub forms: &'a [FormChoice],
    pub sent: &'a [Row],
    pub label: &'a dyn Fn(&str) -> String,
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
    pub nonce: &'a str,
    /// The current caller's earlier contacts (empty without a call).
    pub contacts: Markup,
    /// The item to preselect in the send form.
    pub selected: Option<&'a str>,
    /// The knowledge-base search box with its results, beside the call.
    pub knowledge: Markup,
}

pub fn duty(v: &Viewer<'_>, p: &DutyPage<'_>) -> Markup {
    let to = p
        .board
        .operator(&v.account.name)
        .and_then(|o| o.current_call.as_ref())
        .map(|c| c.caller.clone())
        .filter(|c| crate::phone::is_mobile(c))
        .unwrap_or_default();
    page(
        "Ügyelet",
        Nav::Duty,
        Some(v),
        html! {
            @if let Some(n) = p.notice { p.notice role="status" { (n) } }
            @if let Some(e) = p.error { p.error role="alert" { (e) } }
            div.grid {
                section aria-labelledby="allapotom-cim" {
                    h2 id="allapotom-cim" { "Állapotom" }
                    div id="allapotom" data-region { (my_state(p.board, v.account, v.csrf)) }
                }
                section aria-labelledby="hivasom-cim" {
                    h2 id="hivasom-cim" { "Jelenlegi hívásom" }
                    div id="hivasom" data-region { (my_call(p.board, v.account, p.label)) }
                    h3 { "Korábbi kapcsolatai" }
                    div id="elozmenyek" data-region { (p.contacts) }
                }
                section aria-labelledby="varakozok-cim" {
                    h2 id="varakozok-cim" { "Várakozó hívók" }
                    div id="varakozok" data-region { (waiting(p.board, p.label)) }
                }
                section aria-labelledby="kuldes-cim" {
                    h2 id="kuldes-cim" { "Nyomtatvány küldése" }
                    (send_form(p.forms, v.csrf, &to, p.nonce, p.selected))
                    div id="kuldeseim" data-region { (my_messages(p.sent, p.forms)) }
                }
                section aria-labelledby="tudasbazis-cim" {
                    h2 id="tudasbazis-cim" { "Tudásbázis" }
                    (p.knowledge)
                }
                section aria-labelledby="kollegak-cim" {
                    h2 id="kollegak-cim" { "Kollégák" }
                    div id="kollegak" data-region { (colleagues(p.board)) }
                }
            }
        },
    )
}

/// Marks a string as already-escaped HTML (for the pre-rendered live regions).
pub fn raw(s: &str) -> PreEscaped<&str> {
    PreEscaped(s)
}

/// A caller's number as people read it: as the board grouped it, else grouped here.
fn shown_number(display: &str, e164: &str) -> String {
    if display.is_empty() {
        crate::phone::for_people(e164)
    } else {
        display.to_owned()
    }
}

/// A menu path as people read it: the label the call's own plan gave, else the plan
/// served now.
fn shown_path(path_label: &str, path: &str, label: &dyn Fn(&str) -> String) -> String {
    if path_label.is_empty() {
        label(path)
    } else {
        path_label.to_owned()
    }
}

/// `s` percent-encoded for a URL query value (unreserved characters kept, RFC 3986 §2.3).
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
