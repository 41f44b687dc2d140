//! An article's Markdown as HTML that is safe to put into the operators' console.
//!
//! Articles are written by office staff, but the console is where operators are logged in,
//! so the HTML must not be able to carry a script whatever the file says. pulldown-cmark
//! passes raw HTML through by default; here every raw HTML event becomes text (escaped by
//! the writer), images become their alt text (no request to an address the article names),
//! and a link whose address is not `https:`, `http:`, `mailto:`, `tel:` or `#` keeps its
//! text and loses the link. Validation already refuses such links; this is the second lock.

use pulldown_cmark::{CowStr, Event, LinkType, Parser, Tag, TagEnd};

use super::parse::{ARTICLE_SCHEME, FORM_SCHEME, SAFE_PREFIXES, markdown_options};

/// What a `cikk:` or `nyomtatvany:` link points at; the caller turns it into an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// `cikk:slug`: another article.
    Article(&'a str),
    /// `nyomtatvany:id`: a form of the catalog.
    Form(&'a str),
}

/// The body as HTML, `cikk:`/`nyomtatvany:` addresses replaced by `url_for`'s.
pub(super) fn html(body: &str, url_for: &dyn Fn(Target<'_>) -> String) -> String {
    // One entry per open link: whether its start tag was kept (so is its end tag).
    let mut links: Vec<bool> = Vec::new();
    let events = Parser::new_ext(body, markdown_options()).filter_map(|event| match event {
        Event::Html(s) | Event::InlineHtml(s) => Some(Event::Text(s)),
        Event::Start(Tag::Image { .. }) | Event::End(TagEnd::Image) => None,
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            let dest: Option<CowStr<'_>> = if let Some(slug) = dest_url.strip_prefix(ARTICLE_SCHEME)
            {
                Some(url_for(Target::Article(slug)).into())
            } else if let Some(form) = dest_url.strip_prefix(FORM_SCHEME) {
                Some(url_for(Target::Form(form)).into())
            } else if link_type == LinkType::Email
                || SAFE_PREFIXES.iter().any(|p| dest_url.starts_with(p))
            {
                Some(dest_url)
            } else {
                None
            };
            links.push(dest.is_some());
            dest.map(|dest_url| {
                Event::Start(Tag::Link {
                    link_type,
                    dest_url,
                    title,
                    id,
                })
            })
        }
        Event::End(TagEnd::Link) => links
            .pop()
            .unwrap_or(false)
            .then_some(Event::End(TagEnd::Link)),
        other => Some(other),
    });
    let mut out = String::with_capacity(body.len() * 3 / 2);
    pulldown_cmark::html::push_html(&mut out, events);
    out
}
