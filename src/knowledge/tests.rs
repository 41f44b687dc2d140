use std::collections::BTreeSet;

use super::search::stems;
use super::*;

fn forms() -> BTreeSet<String> {
    [
        "tajekoztato",
        "lakcim",
        "gepjarmuado",
        "epitesi",
        "szocialis",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

fn build(files: &[(&str, &str)]) -> Result<KnowledgeBase, Vec<String>> {
    let sources = files
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect();
    KnowledgeBase::build(sources, &forms()).map_err(|d| d.iter().map(ToString::to_string).collect())
}

fn errors(files: &[(&str, &str)]) -> Vec<String> {
    match build(files) {
        Ok(kb) => panic!("expected errors, built {} articles", kb.len()),
        Err(e) => e,
    }
}

const LAKCIM: &str = r#"+++
title = "Lakcím bejelentése"
tags = ["költözés", "lakcímkártya"]
forms = ["lakcim"]
summary = "Hol jelenthető be az új lakcím."
+++
# Lakcím bejelentése

Költözés után három munkanapon belül kell bejelenteni az új lakóhelyet
a [lakcímbejelentő lapon](nyomtatvany:lakcim). Az adóügyekről lásd:
[helyi adók](cikk:helyi-adok).
"#;

const ADOK: &str = r#"+++
title = "Helyi adók"
tags = ["adó", "építményadó"]
forms = ["tajekoztato"]
+++
Az építményadóról és a telekadóról a hivatal adóügyi csoportja ad tájékoztatást.
Az adóügyek intézése személyesen vagy elektronikusan lehetséges.
"#;

const PARKOLAS: &str = r#"+++
title = "Parkolási engedély"
tags = ["parkolás"]
forms = ["tajekoztato"]
+++
A lakossági parkolási engedélyhez a lakcímkártya szükséges.
"#;

fn shipped_like() -> KnowledgeBase {
    build(&[
        ("knowledge/lakcim-bejelentese.md", LAKCIM),
        ("knowledge/helyi-adok.md", ADOK),
        ("knowledge/parkolasi-engedely.md", PARKOLAS),
    ])
    .expect("valid articles")
}

fn slugs(hits: &[Hit]) -> Vec<&str> {
    hits.iter().map(|h| h.slug.as_str()).collect()
}

// ---- parsing ----

#[test]
fn an_article_keeps_every_front_matter_field_and_the_body_after_it() {
    let kb = shipped_like();
    let a = kb.get("lakcim-bejelentese").expect("present");
    assert_eq!(a.title, "Lakcím bejelentése");
    assert_eq!(a.tags, ["költözés", "lakcímkártya"]);
    assert_eq!(a.forms, ["lakcim"]);
    assert_eq!(
        a.summary.as_deref(),
        Some("Hol jelenthető be az új lakcím.")
    );
    assert!(
        a.body_md.starts_with("# Lakcím bejelentése\n"),
        "{}",
        a.body_md
    );
    assert_eq!(a.source, "knowledge/lakcim-bejelentese.md");
    assert_eq!(
        kb.articles()
            .iter()
            .map(|a| a.slug.as_str())
            .collect::<Vec<_>>(),
        ["helyi-adok", "lakcim-bejelentese", "parkolasi-engedely"]
    );
    assert!(kb.get("nincs-ilyen").is_none());
}

#[test]
fn tags_forms_and_summary_may_be_left_out_and_a_byte_order_mark_is_skipped() {
    let kb = build(&[(
        "k/a.md",
        "\u{feff}+++\r\ntitle = \"Cím\"\r\n+++\r\nSzöveg.\r\n",
    )])
    .expect("valid");
    let a = kb.get("a").expect("present");
    assert!(a.tags.is_empty() && a.forms.is_empty() && a.summary.is_none());
    assert_eq!(a.body_md, "Szöveg.\r\n");
}

#[test]
fn a_file_without_front_matter_is_refused_naming_its_first_line() {
    assert_eq!(
        errors(&[("knowledge/a.md", "# Lakcím\n\nSzöveg.\n")]),
        [
            "knowledge/a.md:1:1: expected a front matter block between \"+++\" lines at the top, found \"# Lakcím\""
        ]
    );
    assert_eq!(
        errors(&[("knowledge/a.md", "")]),
        [
            "knowledge/a.md:1:1: expected a front matter block between \"+++\" lines at the top, found an empty file"
        ]
    );
}

#[test]
fn front_matter_that_is_never_closed_is_refused() {
    assert_eq!(
        errors(&[("knowledge/a.md", "+++\ntitle = \"x\"\n++\nSzöveg.\n")]),
        [
            "knowledge/a.md:1:1: the front matter opened here is never closed (expected a line \"+++\" after it)"
        ]
    );
}

#[test]
fn a_missing_or_empty_title_is_refused() {
    assert_eq!(
        errors(&[("knowledge/a.md", "+++\ntags = [\"adó\"]\n+++\nSzöveg.\n")]),
        ["knowledge/a.md:1:1: expected a title in the front matter (title = \"…\"), found none"]
    );
    assert_eq!(
        errors(&[("knowledge/a.md", "+++\ntitle = \"  \"\n+++\nSzöveg.\n")]),
        ["knowledge/a.md:2:9: expected a title with some words, found an empty one"]
    );
}

#[test]
fn invalid_toml_in_the_front_matter_is_reported_where_it_stands_in_the_file() {
    let e = errors(&[("knowledge/a.md", "+++\ntitle = \"Cím\"\ntags = adó\n+++\n")]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("knowledge/a.md:3:8: front matter: "),
        "{e:?}"
    );

    let e = errors(&[("knowledge/a.md", "+++\ntitle = \"Cím\"\ncimkek = []\n+++\n")]);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("knowledge/a.md:3:1: front matter: "),
        "{e:?}"
    );
    assert!(e[0].contains("unknown field `cimkek`"), "{e:?}");
}

#[test]
fn an_unknown_form_in_the_forms_list_is_reported_at_its_string_with_the_closest_ids() {
    let text = "+++\ntitle = \"Cím\"\nforms = [\"lakcim\", \"lakcm\"]\n+++\nSzöveg.\n";
    assert_eq!(
        errors(&[("knowledge/foo.md", text)]),
        [
            "knowledge/foo.md:3:20: unknown form \"lakcm\" (known: lakcim, epitesi, szocialis, tajekoztato, gepjarmuado)"
        ]
    );
}

#[test]
fn a_link_to_an_unknown_form_is_reported_at_its_address() {
    let text = "+++\ntitle = \"Cím\"\n+++\nElső sor.\nA [nyomtatvány](nyomtatvany:xyz) kell.\n";
    assert_eq!(
        errors(&[("knowledge/foo.md", text)]),
        [
            "knowledge/foo.md:5:17: unknown form \"xyz\" (known: lakcim, epitesi, szocialis, tajekoztato, gepjarmuado)"
        ]
    );
}

#[test]
fn a_link_to_an_unknown_article_is_reported_with_the_known_slugs() {
    let text = "+++\ntitle = \"Cím\"\n+++\nLásd: [adók](cikk:helyi-adk).\n";
    assert_eq!(
        errors(&[
            ("knowledge/foo.md", text),
            ("knowledge/helyi-adok.md", ADOK)
        ]),
        ["knowledge/foo.md:4:14: unknown article \"helyi-adk\" (known: helyi-adok, foo)"]
    );
}

#[test]
fn a_link_to_an_unsafe_or_relative_address_is_refused() {
    let text = "+++\ntitle = \"Cím\"\n+++\n[kattints](javascript:alert(1)) és [ez](lakcim.md)\n";
    assert_eq!(
        errors(&[("knowledge/foo.md", text)]),
        [
            "knowledge/foo.md:4:12: expected a link address starting with cikk:, nyomtatvany:, https://, http://, mailto:, tel: or #, found \"javascript:alert(1)\"",
            "knowledge/foo.md:4:41: expected a link address starting with cikk:, nyomtatvany:, https://, http://, mailto:, tel: or #, found \"lakcim.md\""
        ]
    );
}

#[test]
fn web_mail_phone_and_anchor_links_are_accepted() {
    let text = "+++\ntitle = \"Cím\"\n+++\n[a](https://magyarorszag.hu) [b](mailto:x@example.hu) [c](tel:+3612345678) [d](#alja) <y@example.hu>\n";
    assert!(build(&[("knowledge/foo.md", text)]).is_ok());
}

#[test]
fn a_file_name_that_is_not_a_slug_is_refused() {
    let text = "+++\ntitle = \"Cím\"\n+++\n";
    assert_eq!(
        errors(&[("knowledge/Lakcím bejelentés.md", text)]),
        [
            "knowledge/Lakcím bejelentés.md:1:1: expected a file name of lowercase letters a-z, digits and \"-\" before .md, found \"Lakcím bejelentés\""
        ]
    );
}

#[test]
fn two_files_with_one_slug_are_refused() {
    assert_eq!(
        errors(&[("a/helyi-adok.md", ADOK), ("b/helyi-adok.md", ADOK)]),
        ["b/helyi-adok.md:1:1: duplicate article \"helyi-adok\" (also a/helyi-adok.md)"]
    );
}

#[test]
fn every_problem_in_every_file_is_reported_at_once_in_file_order() {
    let bad_links =
        "+++\ntitle = \"Cím\"\nforms = [\"x\"]\n+++\n[a](cikk:nincs) [b](nyomtatvany:y)\n";
    let e = errors(&[
        ("knowledge/b.md", bad_links),
        ("knowledge/a.md", "no front matter\n"),
    ]);
    let positions: Vec<&str> = e
        .iter()
        .map(|e| e.split(": ").next().unwrap_or(""))
        .collect();
    assert_eq!(
        positions,
        [
            "knowledge/a.md:1:1",
            "knowledge/b.md:3:10",
            "knowledge/b.md:5:5",
            "knowledge/b.md:5:21"
        ],
        "{e:?}"
    );
}

// ---- version ----

#[test]
fn the_version_follows_the_content_not_the_order_of_the_files() {
    let a = shipped_like();
    let b = build(&[
        ("knowledge/parkolasi-engedely.md", PARKOLAS),
        ("knowledge/helyi-adok.md", ADOK),
        ("knowledge/lakcim-bejelentese.md", LAKCIM),
    ])
    .expect("valid");
    assert_eq!(a.version(), b.version());
    assert_eq!(a.version().len(), 16);
    let edited = PARKOLAS.replace("szükséges", "kell");
    let c = build(&[
        ("knowledge/parkolasi-engedely.md", &edited),
        ("knowledge/helyi-adok.md", ADOK),
        ("knowledge/lakcim-bejelentese.md", LAKCIM),
    ])
    .expect("valid");
    assert_ne!(a.version(), c.version());
    assert_eq!(KnowledgeBase::default().version(), "");
}

// ---- search ----

#[test]
fn folding_removes_hungarian_accents_and_case() {
    assert_eq!(
        fold("Lakcím ÁRVÍZTŰRŐ tükörfúrógép"),
        "lakcim arvizturo tukorfurogep"
    );
    assert_eq!(fold("õ û"), "o u");
}

#[test]
fn search_ignores_accents_and_case() {
    let kb = shipped_like();
    for q in ["lakcim", "LAKCÍM", "Lakcím", "lakcím bejelentese"] {
        let hits = kb.search(q, 10);
        assert_eq!(
            hits.first().map(|h| h.slug.as_str()),
            Some("lakcim-bejelentese"),
            "{q}"
        );
    }
}

#[test]
fn a_query_word_matches_the_start_of_longer_words() {
    let kb = shipped_like();
    assert_eq!(slugs(&kb.search("park", 10)), ["parkolasi-engedely"]);
    // "adó" begins "adóügyek" (lakcím article's body) and "adó", "adóügyi" (taxes).
    assert_eq!(
        slugs(&kb.search("adó", 10)),
        ["helyi-adok", "lakcim-bejelentese"]
    );
    assert_eq!(slugs(&kb.search("építmény", 10)), ["helyi-adok"]);
}

#[test]
fn hungarian_case_and_plural_endings_on_query_words_are_stripped() {
    let kb = shipped_like();
    for q in [
        "lakcímet",
        "lakcímről",
        "lakcímeket",
        "lakcímmel lakcímhez",
        "lakcímben",
    ] {
        assert!(
            slugs(&kb.search(q, 10)).contains(&"lakcim-bejelentese"),
            "{q}: {:?}",
            kb.search(q, 10)
        );
    }
    assert_eq!(
        slugs(&kb.search("adóról", 10)).first(),
        Some(&"helyi-adok"),
        "{:?}",
        kb.search("adóról", 10)
    );
    assert_eq!(slugs(&kb.search("parkolásért", 10)), ["parkolasi-engedely"]);
    assert_eq!(slugs(&kb.search("engedélyek", 10)), ["parkolasi-engedely"]);
}

#[test]
fn endings_are_stripped_only_when_three_letters_remain() {
    assert_eq!(stems("lakcimet"), ["lakcim", "lakcime"]);
    assert_eq!(stems("lakcimeket"), ["lakcim", "lakcimek", "lakcimeke"]);
    assert_eq!(stems("adorol"), ["ado"]);
    assert_eq!(stems("adoval"), ["ado"]);
    assert_eq!(stems("lakcimmel"), ["lakcim"]);
    assert_eq!(stems("hatarozattal"), ["hatarozat"]);
    // "adat" is a word of its own, not "ad" + "-at".
    assert_eq!(stems("adat"), ["ada"]);
    assert!(stems("eb").is_empty());
    assert!(stems("adot").contains(&"ado".to_owned()));
}

#[test]
fn every_query_word_must_match() {
    let kb = shipped_like();
    assert_eq!(
        slugs(&kb.search("lakcímkártya parkolási", 10)),
        ["parkolasi-engedely"]
    );
    assert!(kb.search("lakcím telekadó", 10).is_empty());
}

#[test]
fn title_matches_rank_above_tag_matches_above_body_matches() {
    let kb = build(&[
        (
            "k/torzs.md",
            "+++\ntitle = \"Egyéb ügyek\"\n+++\nAz anyakönyvi kivonat itt is szóba kerül.\n",
        ),
        (
            "k/cimke.md",
            "+++\ntitle = \"Születés\"\ntags = [\"anyakönyv\"]\n+++\nSzöveg.\n",
        ),
        (
            "k/cim.md",
            "+++\ntitle = \"Anyakönyvi ügyek\"\n+++\nSzöveg.\n",
        ),
    ])
    .expect("valid");
    let hits = kb.search("anyakonyv", 10);
    assert_eq!(slugs(&hits), ["cim", "cimke", "torzs"]);
    assert!(hits[0].score > hits[1].score && hits[1].score > hits[2].score);
}

#[test]
fn a_whole_word_ranks_above_a_word_it_only_begins() {
    let kb = build(&[
        ("k/a.md", "+++\ntitle = \"Adóügyek\"\n+++\nx\n"),
        ("k/b.md", "+++\ntitle = \"Adó\"\n+++\nx\n"),
    ])
    .expect("valid");
    assert_eq!(slugs(&kb.search("ado", 10)), ["b", "a"]);
}

#[test]
fn filler_words_of_a_question_are_left_out_unless_nothing_else_is_asked() {
    let kb = shipped_like();
    assert_eq!(
        slugs(&kb.search("hogy a parkolás", 10)),
        ["parkolasi-engedely"]
    );
    // "az" alone is searched for: it occurs in two bodies.
    assert_eq!(kb.search("az", 10).len(), 2);
}

#[test]
fn an_empty_query_or_limit_finds_nothing_and_the_limit_is_kept() {
    let kb = shipped_like();
    assert!(kb.search("", 10).is_empty());
    assert!(kb.search("  ,;  ", 10).is_empty());
    assert!(kb.search("lakcím", 0).is_empty());
    assert_eq!(kb.search("lakcím", 1).len(), 1);
    assert!(KnowledgeBase::default().search("lakcím", 10).is_empty());
}

#[test]
fn the_snippet_is_plain_text_around_the_first_body_match() {
    let kb = shipped_like();
    let hits = kb.search("lakóhely", 10);
    assert_eq!(slugs(&hits), ["lakcim-bejelentese"]);
    let s = &hits[0].snippet;
    assert!(s.contains("lakóhelyet"), "{s}");
    assert!(!s.contains("](") && !s.contains('#'), "no Markdown: {s}");
    assert!(s.chars().count() <= 170, "{s}");
    assert!(
        s.contains("lakóhelyet a lakcímbejelentő lapon. Az"),
        "links read as text: {s}"
    );
    // Only a tag matched: the summary stands in.
    let hits = kb.search("lakcímkártyával", 10);
    assert_eq!(hits[0].slug, "lakcim-bejelentese");
    assert_eq!(hits[0].snippet, "Hol jelenthető be az új lakcím.");
}

#[test]
fn a_long_body_gives_a_snippet_cut_at_words_with_ellipses() {
    let body = format!(
        "{} A kérelmet a hivatal ügyfélszolgálatán kell benyújtani. {}",
        "Bevezető mondat a témáról. ".repeat(10),
        "Záró mondat a részletekről. ".repeat(10)
    );
    let kb = build(&[("k/a.md", &format!("+++\ntitle = \"Cím\"\n+++\n{body}"))]).expect("valid");
    let s = &kb.search("kérelmet", 1)[0].snippet;
    assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
    assert!(s.contains("kérelmet a hivatal"), "{s}");
    assert!(s.chars().count() <= 162, "{s}");
}

// ---- HTML ----

fn urls(t: Target<'_>) -> String {
    match t {
        Target::Article(s) => format!("/console/kb/{s}"),
        Target::Form(f) => format!("/console/forms/{f}"),
    }
}

#[test]
fn article_and_form_links_get_the_callers_addresses() {
    let html = shipped_like()
        .render_html("lakcim-bejelentese", urls)
        .expect("present");
    assert!(html.contains("<h1>Lakcím bejelentése</h1>"), "{html}");
    assert!(
        html.contains(r#"<a href="/console/forms/lakcim">lakcímbejelentő lapon</a>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<a href="/console/kb/helyi-adok">helyi adók</a>"#),
        "{html}"
    );
    assert!(shipped_like().render_html("nincs", urls).is_none());
}

#[test]
fn raw_html_in_an_article_is_shown_as_text_never_passed_through() {
    let text = "+++\ntitle = \"Cím\"\n+++\n<script>alert(1)</script>\n\nSzöveg <img src=x onerror=alert(2)> és <b>félkövér</b>.\n";
    let kb = build(&[("k/a.md", text)]).expect("valid");
    let html = kb.render_html("a", urls).expect("present");
    assert!(
        !html.contains("<script") && !html.contains("<img") && !html.contains("<b>"),
        "{html}"
    );
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(
        html.contains("&lt;img src=x onerror=alert(2)&gt;"),
        "{html}"
    );
}

#[test]
fn images_become_their_alt_text_and_unsafe_links_their_text() {
    let html = render::html(
        "![a hivatal térképe](https://example.hu/t.png) [kattints](javascript:alert(1)) [jó](https://magyarorszag.hu)",
        &urls,
    );
    assert_eq!(
        html,
        "<p>a hivatal térképe kattints <a href=\"https://magyarorszag.hu\">jó</a></p>\n"
    );
}

#[test]
fn a_caller_address_with_quotes_cannot_break_out_of_the_attribute() {
    let html = shipped_like()
        .render_html("lakcim-bejelentese", |_| "\"><script>".to_owned())
        .expect("present");
    assert!(!html.contains("<script>"), "{html}");
}

// ---- malformed input ----

/// Every prefix of a shipped article (cut at each character) and seeded byte mutations of
/// it either build or are refused with positions inside the file; none panics, and whatever
/// builds renders without raw HTML and answers a search for its title.
#[test]
fn truncated_and_mutated_articles_are_refused_or_built_never_a_panic() {
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/knowledge/lakcim-bejelentes.md"
    ))
    .expect("shipped article");
    let other = ("knowledge/helyi-adok.md".to_owned(), ADOK.to_owned());
    let other_links = ["parkolas", "ugyintezes"].map(|s| {
        (
            format!("knowledge/{s}.md"),
            format!("+++\ntitle = \"{s}\"\n+++\n"),
        )
    });
    let try_text = |text: &str| {
        let mut sources = vec![
            ("knowledge/lakcim-bejelentes.md".to_owned(), text.to_owned()),
            other.clone(),
        ];
        sources.extend(other_links.iter().cloned());
        match KnowledgeBase::build(sources, &forms()) {
            Ok(kb) => {
                let html = kb
                    .render_html("lakcim-bejelentes", |_| "/x".to_owned())
                    .expect("built article renders");
                assert!(!html.contains("<script"), "{html}");
                let title = &kb.get("lakcim-bejelentes").expect("present").title;
                if fold(title).chars().any(char::is_alphanumeric) {
                    assert!(
                        slugs(&kb.search(title, 10)).contains(&"lakcim-bejelentes"),
                        "{title:?}"
                    );
                }
            }
            Err(diags) => {
                assert!(!diags.is_empty());
                let lines = text.lines().count() + 1;
                for d in diags {
                    assert!(d.line >= 1 && d.col >= 1 && d.line <= lines.max(1), "{d}");
                }
            }
        }
    };
    for (i, _) in shipped.char_indices() {
        try_text(&shipped[..i]);
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let inserts: [&[u8]; 8] = [
        b"+++\n",
        b"<script>",
        b"](cikk:",
        b"](nyomtatvany:",
        b"\"",
        b"[",
        b"\n",
        b"\xc5\x91",
    ];
    for _ in 0..1500 {
        let mut bytes = shipped.as_bytes().to_vec();
        for _ in 0..1 + next() % 4 {
            let at = (next() % bytes.len() as u64) as usize;
            match next() % 3 {
                0 => bytes[at] = (next() % 128) as u8,
                1 => {
                    bytes.remove(at);
                }
                _ => {
                    let ins = inserts[(next() % inserts.len() as u64) as usize];
                    bytes.splice(at..at, ins.iter().copied());
                }
            }
        }
        if let Ok(text) = String::from_utf8(bytes) {
            try_text(&text);
        }
    }
}

#[test]
fn a_folded_prefix_is_recognised_without_folding_the_whole_word() {
    assert!(super::search::folded_starts_with(
        "Lakcímbejelentő",
        "lakcim"
    ));
    assert!(super::search::folded_starts_with(
        "ÉPÍTMÉNYADÓ",
        "epitmenyado"
    ));
    assert!(!super::search::folded_starts_with("Lak", "lakcim"));
    assert!(super::search::folded_starts_with("bármi", ""));
}
