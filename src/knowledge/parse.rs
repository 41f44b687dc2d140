//! One article file: front matter, slug, links, and the plain text the index is built from.
//!
//! ```text
//! +++                          <- first line (a UTF-8 byte-order mark before it is skipped)
//! title = "…"                  <- TOML: title (required), tags, forms, summary
//! +++                          <- the first later line that is exactly "+++"
//! Markdown body …
//! ```
//!
//! Positions in messages are counted in the whole file (line 1 is the opening `+++`),
//! columns in characters, so an admin's editor jumps to the spot.

use std::collections::BTreeSet;
use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
use serde::Deserialize;
use toml::Spanned;

use super::{Article, Diagnostic};

/// Link address prefixes the body may use besides `cikk:` and `nyomtatvany:`: the web, mail,
/// phone, and anchors in the same article. Anything else (`javascript:`, `file:`, a
/// relative path the console could not resolve) is refused.
pub(super) const SAFE_PREFIXES: &[&str] = &["https://", "http://", "mailto:", "tel:", "#"];

/// Link to another article: `[szöveg](cikk:slug)`.
pub(super) const ARTICLE_SCHEME: &str = "cikk:";
/// Link to a form of the catalog: `[szöveg](nyomtatvany:id)`.
pub(super) const FORM_SCHEME: &str = "nyomtatvany:";

/// Markdown extensions articles may use (tables for fees and opening hours, strikethrough).
pub(super) fn markdown_options() -> Options {
    Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH
}

/// The front matter as written; spans point into the front matter text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFront {
    title: Option<Spanned<String>>,
    #[serde(default)]
    tags: Vec<Spanned<String>>,
    #[serde(default)]
    forms: Vec<Spanned<String>>,
    summary: Option<Spanned<String>>,
}

/// One file that parsed, with what the whole-base checks and the index need.
pub(super) struct Parsed {
    pub article: Article,
    /// The body as plain text (no Markdown syntax, no link addresses), for the index and
    /// the snippets.
    pub plain: String,
    /// The whole file, for positions.
    text: String,
    /// `cikk:` links: the slug named and the byte offset of the address in the file.
    article_links: Vec<(String, usize)>,
}

impl Parsed {
    fn diag_at(&self, offset: usize, message: String) -> Diagnostic {
        diag(&self.article.source, &self.text, offset, message)
    }

    /// Reports each `cikk:` link whose slug is not among `slugs`.
    pub fn check_article_links(&self, slugs: &[&str], diags: &mut Vec<Diagnostic>) {
        for (slug, offset) in &self.article_links {
            if !slugs.contains(&slug.as_str()) {
                diags.push(self.diag_at(
                    *offset,
                    format!(
                        "unknown article \"{slug}\" (known: {})",
                        suggest(slug, slugs)
                    ),
                ));
            }
        }
    }
}

pub(super) fn diag(file: &str, text: &str, offset: usize, message: String) -> Diagnostic {
    let (line, col) = line_col(text, offset);
    Diagnostic {
        file: file.to_owned(),
        line,
        col,
        message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before
        .get(line_start..)
        .map_or(1, |s| s.chars().count() + 1);
    (line, col)
}

/// The slug of a file: its name without `.md`.
pub(super) fn slug_of(path: &str) -> &str {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    name.strip_suffix(".md").unwrap_or(name)
}

pub(super) fn valid_slug(slug: &str) -> bool {
    !slug.is_empty()
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The byte ranges of the front matter's TOML and of the body, or why there are none.
fn split(text: &str) -> Result<(Range<usize>, usize), (usize, String)> {
    let start = if text.starts_with('\u{feff}') { 3 } else { 0 };
    let mut lines = LineIter { text, pos: start };
    let Some((first, after_first)) = lines.next() else {
        return Err((
            start,
            "expected a front matter block between \"+++\" lines at the top, found an empty file"
                .to_owned(),
        ));
    };
    if text[first.clone()].trim_end() != "+++" {
        return Err((
            start,
            format!(
                "expected a front matter block between \"+++\" lines at the top, found {:?}",
                shorten(text[first].trim_end())
            ),
        ));
    }
    for (line, next) in lines {
        if text[line.clone()].trim_end() == "+++" {
            return Ok((after_first..line.start, next));
        }
    }
    Err((
        start,
        "the front matter opened here is never closed (expected a line \"+++\" after it)"
            .to_owned(),
    ))
}

/// Lines of `text` from `pos`: each line's range without its `\n`, and where the next starts.
struct LineIter<'a> {
    text: &'a str,
    pos: usize,
}

impl Iterator for LineIter<'_> {
    type Item = (Range<usize>, usize);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.text.len() {
            return None;
        }
        let rest = &self.text[self.pos..];
        let (len, step) = match rest.find('\n') {
            Some(i) => (i, i + 1),
            None => (rest.len(), rest.len()),
        };
        let line = self.pos..self.pos + len;
        self.pos += step;
        Some((line, self.pos))
    }
}

