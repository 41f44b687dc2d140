//! Search: accent- and case-blind word-prefix matching with Hungarian endings stripped.
//!
//! Operators type fast and often without accents, and residents say "lakcímet",
//! "adóról", "parkolásit". The rules, in the order they apply:
//!
//! 1. **Folding.** Text and query are lower-cased and the Hungarian accents removed:
//!    á→a, é→e, í→i, ó ö ő→o, ú ü ű→u (also õ and û, which is how ő and ű arrive from
//!    Latin-1 keyboards and files). "Lakcím" and "LAKCIM" are both `lakcim`.
//! 2. **Words.** A word is a run of letters and digits; everything else separates.
//! 3. **Prefixes.** A query word matches every indexed word it begins: `park` matches
//!    `parkolasi`, `ado` matches `adougyek` and `adorol`.
//! 4. **Endings.** A query word is also tried without one case ending, then without one
//!    plural ending, when at least three letters remain (so short words like "adat" keep
//!    their meaning). Case endings, folded: -rol (-ról, -ről), -bol, -tol, -nak/-nek,
//!    -nal/-nel, -val/-vel, -ban/-ben, -hoz/-hez (-höz), -ert, -ra/-re, -ba/-be, -ig,
//!    -on/-en (-ön), -t/-et/-ot/-at (-öt). Plural: -ok/-ek/-ak (-ök). After a consonant
//!    the v of -val/-vel becomes that consonant, so -al/-el after a doubled consonant is
//!    stripped with one of the pair ("lakcímmel" → "lakcím", "határozattal" →
//!    "határozat"). So `lakcimeket` is also tried as `lakcimek` and `lakcim`; `adorol` as
//!    `ado`. No dictionary: a stripped
//!    word can match a little too much ("szolgálat" is also tried as "szolg"), which a
//!    lower score for such matches keeps below the real ones.
//! 5. **All words.** An article is a hit only if every query word matches it somewhere.
//!    A few words that carry no meaning in a question ("a", "az", "egy", "és", "hogy",
//!    "is", "meg", "vagy") are left out of the query unless it has nothing else.
//! 6. **Score.** Each query word scores its best match in the article: the field (title
//!    100, tag 80, summary 40, body 10) times the kind of match (the whole word 10, a
//!    prefix 9, the whole word once an ending is stripped 8, a prefix of that 6). The field
//!    counts most: a title the word only begins (900) ranks above a tag that is the word
//!    (800), any summary match above any body match. The article's score is the sum over
//!    the query words; equal scores are ordered by title.
//!
//! The index is built once per knowledge base: every folded word, sorted, with the articles
//! and fields it occurs in. A prefix is then a binary search and a walk over the adjacent
//! words, so a search costs the words it matches, not the size of the text.

use std::collections::BTreeMap;

use super::Article;
use super::parse::Parsed;

/// One search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub slug: String,
    pub title: String,
    /// Higher is better; only comparable between hits of one search.
    pub score: u32,
    /// Up to about 160 characters of plain text around the first match in the body (the
    /// summary, or the start of the body, when only the title or tags matched). Plain text:
    /// escape it before putting it into HTML.
    pub snippet: String,
}

/// Lower case without Hungarian accents: `Lakcím` → `lakcim`, `Őrző` → `orzo`.
pub fn fold(s: &str) -> String {
    s.chars()
        .flat_map(char::to_lowercase)
        .map(fold_char)
        .collect()
}

fn fold_char(c: char) -> char {
    match c {
        'á' | 'à' | 'â' | 'ä' => 'a',
        'é' | 'è' | 'ê' | 'ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' => 'i',
        'ó' | 'ò' | 'ô' | 'ö' | 'ő' | 'õ' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'ű' => 'u',
        c => c,
    }
}

/// Whether `fold(word)` starts with `prefix`, without building the folded word (snippets
/// test every word of a body until one matches).
pub(super) fn folded_starts_with(word: &str, prefix: &str) -> bool {
    let mut folded = word.chars().flat_map(char::to_lowercase).map(fold_char);
    prefix.chars().all(|p| folded.next() == Some(p))
}

