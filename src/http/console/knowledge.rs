//! `/tudasbazis`: the operators' knowledge base: search (accents and Hungarian endings do
//! not matter), articles with the forms they need, and sending an article to the resident
//! as a link, like a form.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use serde::Deserialize;

use super::pages::{self, Nav};
use super::{Console, html as page_response, to_login, who};
use crate::http::daemon::Daemon;
use crate::knowledge::{Hit, KnowledgeBase, Target};

/// Hits shown for one search.
pub const HITS: usize = 20;

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    pub q: String,
}

/// The search form and its results (also shown on the duty page, beside the call).
pub fn search_box(action: &str, q: &str, hits: Option<&[Hit]>) -> Markup {
    html! {
        form method="get" action=(action) role="search" {
            div.field {
                label for="kb-kereses" { "Keresés a tudásbázisban" }
                input id="kb-kereses" name="q" type="search" value=(q) placeholder="pl. lakcím, adó, parkolás";
            }
            button type="submit" { "Keresés" }
        }
        @if let Some(hits) = hits {
            @if hits.is_empty() {
                p role="status" { "Nincs találat erre: „" (q) "”." }
            } @else {
                p role="status" { (hits.len()) " találat" }
                ul id="kb-talalatok" {
                    @for h in hits {
                        li {
                            a href=(format!("/tudasbazis/{}", h.slug)) { (h.title) }
                            @if !h.snippet.is_empty() { br; span { (h.snippet) } }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /tudasbazis[?q=…]`.
pub async fn index<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Query(q): Query<SearchQuery>,
) -> Response {
    let Some((who, _)) = who(&c, &headers).await else {
        return to_login();
    };
    let kb = c.daemon.knowledge();
    let query = q.q.trim();
    let hits = (!query.is_empty()).then(|| kb.search(query, HITS));
    let open = c.live.borrow().open_work;
    let body = html! {
        (search_box("/tudasbazis", query, hits.as_deref()))
        @if hits.is_none() {
            h2 { "Minden cikk" }
            ul { @for a in kb.articles() { li { a href=(format!("/tudasbazis/{}", a.slug)) { (a.title) } } } }
        }
    };
    page_response(
        StatusCode::OK,
        pages::page("Tudásbázis", Nav::Knowledge, Some(&who.viewer(open)), body),
    )
}

fn url_for(t: Target<'_>) -> String {
    match t {
        Target::Article(slug) => format!("/tudasbazis/{slug}"),
        Target::Form(id) => format!("/ugyelet?kuld={id}#kuldes-cim"),
    }
}

/// `GET /tudasbazis/{slug}`.
pub async fn article<D: Daemon>(
    State(c): State<Arc<Console<D>>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
) -> Response {
    let Some((who, _)) = who(&c, &headers).await else {
        return to_login();
    };
    let kb = c.daemon.knowledge();
    let open = c.live.borrow().open_work;
    let v = who.viewer(open);
    let Some((a, rendered)) = kb
        .get(&slug)
        .and_then(|a| kb.render_html(&slug, url_for).map(|h| (a, h)))
    else {
        return page_response(
            StatusCode::NOT_FOUND,
            pages::refusal(
                "Nincs ilyen cikk",
                "Ezt a cikket nem találjuk a tudásbázisban.",
                Some(&v),
            ),
        );
    };
    let forms = c.daemon.form_choices();
    let body = html! {
        @if !a.tags.is_empty() { p { "Címkék: " (a.tags.join(", ")) } }
        div.article { (PreEscaped(rendered)) }
        (linked_forms(&kb, &a.forms, &forms))
        h2 { "Elküldés a lakosnak" }
        p { "A cikk linkjét küldjük el SMS-ben vagy e-mailben; a lakos a telefonján olvashatja." }
        (pages::send_form(&pages::send_choices(&forms, &kb), v.csrf, "", &super::auth::new_token(), Some(&format!("cikk:{}", a.slug))))
    };
    page_response(
        StatusCode::OK,
        pages::page(&a.title, Nav::Knowledge, Some(&v), body),
    )
}

fn linked_forms(
    _kb: &KnowledgeBase,
    ids: &[String],
    forms: &[crate::http::daemon::FormChoice],
) -> Markup {
    html! {
        @if !ids.is_empty() {
            h2 { "A szükséges nyomtatványok" }
            ul {
                @for id in ids {
                    li {
                        a href=(format!("/ugyelet?kuld={id}#kuldes-cim")) {
                            (forms.iter().find(|f| &f.id == id).map_or(id.as_str(), |f| f.title.as_str()))
                        }
                    }
                }
            }
        }
    }
}
