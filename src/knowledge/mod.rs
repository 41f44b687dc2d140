//! The operators' knowledge base (*tudásbázis*): short articles an operator reads beside a
//! call and can send to a resident.
//!
//! An article is a Markdown file `knowledge/<slug>.md` that starts with TOML front matter
//! between `+++` lines (`knowledge/README.md` is the admin's guide):
//!
//! ```text
//! +++
//! title = "Lakcím bejelentése"
//! tags = ["lakcím", "költözés"]
//! forms = ["lakcim"]
//! summary = "Hol és hogyan jelenthető be az új lakcím."
//! +++
//! Költözés után … lásd még: [helyi adók](cikk:helyi-adok),
//! a nyomtatvány: [lakcímbejelentő lap](nyomtatvany:lakcim).
//! ```
//!
//! Like a dial plan, the knowledge base is a value: [`KnowledgeBase::build`] takes the texts
//! (the caller read them; `driver::knowledge` reads a directory) and the form ids of the
//! catalog, and returns an immutable base or *every* problem at once, each rendered as
//! `knowledge/foo.md:12:5: unknown form "xyz" (known: …)`. A reload builds a new value and
//! the caller swaps an `Arc` only if it built; a refused edit leaves the old one serving.
//!
//! The module is split three ways:
//!
//! ```text
//! parse.rs   one file: front matter, slug, links; the Markdown's plain text for the index
//! search.rs  accent and case folding, Hungarian suffix stripping, the inverted index
//! render.rs  the body as safe HTML (raw HTML escaped; `cikk:`/`nyomtatvany:` links mapped)
//! ```
//!
//! The form catalog comes in as a set of ids, not as `notify`'s catalog type: the knowledge
//! base sits below `notify` in the layers and needs nothing of it but the names.

mod parse;
mod render;
mod search;
#[cfg(test)]
mod tests;

use std::collections::BTreeSet;
use std::fmt;

use sha2::{Digest, Sha256};

pub use render::Target;
pub use search::{Hit, fold};

/// The knowledge base in force, shared by the console and the public article pages, and
/// swapped whole when a reload finds a valid new one (a reader keeps the `Arc` it took).
#[derive(Debug, Clone, Default)]
pub struct LiveKnowledge(std::sync::Arc<std::sync::RwLock<std::sync::Arc<KnowledgeBase>>>);

impl LiveKnowledge {
    /// The knowledge base now.
    pub fn get(&self) -> std::sync::Arc<KnowledgeBase> {
        match self.0.read() {
            Ok(g) => std::sync::Arc::clone(&g),
            // Replacing an `Arc` cannot leave it half-written.
            Err(p) => std::sync::Arc::clone(&p.into_inner()),
        }
    }

    /// Puts `kb` in force.
    pub fn set(&self, kb: std::sync::Arc<KnowledgeBase>) {
        match self.0.write() {
            Ok(mut g) => *g = kb,
            Err(p) => *p.into_inner() = kb,
        }
    }
}

/// One article, as written (validated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// The file name without `.md`: `[a-z0-9-]+`. Links name articles by it (`cikk:slug`).
    pub slug: String,
    pub title: String,
    pub tags: Vec<String>,
    /// Form ids of the catalog (`config/forms.toml`) the article is about.
    pub forms: Vec<String>,
    pub summary: Option<String>,
    /// The Markdown after the front matter.
    pub body_md: String,
    /// Where the article was read from (for messages).
    pub source: String,
}

/// One problem in an article file, with its position: renders as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Every article, its search index and a content hash. Immutable: a reload builds a new one.
#[derive(Debug, Clone, Default)]
pub struct KnowledgeBase {
    /// Sorted by slug, so [`KnowledgeBase::get`] is a binary search.
    articles: Vec<Article>,
    index: search::Index,
    version: String,
}