/// At most 40 characters of a line, for messages.
fn shorten(s: &str) -> String {
    if s.chars().count() <= 40 {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(40).collect();
        out.push('…');
        out
    }
}

/// Parses one file. Problems go to `diags`; `None` when there is no front matter to read
/// (then nothing after it can be trusted either). An article with problems is still
/// returned, so its links are checked too, but any problem refuses the whole base. Form
/// links are checked here, article links once every file is known
/// ([`Parsed::check_article_links`]).
pub(super) fn article(
    path: &str,
    text: &str,
    known_forms: &BTreeSet<String>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Parsed> {
    let slug = slug_of(path);
    if !valid_slug(slug) {
        diags.push(diag(
            path,
            text,
            0,
            format!(
                "expected a file name of lowercase letters a-z, digits and \"-\" before .md, found {slug:?}"
            ),
        ));
    }
    let (front, body_start) = match split(text) {
        Ok(parts) => parts,
        Err((offset, message)) => {
            diags.push(diag(path, text, offset, message));
            return None;
        }
    };
    let raw: RawFront = match toml::from_str(&text[front.clone()]) {
        Ok(raw) => raw,
        Err(e) => {
            let at = front.start + e.span().map_or(0, |s| s.start);
            diags.push(diag(
                path,
                text,
                at,
                format!("front matter: {}", e.message().trim_end()),
            ));
            return None;
        }
    };
    let at = |s: Range<usize>| front.start + s.start;
    let title = match &raw.title {
        None => {
            diags.push(diag(
                path,
                text,
                0,
                "expected a title in the front matter (title = \"…\"), found none".to_owned(),
            ));
            None
        }
        Some(t) if t.get_ref().trim().is_empty() => {
            diags.push(diag(
                path,
                text,
                at(t.span()),
                "expected a title with some words, found an empty one".to_owned(),
            ));
            None
        }
        Some(t) => Some(t.get_ref().trim().to_owned()),
    }
    // Without a title the base is refused anyway; the rest of the file is still checked.
    .unwrap_or_default();
    let known: Vec<&str> = known_forms.iter().map(String::as_str).collect();
    for f in &raw.forms {
        if !known_forms.contains(f.get_ref()) {
            diags.push(diag(
                path,
                text,
                at(f.span()),
                unknown_form(f.get_ref(), &known),
            ));
        }
    }

    let body = &text[body_start..];
    let mut article_links = Vec::new();
    let mut plain = String::new();
    for (event, range) in Parser::new_ext(body, markdown_options()).into_offset_iter() {
        match event {
            Event::Start(Tag::Link {
                link_type,
                dest_url,
                ..
            }) => {
                // Point at the address itself when it is written inside the link (it is
                // not for a reference link, whose address is further down).
                let offset = body_start
                    + body[range.clone()]
                        .find(dest_url.as_ref())
                        .map_or(range.start, |i| range.start + i);
                if let Some(slug) = dest_url.strip_prefix(ARTICLE_SCHEME) {
                    article_links.push((slug.to_owned(), offset));
                } else if let Some(form) = dest_url.strip_prefix(FORM_SCHEME) {
                    if !known_forms.contains(form) {
                        diags.push(diag(path, text, offset, unknown_form(form, &known)));
                    }
                } else if link_type != LinkType::Email
                    && !SAFE_PREFIXES.iter().any(|p| dest_url.starts_with(p))
                {
                    diags.push(diag(
                        path,
                        text,
                        offset,
                        format!(
                            "expected a link address starting with cikk:, nyomtatvany:, https://, http://, mailto:, tel: or #, found {:?}",
                            shorten(&dest_url)
                        ),
                    ));
                }
            }
            Event::Text(t) | Event::Code(t) => plain.push_str(&t),
            // Inline tags end inside a sentence: "a [lapon](…)." stays "a lapon.".
            Event::End(
                TagEnd::Emphasis
                | TagEnd::Strong
                | TagEnd::Strikethrough
                | TagEnd::Link
                | TagEnd::Image
                | TagEnd::Superscript
                | TagEnd::Subscript,
            ) => {}
            Event::SoftBreak | Event::HardBreak | Event::End(_)
                if !plain.ends_with(' ') && !plain.is_empty() =>
            {
                plain.push(' ');
            }
            _ => {}
        }
    }
    Some(Parsed {
        article: Article {
            slug: slug.to_owned(),
            title,
            tags: raw.tags.iter().map(|t| t.get_ref().clone()).collect(),
            forms: raw.forms.iter().map(|f| f.get_ref().clone()).collect(),
            summary: raw
                .summary
                .as_ref()
                .map(|s| s.get_ref().trim().to_owned())
                .filter(|s| !s.is_empty()),
            body_md: body.to_owned(),
            source: path.to_owned(),
        },
        plain: plain.trim_end().to_owned(),
        text: text.to_owned(),
        article_links,
    })
}

fn unknown_form(form: &str, known: &[&str]) -> String {
    format!("unknown form \"{form}\" (known: {})", suggest(form, known))
}

use crate::suggest::closest as suggest;
