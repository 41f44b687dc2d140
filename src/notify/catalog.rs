//! The forms catalog (`config/forms.toml`): what a resident can ask for.
//!
//! ```toml
//! [[form]]
//! id = "lakcim"                      # named by dial-plan `send_form` nodes and the API
//! title = "Lakcímbejelentés"         # Hungarian title: SMS text, email subject, web page
//! file = "forms/lakcim.pdf"          # relative to this file's directory
//! prompt = "form_lakcim"             # prompt id the menu plays for it
//! key = "2"                          # the menu key that selects it
//! ```

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use crate::dialplan::FormChoice;

/// One form.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Form {
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub file: Option<PathBuf>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub key: Option<String>,
}

/// All forms, with file paths resolved against a root directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    forms: Vec<Form>,
}

/// Catalog problems, all found in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogError(pub Vec<String>);

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("\n"))
    }
}

impl std::error::Error for CatalogError {}

impl Catalog {
    /// Parses `text` (from `path`, for messages); relative `file`s are joined to `root`.
    /// Reports duplicate ids and keys, and files that do not exist.
    pub fn parse(text: &str, path: &Path, root: &Path) -> Result<Self, CatalogError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            #[serde(default)]
            form: Vec<Form>,
        }
        let doc: Doc = toml::from_str(text)
            .map_err(|e| CatalogError(vec![format!("{}: {}", path.display(), e.message())]))?;
        let mut errors = Vec::new();
        let mut forms = Vec::with_capacity(doc.form.len());
        for mut f in doc.form {
            if forms.iter().any(|g: &Form| g.id == f.id) {
                errors.push(format!(
                    "{}: form id {:?} appears twice",
                    path.display(),
                    f.id
                ));
            }
            if let Some(k) = &f.key
                && let Some(g) = forms.iter().find(|g: &&Form| g.key.as_ref() == Some(k))
            {
                errors.push(format!(
                    "{}: key {k:?} of form {:?} is already form {:?}'s",
                    path.display(),
                    f.id,
                    g.id
                ));
            }
            match (&f.key, &f.prompt) {
                (Some(k), _) if !(k.len() == 1 && k.bytes().all(|b| b.is_ascii_digit())) => {
                    errors.push(format!(
                        "{}: form {:?}: key: expected one digit 0-9 for the form-choice menu, \
                         found {k:?}",
                        path.display(),
                        f.id
                    ));
                }
                (Some(_), None) | (None, Some(_)) => errors.push(format!(
                    "{}: form {:?}: the form-choice menu offers a form by its key and its \
                     prompt: expected both, found only {}",
                    path.display(),
                    f.id,
                    if f.key.is_some() { "key" } else { "prompt" }
                )),
                _ => {}
            }
            if let Some(file) = f.file.take() {
                let full = if file.is_absolute() {
                    file
                } else {
                    root.join(file)
                };
                if !full.is_file() {
                    errors.push(format!(
                        "{}: form {:?}: expected a file at {}, found none",
                        path.display(),
                        f.id,
                        full.display()
                    ));
                }
                f.file = Some(full);
            }
            forms.push(f);
        }
        if errors.is_empty() {
            Ok(Self { forms })
        } else {
            Err(CatalogError(errors))
        }
    }

    /// Reads and parses the catalog at `path`; relative `file`s are relative to the
    /// catalog's own directory, so the catalog and its PDFs move together (`config/` in
    /// the repository, `/etc/ugyelet/` when packaged) whatever the working directory.
    pub fn load(path: &Path) -> Result<Self, CatalogError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CatalogError(vec![format!("{}: {e}", path.display())]))?;
        let root = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, root)
    }

    pub fn get(&self, id: &str) -> Option<&Form> {
        self.forms.iter().find(|f| f.id == id)
    }

    pub fn by_key(&self, key: &str) -> Option<&Form> {
        self.forms.iter().find(|f| f.key.as_deref() == Some(key))
    }

    pub fn forms(&self) -> &[Form] {
        &self.forms
    }

    /// The forms the form-choice menu offers (each with a key and a prompt), in catalog
    /// order.
    pub fn choices(&self) -> Vec<FormChoice<'_>> {
        self.forms
            .iter()
            .filter_map(|f| {
                let key = f.key.as_deref()?.chars().next()?;
                Some(FormChoice {
                    id: &f.id,
                    key,
                    prompt: f.prompt.as_deref()?,
                })
            })
            .collect()
    }
}

/// The catalog in force, shared by the senders and the download route, and swapped whole
/// when a reload finds a valid new one (a reader keeps the `Arc` it took).
#[derive(Debug, Clone, Default)]
pub struct LiveCatalog(Arc<RwLock<Arc<Catalog>>>);

