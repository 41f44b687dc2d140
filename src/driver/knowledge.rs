//! Reads the knowledge base from its directory (`knowledge.dir`) into a
//! [`KnowledgeBase`], the value the console searches and renders.
//!
//! Every `*.md` file directly in the directory is an article, except `README.md` (the
//! admin's guide beside them); subdirectories and other files (editor backups such as
//! `foo.md~`, notes) are left alone. Building is all or nothing, like a dial plan: a reload
//! that returns errors leaves the base that is serving in place. `ugyelet check` loads it
//! with [`load`] and prints the same errors and warnings.

use std::collections::BTreeSet;
use std::path::Path;

use crate::config::KnowledgeConfig;
use crate::knowledge::{Diagnostic, KnowledgeBase};
use crate::notify::catalog::Catalog;

/// The form ids articles may name, from the catalog the daemon serves.
pub fn known_forms(catalog: &Catalog) -> BTreeSet<String> {
    catalog.forms().iter().map(|f| f.id.clone()).collect()
}

/// Reads and builds every article in `dir`. Errors are `file:line:col: message`, every
/// one at once; a directory or file that cannot be read is an error too.
pub fn load_dir(dir: &Path, known_forms: &BTreeSet<String>) -> Result<KnowledgeBase, Vec<String>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        vec![format!(
            "{}: cannot read the knowledge base directory: {e}",
            dir.display()
        )]
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "md")
                && !p
                    .file_name()
                    .is_some_and(|n| n.eq_ignore_ascii_case("README.md"))
                && !p.is_dir()
        })
        .collect();
    paths.sort();
    let mut errors = Vec::new();
    let mut sources = Vec::with_capacity(paths.len());
    for p in paths {
        let file = p.display().to_string();
        match std::fs::read_to_string(&p) {
            Ok(text) => sources.push((file, text)),
            Err(e) => errors.push(Diagnostic {
                file,
                line: 1,
                col: 1,
                message: format!("cannot read the article (expected UTF-8 text): {e}"),
            }),
        }
    }
    match KnowledgeBase::build(sources, known_forms) {
        Ok(kb) if errors.is_empty() => return Ok(kb),
        Ok(_) => {}
        Err(more) => errors.extend(more),
    }
    // File order, then position, as an admin reads them.
    errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
    Err(errors.iter().map(ToString::to_string).collect())
}

/// The configured knowledge base and its warnings: none when `dir` is empty (no knowledge
/// base wanted); an empty base and a warning when the directory does not exist, so a
/// missing directory never stops the line but `ugyelet check` says so.
pub fn load(
    cfg: &KnowledgeConfig,
    known_forms: &BTreeSet<String>,
) -> Result<(KnowledgeBase, Vec<String>), Vec<String>> {
    if cfg.dir.as_os_str().is_empty() {
        return Ok((KnowledgeBase::default(), Vec::new()));
    }
    if !cfg.dir.exists() {
        return Ok((
            KnowledgeBase::default(),
            vec![format!(
                "{}: warning: knowledge.dir names no directory; the knowledge base is empty",
                cfg.dir.display()
            )],
        ));
    }
    load_dir(&cfg.dir, known_forms).map(|kb| (kb, Vec::new()))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn scratch(what: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ugyelet-knowledge-{what}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    fn forms() -> BTreeSet<String> {
        ["lakcim".to_owned()].into_iter().collect()
    }

    #[test]
    fn articles_are_the_md_files_beside_the_readme_and_nothing_else() {
        let dir = scratch("files");
        let article = "+++\ntitle = \"Lakcím\"\nforms = [\"lakcim\"]\n+++\nSzöveg.\n";
        std::fs::write(dir.join("lakcim.md"), article).expect("write");
        std::fs::write(dir.join("README.md"), "# Hogyan írjunk cikket\n").expect("write");
        std::fs::write(dir.join("lakcim.md~"), "régi").expect("write");
        std::fs::write(dir.join("jegyzet.txt"), "jegyzet").expect("write");
        std::fs::create_dir_all(dir.join("piszkozat.md")).expect("dir");
        let kb = load_dir(&dir, &forms()).expect("valid");
        let slugs: Vec<&str> = kb.articles().iter().map(|a| a.slug.as_str()).collect();
        assert_eq!(slugs, ["lakcim"]);
        assert_eq!(
            kb.get("lakcim").map(|a| a.source.clone()),
            Some(dir.join("lakcim.md").display().to_string())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_error_names_the_file_as_found_in_the_directory() {
        let dir = scratch("error");
        std::fs::write(
            dir.join("a.md"),
            "+++\ntitle = \"A\"\n+++\n[lap](nyomtatvany:lakcm)\n",
        )
        .expect("write");
        std::fs::write(dir.join("b.md"), [0xff, 0xfe]).expect("write");
        let errors = load_dir(&dir, &forms()).expect_err("broken");
        let a = dir.join("a.md").display().to_string();
        let b = dir.join("b.md").display().to_string();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(
            errors[0],
            format!("{a}:4:7: unknown form \"lakcm\" (known: lakcim)")
        );
        assert!(
            errors[1].starts_with(&format!("{b}:1:1: cannot read the article")),
            "{errors:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_empty_setting_means_no_base_and_a_missing_directory_a_warning() {
        let (kb, warnings) = load(
            &KnowledgeConfig {
                dir: PathBuf::new(),
            },
            &forms(),
        )
        .expect("no base wanted");
        assert!(kb.is_empty() && warnings.is_empty());

        let missing = scratch("missing").join("nincs");
        let (kb, warnings) = load(
            &KnowledgeConfig {
                dir: missing.clone(),
            },
            &forms(),
        )
        .expect("missing is not an error");
        assert!(kb.is_empty());
        assert_eq!(
            warnings,
            [format!(
                "{}: warning: knowledge.dir names no directory; the knowledge base is empty",
                missing.display()
            )]
        );
    }

    #[test]
    fn the_shipped_articles_build_against_the_shipped_catalog() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let catalog = Catalog::load(&root.join("config/forms.toml")).expect("shipped catalog");
        let kb = load_dir(&root.join("knowledge"), &known_forms(&catalog))
            .unwrap_or_else(|e| panic!("{}", e.join("\n")));
        assert!(kb.len() >= 10, "{} articles", kb.len());
        for a in kb.articles() {
            assert!(!a.forms.is_empty(), "{} names no form", a.slug);
            assert!(a.summary.is_some(), "{} has no summary", a.slug);
        }
    }
}