impl KnowledgeBase {
    /// Parses and validates every `(path, text)` pair: front matter, slug (from the file
    /// name), links to articles and forms, the forms list. Returns the base, or every
    /// problem found in every file, in file order.
    pub fn build(
        sources: Vec<(String, String)>,
        known_forms: &BTreeSet<String>,
    ) -> Result<KnowledgeBase, Vec<Diagnostic>> {
        let mut diags = Vec::new();
        let mut parsed: Vec<parse::Parsed> = Vec::new();
        let mut hasher = Sha256::new();
        let mut sources = sources;
        // The hash must not depend on the order the caller listed the files in.
        sources.sort();
        // Every file's slug, also of files that do not parse, so a link to an article with
        // a problem of its own is not reported a second time as unknown.
        let mut slugs: Vec<(&str, &str)> = Vec::new();
        for (path, text) in &sources {
            hasher.update((path.len() as u64).to_le_bytes());
            hasher.update(path.as_bytes());
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text.as_bytes());
            let slug = parse::slug_of(path);
            if parse::valid_slug(slug) {
                if let Some((_, first)) = slugs.iter().find(|(s, _)| *s == slug) {
                    diags.push(parse::diag(
                        path,
                        text,
                        0,
                        format!("duplicate article \"{slug}\" (also {first})"),
                    ));
                    continue;
                }
                slugs.push((slug, path));
            }
            if let Some(p) = parse::article(path, text, known_forms, &mut diags) {
                parsed.push(p);
            }
        }
        // Article links can only be checked once every slug is known.
        let slugs: Vec<&str> = slugs.iter().map(|(s, _)| *s).collect();
        for p in &parsed {
            p.check_article_links(&slugs, &mut diags);
        }
        if !diags.is_empty() {
            diags.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
            return Err(diags);
        }
        parsed.sort_by(|a, b| a.article.slug.cmp(&b.article.slug));
        let index = search::Index::build(&parsed);
        let articles = parsed.into_iter().map(|p| p.article).collect();
        let digest = hasher.finalize();
        Ok(KnowledgeBase {
            articles,
            index,
            version: hex::encode(&digest[..8]),
        })
    }

    /// Every article, sorted by slug.
    pub fn articles(&self) -> &[Article] {
        &self.articles
    }

    /// The article with this slug.
    pub fn get(&self, slug: &str) -> Option<&Article> {
        self.articles
            .binary_search_by(|a| a.slug.as_str().cmp(slug))
            .ok()
            .map(|i| &self.articles[i])
    }

    /// Number of articles.
    pub fn len(&self) -> usize {
        self.articles.len()
    }

    /// True when there are no articles (no directory configured, or an empty one).
    pub fn is_empty(&self) -> bool {
        self.articles.is_empty()
    }

    /// A hash of every file's path and text (16 hex digits): equal bases have equal
    /// versions, so a console can tell whether what it shows is still current. The empty
    /// base's version is the empty string.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The articles matching every word of `query`, best first, at most `limit`.
    ///
    /// Case and accents do not matter (`lakcim` finds "lakcím"); a word matches the start of
    /// a word (`park` finds "parkolási"); a Hungarian case or plural ending on a query word
    /// is also tried without it (`lakcímet`, `adóról` find "lakcím", "adó"). Matches in the
    /// title rank above tags, tags above the summary, the summary above the body. See
    /// [`search`](self::search) for the rules.
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        self.index.search(&self.articles, query, limit)
    }

    /// The article's body as HTML safe to put into a page: raw HTML in the Markdown is shown
    /// as text, images as their alt text, and only `https:`, `http:`, `mailto:`, `tel:` and
    /// `#` links are kept as written. `cikk:slug` and `nyomtatvany:id` links get the address
    /// `url_for` gives them (the console decides its own URLs). `None` for an unknown slug.
    pub fn render_html(
        &self,
        slug: &str,
        url_for: impl Fn(Target<'_>) -> String,
    ) -> Option<String> {
        self.get(slug).map(|a| render::html(&a.body_md, &url_for))
    }
}
