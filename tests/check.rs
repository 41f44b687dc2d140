//! `ugyelet check`, which the systemd unit runs before every start: it must refuse what
//! `run` would refuse, so a broken installation fails with its reasons in the journal
//! instead of in the daemon's first seconds. Here: the forms catalog and its PDFs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check(dir: &Path, catalog: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .arg("check")
        // Another working directory than the repository's: form files are found beside
        // the catalog, not where the daemon happens to run.
        .current_dir(dir)
        .env(
            "UGYELET_PROMPTS__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/hu"),
        )
        .env(
            "UGYELET_DIALPLAN__PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/main.toml"),
        )
        .env("UGYELET_FORMS__CATALOG", catalog)
        .env("UGYELET_STATE__DIR", dir.join("state"))
        .output()
        .expect("run ugyelet check")
}

fn scratch(what: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("check-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[test]
fn the_shipped_catalog_passes_from_any_working_directory() {
    let dir = scratch("shipped");
    let out = check(
        &dir,
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms.toml")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(", 5 forms,"), "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_form_whose_pdf_is_missing_is_refused_with_the_catalog_and_the_path_it_looked_at() {
    let dir = scratch("missing");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms.toml"))
            .expect("shipped catalog");
    // The catalog moved without its PDFs.
    let catalog = dir.join("forms.toml");
    std::fs::write(&catalog, shipped).expect("write catalog");
    let out = check(&dir, &catalog);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "{}: form \"lakcim\": expected a file at {}, found none",
        catalog.display(),
        dir.join("forms/lakcim.pdf").display()
    );
    assert!(stderr.contains(&want), "{want}\nin\n{stderr}");
    assert_eq!(
        stderr.matches("expected a file at").count(),
        5,
        "every missing form at once: {stderr}"
    );

    // Put back beside it, they are found.
    std::fs::create_dir_all(dir.join("forms")).expect("forms dir");
    for e in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms"))
        .expect("shipped forms")
    {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "pdf") {
            std::fs::copy(&p, dir.join("forms").join(p.file_name().expect("name")))
                .expect("copy form");
        }
    }
    let out = check(&dir, &catalog);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
