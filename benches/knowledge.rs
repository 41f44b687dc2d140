//! Search in a knowledge base of 1,000 articles: the shipped articles' sentences, titles and
//! tags recombined into articles of about the same length (a few hundred words each), every
//! one linking a form and another article, so the index holds the real vocabulary in the
//! mixtures a larger base would have. Times building the base (parse, validate, index) and
//! a few searches an operator would type: a plain word, words with Hungarian endings, a
//! short prefix, several words, and a word found nowhere.

use std::collections::BTreeSet;
use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use ugyelet::knowledge::KnowledgeBase;

/// A small deterministic generator (xorshift64*), so every run times the same base.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

/// Markdown without link addresses: `[szöveg](cikk:x)` → `szöveg`.
fn strip_links(md: &str) -> String {
    let mut out = String::with_capacity(md.len());
    let mut rest = md;
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i]);
        rest = &rest[i + 2..];
        rest = rest.find(')').map_or("", |j| &rest[j + 1..]);
    }
    out.push_str(rest);
    out.replace(['[', '*'], "")
}

/// Titles, tags and prose sentences of the shipped articles.
fn vocabulary(kb: &KnowledgeBase) -> (Vec<String>, Vec<String>, Vec<String>) {
    let titles = kb.articles().iter().map(|a| a.title.clone()).collect();
    let tags = kb
        .articles()
        .iter()
        .flat_map(|a| a.tags.iter().cloned())
        .collect();
    let mut sentences = Vec::new();
    for a in kb.articles() {
        let prose: Vec<&str> = a
            .body_md
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#'))
            .collect();
        for s in strip_links(&prose.join(" ")).split(". ") {
            let s = s.trim_start_matches(['-', ' ', '1', '2', '3', '.']).trim();
            if s.split(' ').count() >= 5 {
                sentences.push(format!("{}.", s.trim_end_matches('.')));
            }
        }
    }
    (titles, tags, sentences)
}

fn generated(n: usize, forms: &BTreeSet<String>) -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shipped = ugyelet::driver::knowledge::load_dir(&root.join("knowledge"), forms)
        .expect("the shipped articles build");
    let (titles, tags, sentences) = vocabulary(&shipped);
    let forms: Vec<&String> = forms.iter().collect();
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    (0..n)
        .map(|i| {
            let title = format!("{} – {}", rng.pick(&titles), rng.pick(&tags));
            let tag_list: Vec<String> = (0..4).map(|_| format!("{:?}", rng.pick(&tags))).collect();
            let form = rng.pick(&forms);
            let mut body = String::new();
            for p in 0..5 {
                if p > 0 {
                    body.push_str(&format!("\n\n## {}\n\n", rng.pick(&tags)));
                }
                for _ in 0..6 {
                    body.push_str(rng.pick(&sentences).as_str());
                    body.push(' ');
                }
            }
            body.push_str(&format!(
                "\n\nNyomtatvány: [kérelem](nyomtatvany:{form}); lásd még \
                 [a következő cikket](cikk:cikk-{:04}).\n",
                (i + 1) % n
            ));
            let text = format!(
                "+++\ntitle = {title:?}\ntags = [{}]\nforms = [{form:?}]\n\
                 summary = {:?}\n+++\n{body}",
                tag_list.join(", "),
                rng.pick(&sentences)
            );
            (format!("knowledge/cikk-{i:04}.md"), text)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let forms: BTreeSet<String> = [
        "tajekoztato",
        "lakcim",
        "gepjarmuado",
        "epitesi",
        "szocialis",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    let sources = generated(1000, &forms);
    let words: usize = sources
        .iter()
        .map(|(_, t)| t.split_whitespace().count())
        .sum();
    eprintln!("1,000 articles, {} words on average", words / 1000);
    let kb = KnowledgeBase::build(sources.clone(), &forms).expect("generated articles build");

    let mut g = c.benchmark_group("knowledge");
    g.sample_size(20);
    g.bench_function("build 1,000 articles", |b| {
        b.iter(|| KnowledgeBase::build(black_box(sources.clone()), &forms).map(|kb| kb.len()))
    });
    g.sample_size(100);
    for q in [
        "lakcím",
        "lakcímet bejelenteni",
        "adóról",
        "park",
        "házasságkötési szándék anyakönyvvezető",
        "xyzzy",
    ] {
        let hits = kb.search(q, 10);
        eprintln!("{q:?}: {} hit(s) of 10 asked", hits.len());
        g.bench_function(format!("search {q:?}, 10 hits"), |b| {
            b.iter(|| kb.search(black_box(q), 10))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