impl LiveCatalog {
    /// The catalog now.
    pub fn get(&self) -> Arc<Catalog> {
        match self.0.read() {
            Ok(g) => Arc::clone(&g),
            // Replacing an `Arc` cannot leave it half-written.
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Puts `catalog` in force.
    pub fn set(&self, catalog: Catalog) {
        match self.0.write() {
            Ok(mut g) => *g = Arc::new(catalog),
            Err(p) => *p.into_inner() = Arc::new(catalog),
        }
    }
}

impl From<Catalog> for LiveCatalog {
    fn from(c: Catalog) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(c))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_loads_and_every_form_has_a_pdf() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let cat = Catalog::load(&root.join("config/forms.toml")).expect("valid");
        assert_eq!(cat.forms().len(), 5);
        for f in cat.forms() {
            let file = f.file.as_ref().expect("every shipped form has a file");
            assert!(
                file.starts_with(root.join("config/forms")),
                "resolved beside the catalog: {}",
                file.display()
            );
            let bytes = std::fs::read(file).expect("readable");
            assert!(bytes.starts_with(b"%PDF-1."), "{} is a PDF", file.display());
            assert!(bytes.len() < 8_000, "{} stays small", file.display());
            assert!(f.key.is_some() && f.prompt.is_some(), "{}", f.id);
        }
        assert_eq!(cat.by_key("2").map(|f| f.id.as_str()), Some("lakcim"));
    }

    #[test]
    fn a_live_catalog_swaps_whole_and_readers_keep_what_they_took() {
        let one = Catalog::parse(
            "[[form]]\nid = \"a\"\ntitle = \"A\"\n",
            Path::new("f.toml"),
            Path::new("."),
        )
        .expect("valid");
        let live = LiveCatalog::from(one);
        let before = live.get();
        let shared = live.clone();
        shared.set(Catalog::default());
        assert!(before.get("a").is_some(), "a reader keeps its catalog");
        assert!(
            live.get().get("a").is_none(),
            "every handle sees the new one"
        );
    }

    #[test]
    fn duplicate_ids_keys_and_missing_files_are_all_reported() {
        let text = r#"
            [[form]]
            id = "a"
            title = "A"
            key = "1"
            prompt = "form_a"
            [[form]]
            id = "a"
            title = "B"
            key = "1"
            prompt = "form_b"
            file = "nincs.pdf"
        "#;
        let err = Catalog::parse(text, Path::new("forms.toml"), Path::new("/nonexistent"))
            .expect_err("three problems");
        assert_eq!(
            err.0,
            [
                "forms.toml: form id \"a\" appears twice",
                "forms.toml: key \"1\" of form \"a\" is already form \"a\"'s",
                "forms.toml: form \"a\": expected a file at /nonexistent/nincs.pdf, found none",
            ]
        );
    }

    #[test]
    fn the_menu_offers_forms_with_a_digit_key_and_a_prompt_in_catalog_order() {
        let text = r#"
            [[form]]
            id = "b"
            title = "B"
            key = "2"
            prompt = "form_b"
            [[form]]
            id = "office"
            title = "Only operators send this"
            [[form]]
            id = "a"
            title = "A"
            key = "1"
            prompt = "form_a"
        "#;
        let cat = Catalog::parse(text, Path::new("forms.toml"), Path::new(".")).expect("valid");
        let offered: Vec<_> = cat
            .choices()
            .iter()
            .map(|c| (c.key, c.id, c.prompt))
            .collect();
        assert_eq!(offered, [('2', "b", "form_b"), ('1', "a", "form_a")]);
    }

    #[test]
    fn a_key_that_is_no_digit_or_without_its_prompt_is_refused() {
        let text = r#"
            [[form]]
            id = "star"
            title = "S"
            key = "*"
            prompt = "form_s"
            [[form]]
            id = "two"
            title = "T"
            key = "12"
            prompt = "form_t"
            [[form]]
            id = "mute"
            title = "M"
            key = "3"
            [[form]]
            id = "keyless"
            title = "K"
            prompt = "form_k"
        "#;
        let err = Catalog::parse(text, Path::new("forms.toml"), Path::new(".")).expect_err("4");
        assert_eq!(
            err.0,
            [
                "forms.toml: form \"star\": key: expected one digit 0-9 for the form-choice menu, found \"*\"",
                "forms.toml: form \"two\": key: expected one digit 0-9 for the form-choice menu, found \"12\"",
                "forms.toml: form \"mute\": the form-choice menu offers a form by its key and its prompt: expected both, found only key",
                "forms.toml: form \"keyless\": the form-choice menu offers a form by its key and its prompt: expected both, found only prompt",
            ]
        );
    }
}