/// The words of `text`, each with its byte offset in `text`.
fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// Case endings, folded, longest first so `-ban` goes before `-an`-like shorter overlaps.
const CASE_ENDINGS: &[&str] = &[
    "rol", "bol", "tol", "nak", "nek", "nal", "nel", "val", "vel", "ban", "ben", "hoz", "hez",
    "ert", "ra", "re", "ba", "be", "ig", "on", "en", "et", "ot", "at", "t",
];

/// Plural endings, folded.
const PLURAL_ENDINGS: &[&str] = &["ok", "ek", "ak"];

/// The shortest stem an ending may be stripped down to, in characters.
const MIN_STEM: usize = 3;

/// Query words left out unless the query has nothing else (folded).
const STOP_WORDS: &[&str] = &["a", "az", "egy", "es", "hogy", "is", "meg", "vagy"];

/// `word` (folded) without one case ending, then without one plural ending: every
/// distinct stem of at least [`MIN_STEM`] characters, the word itself not included.
pub(super) fn stems(word: &str) -> Vec<String> {
    let strip = |w: &str, endings: &[&str]| -> Vec<String> {
        endings
            .iter()
            .filter_map(|e| w.strip_suffix(e))
            .filter(|s| s.chars().count() >= MIN_STEM)
            .map(str::to_owned)
            .collect()
    };
    let mut out = strip(word, CASE_ENDINGS);
    // -val/-vel assimilated: "lakcimmel" = "lakcim" + "mel".
    if let Some(w) = word.strip_suffix("al").or_else(|| word.strip_suffix("el")) {
        let mut rev = w.chars().rev();
        if let (Some(a), Some(b)) = (rev.next(), rev.next())
            && a == b
            && !"aeiou".contains(a)
            && w.chars().count() > MIN_STEM
        {
            out.push(w[..w.len() - a.len_utf8()].to_owned());
        }
    }
    let mut plural: Vec<String> = std::iter::once(word.to_owned())
        .chain(out.iter().cloned())
        .flat_map(|w| strip(&w, PLURAL_ENDINGS))
        .collect();
    out.append(&mut plural);
    out.sort();
    out.dedup();
    out.retain(|s| s != word);
    out
}

/// Field bits of a posting, and what a match in each field is worth.
const TITLE: u8 = 1;
const TAG: u8 = 2;
const SUMMARY: u8 = 4;
const BODY: u8 = 8;

fn field_weight(fields: u8) -> u32 {
    if fields & TITLE != 0 {
        100
    } else if fields & TAG != 0 {
        80
    } else if fields & SUMMARY != 0 {
        40
    } else {
        10
    }
}

/// One indexed word in one article.
#[derive(Debug, Clone, Copy)]
struct Posting {
    /// Index into the base's articles (sorted by slug).
    article: u32,
    /// Which fields the word occurs in (`TITLE | BODY` …).
    fields: u8,
}

/// Every folded word, sorted, with its postings.
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    terms: Vec<String>,
    postings: Vec<Vec<Posting>>,
    /// Each article's body as plain text, for snippets.
    plain: Vec<String>,
}

impl Index {
    /// `parsed` must be sorted by slug, as the base's articles are.
    pub fn build(parsed: &[Parsed]) -> Index {
        let mut map: BTreeMap<String, Vec<Posting>> = BTreeMap::new();
        for (i, p) in parsed.iter().enumerate() {
            let a = &p.article;
            let article = u32::try_from(i).unwrap_or(u32::MAX);
            let mut add = |text: &str, field: u8| {
                let folded = fold(text);
                for (_, w) in words(&folded) {
                    let list = map.entry(w.to_owned()).or_default();
                    match list.last_mut() {
                        Some(last) if last.article == article => last.fields |= field,
                        _ => list.push(Posting {
                            article,
                            fields: field,
                        }),
                    }
                }
            };
            add(&a.title, TITLE);
            for t in &a.tags {
                add(t, TAG);
            }
            if let Some(s) = &a.summary {
                add(s, SUMMARY);
            }
            add(&p.plain, BODY);
        }
        let (terms, postings) = map.into_iter().unzip();
        Index {
            terms,
            postings,
            plain: parsed.iter().map(|p| p.plain.clone()).collect(),
        }
    }

    /// The indices of the terms that start with `prefix`.
    fn prefix_range(&self, prefix: &str) -> std::ops::Range<usize> {
        let start = self.terms.partition_point(|t| t.as_str() < prefix);
        let len = self.terms[start..]
            .iter()
            .take_while(|t| t.starts_with(prefix))
            .count();
        start..start + len
    }

    pub fn search(&self, articles: &[Article], query: &str, limit: usize) -> Vec<Hit> {
        let folded = fold(query);
        let mut tokens: Vec<&str> = words(&folded).map(|(_, w)| w).collect();
        tokens.sort_unstable();
        tokens.dedup();
        if tokens.iter().any(|t| !STOP_WORDS.contains(t)) {
            tokens.retain(|t| !STOP_WORDS.contains(t));
        }
        if tokens.is_empty() || limit == 0 || articles.is_empty() {
            return Vec::new();
        }
        let n = articles.len();
        let mut total = vec![0u32; n];
        let mut matched = vec![0usize; n];
        let mut best = vec![0u32; n];
        let mut variants_all: Vec<String> = Vec::new();
        for token in &tokens {
            best.iter_mut().for_each(|b| *b = 0);
            // (variant, quality when the whole word matches, quality for a prefix)
            let mut variants = vec![(token.to_string(), 10, 9)];
            variants.extend(stems(token).into_iter().map(|s| (s, 8, 6)));
            for (v, whole, prefix) in &variants {
                // A one-letter word would be a prefix of a good part of the language.
                let range = if v.chars().count() < 2 {
                    let i = self.terms.binary_search_by(|t| t.as_str().cmp(v));
                    i.map_or(0..0, |i| i..i + 1)
                } else {
                    self.prefix_range(v)
                };
                for ti in range {
                    let q = if self.terms[ti] == *v {
                        *whole
                    } else {
                        *prefix
                    };
                    for p in &self.postings[ti] {
                        let s = field_weight(p.fields) * q;
                        let b = &mut best[p.article as usize];
                        *b = (*b).max(s);
                    }
                }
            }
            for (i, b) in best.iter().enumerate() {
                if *b > 0 {
                    total[i] += *b;
                    matched[i] += 1;
                }
            }
            variants_all.extend(variants.into_iter().map(|(v, _, _)| v));
        }
        let mut hits: Vec<usize> = (0..n).filter(|&i| matched[i] == tokens.len()).collect();
        let order = |a: &usize, b: &usize| {
            total[*b]
                .cmp(&total[*a])
                .then_with(|| articles[*a].title.cmp(&articles[*b].title))
        };
        // A common word matches most articles: pick the best `limit` in linear time and
        // sort only those, rather than sorting every match by title.
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, order);
            hits.truncate(limit);
        }
        hits.sort_by(order);
        hits.into_iter()
            .map(|i| Hit {
                slug: articles[i].slug.clone(),
                title: articles[i].title.clone(),
                score: total[i],
                snippet: self.snippet(&articles[i], &self.plain[i], &variants_all),
            })
            .collect()
    }

    /// About 160 characters of the body around the first word that one of `variants`
    /// begins; the summary or the body's start when no body word matches.
    fn snippet(&self, article: &Article, plain: &str, variants: &[String]) -> String {
        const BEFORE: usize = 60;
        const LEN: usize = 160;
        let first = words(plain)
            .find(|(_, w)| variants.iter().any(|v| folded_starts_with(w, v)))
            .map(|(at, _)| at);
        let Some(at) = first else {
            return match &article.summary {
                Some(s) => s.clone(),
                None => window(plain, 0, LEN),
            };
        };
        // Start at a word boundary about BEFORE characters earlier.
        let start = plain[..at]
            .char_indices()
            .rev()
            .nth(BEFORE)
            .map_or(0, |(i, _)| plain[i..at].find(' ').map_or(i, |j| i + j + 1));
        window(plain, start, LEN)
    }
}

/// `len` characters of `text` from byte `start`, cut back to a space, with "…" where text
/// was left out.
fn window(text: &str, start: usize, len: usize) -> String {
    let rest = &text[start..];
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    match rest.char_indices().nth(len) {
        None => out.push_str(rest),
        Some((cut, _)) => {
            let cut = rest[..cut].rfind(' ').filter(|&i| i > 0).unwrap_or(cut);
            out.push_str(rest[..cut].trim_end());
            out.push('…');
        }
    }
    out
}
