//! `ugyelet check`, which the systemd unit runs before every start: it must refuse what
//! `run` would refuse, so a broken installation fails with its reasons in the journal
//! instead of in the daemon's first seconds. Here: the forms catalog and its PDFs, and the
//! operators' knowledge base, whose links name those forms.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHIPPED_KNOWLEDGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/knowledge");

fn check(dir: &Path, catalog: &Path) -> Output {
    check_with_knowledge(dir, catalog, Path::new(SHIPPED_KNOWLEDGE))
}

fn check_with_knowledge(dir: &Path, catalog: &Path, knowledge: &Path) -> Output {
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
        .env("UGYELET_KNOWLEDGE__DIR", knowledge)
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

#[test]
fn a_catalog_prompt_missing_from_the_prompt_set_is_refused_and_a_two_segment_sms_warned() {
    let dir = scratch("catalog-prompts");
    let catalog = dir.join("forms.toml");
    let write = |lakcim_prompt: &str| {
        std::fs::write(
            &catalog,
            format!(
                "[[form]]\nid = \"tajekoztato\"\ntitle = \"Ügyintézési tájékoztató\"\n\
                 prompt = \"form_tajekoztato\"\nkey = \"1\"\n\
                 [[form]]\nid = \"lakcim\"\ntitle = \"Lakcímbejelentés\"\n\
                 prompt = \"{lakcim_prompt}\"\nkey = \"2\"\n\
                 [[form]]\nid = \"hosszu\"\ntitle = \"Települési támogatás kérelem \
                 rendkívüli élethelyzetben lévő, egyedül élő idős személyek részére, a 2026. \
                 évi rendelet szerint\"\n"
            ),
        )
        .expect("write catalog");
    };
    // No articles: the shipped ones name forms this catalog lacks.
    let no_articles = dir.join("knowledge");

    write("form_lakcimm");
    let out = check_with_knowledge(&dir, &catalog, &no_articles);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let want = format!(
        "{}: form \"lakcim\": prompt \"form_lakcimm\" is not in the prompt set {}/prompts/hu/manifest.toml (closest: form_lakcim,",
        catalog.display(),
        env!("CARGO_MANIFEST_DIR")
    );
    assert!(stderr.contains(&want), "{want}\nin\n{stderr}");

    // With the prompt spelt right the menu can name every form; the long title is a
    // warning (the SMS still goes, as two billed segments).
    write("form_lakcim");
    let out = check_with_knowledge(&dir, &catalog, &no_articles);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let long = format!(
        "{}: warning: form \"hosszu\": its SMS takes 2 segments",
        catalog.display()
    );
    assert!(stderr.contains(&long), "{long}\nin\n{stderr}");
    assert!(
        !stderr.contains("form \"lakcim\": its SMS") && !stderr.contains("tajekoztato\": its"),
        "short titles fit one segment: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

const SHIPPED_CATALOG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms.toml");

/// The number before " articles," in check's summary line.
fn articles(stdout: &str) -> usize {
    stdout
        .split(" articles,")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no article count in {stdout:?}"))
}

#[test]
fn the_shipped_knowledge_base_passes_with_every_article_counted() {
    let dir = scratch("kb-shipped");
    let out = check(&dir, Path::new(SHIPPED_CATALOG));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    let shipped = std::fs::read_dir(SHIPPED_KNOWLEDGE)
        .expect("shipped knowledge dir")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".md") && name != "README.md"
        })
        .count();
    assert!(shipped >= 10, "{shipped} articles shipped");
    assert_eq!(articles(&stdout), shipped, "{stdout}");
    assert!(!stderr.contains("knowledge.dir"), "no warning: {stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_broken_article_link_fails_check_with_its_file_line_and_column() {
    let dir = scratch("kb-broken");
    let kb = dir.join("knowledge");
    std::fs::create_dir_all(&kb).expect("knowledge dir");
    for e in std::fs::read_dir(SHIPPED_KNOWLEDGE).expect("shipped knowledge dir") {
        let p = e.expect("entry").path();
        std::fs::copy(&p, kb.join(p.file_name().expect("name"))).expect("copy article");
    }
    // An admin mistypes a form id in a link and an article slug in another.
    let path = kb.join("lakcim-bejelentes.md");
    let text = std::fs::read_to_string(&path).expect("shipped article");
    let text = text
        .replace("(nyomtatvany:lakcim)", "(nyomtatvany:lakcm)")
        .replace("(cikk:helyi-adok)", "(cikk:helyi-adk)");
    std::fs::write(&path, &text).expect("write article");
    let at = |needle: &str| {
        let before = &text[..text.find(needle).expect("edited link")];
        let line = before.matches('\n').count() + 1;
        let col = before[before.rfind('\n').map_or(0, |i| i + 1)..]
            .chars()
            .count()
            + 1;
        format!("{}:{line}:{col}", path.display())
    };

    let out = check_with_knowledge(&dir, Path::new(SHIPPED_CATALOG), &kb);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let form = format!(
        "{}: unknown form \"lakcm\" (known: lakcim, ",
        at("nyomtatvany:lakcm")
    );
    let article = format!(
        "{}: unknown article \"helyi-adk\" (known: helyi-adok, ",
        at("cikk:helyi-adk")
    );
    assert!(stderr.contains(&form), "{form}\nin\n{stderr}");
    assert!(stderr.contains(&article), "{article}\nin\n{stderr}");
    assert!(stderr.contains("2 error(s)"), "{stderr}");
    assert!(out.stdout.is_empty(), "no ok line");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_configured_knowledge_directory_that_is_missing_is_a_warning_not_an_error() {
    let dir = scratch("kb-missing");
    let missing = dir.join("nincs");
    let out = check_with_knowledge(&dir, Path::new(SHIPPED_CATALOG), &missing);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: warning: knowledge.dir names no directory; the knowledge base is empty",
            missing.display()
        )),
        "{stderr}"
    );
    assert_eq!(articles(&stdout), 0, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_log_level_by_another_common_name_is_accepted_and_an_unknown_one_refused_with_the_list() {
    let dir = scratch("log-level");
    let catalog = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms.toml"));
    let with_level = |level: &str| {
        Command::new(env!("CARGO_BIN_EXE_ugyelet"))
            .arg("check")
            .current_dir(&dir)
            .env(
                "UGYELET_PROMPTS__DIR",
                concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/hu"),
            )
            .env(
                "UGYELET_DIALPLAN__PATH",
                concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/main.toml"),
            )
            .env("UGYELET_FORMS__CATALOG", catalog)
            .env("UGYELET_KNOWLEDGE__DIR", SHIPPED_KNOWLEDGE)
            .env("UGYELET_STATE__DIR", dir.join("state"))
            .env("UGYELET_LOG__LEVEL", level)
            .output()
            .expect("run ugyelet check")
    };
    for ok in [
        "warning",
        "notice",
        "verbose",
        "info,ugyelet::driver=warning",
    ] {
        let out = with_level(ok);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{ok}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = with_level("verbos");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "log.level: expected a level (trace, debug, info, warn, error, off; also warning, \
             notice, verbose, critical)"
        ) && stderr.contains("found \"verbos\""),
        "{stderr}"
    );
}

#[test]
fn a_missing_prompt_directory_is_reported_once_by_check_and_by_run_without_a_cascade() {
    let dir = scratch("no-prompts");
    let run = |cmd: &str| {
        Command::new(env!("CARGO_BIN_EXE_ugyelet"))
            .arg(cmd)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("UGYELET_PROMPTS__DIR", dir.join("nincs"))
            .env("UGYELET_STATE__DIR", dir.join("state"))
            .env("UGYELET_SIP__LISTEN", "127.0.0.1:0")
            .env("UGYELET_ADMIN__LISTEN", "")
            .env("UGYELET_NOTIFY__PUBLIC_LISTEN", "")
            .output()
            .expect("run ugyelet")
    };
    for cmd in ["check", "run"] {
        let out = run(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{cmd}: {stderr}");
        assert_eq!(
            stderr
                .matches("expected a readable prompt manifest")
                .count(),
            1,
            "{cmd}: the cause, once: {stderr}"
        );
        assert!(
            !stderr.contains("unknown prompt") && !stderr.contains("lacks"),
            "{cmd}: no cascade of unknown prompts: {stderr}"
        );
    }
}

/// `ugyelet check` or `run` from the repository with `env`, the daemon on free ports.
fn ugyelet(cmd: &str, env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ugyelet"));
    c.arg(cmd)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("UGYELET_SIP__LISTEN", "127.0.0.1:0")
        .env("UGYELET_ADMIN__LISTEN", "")
        .env("UGYELET_NOTIFY__PUBLIC_LISTEN", "");
    for (k, v) in env {
        c.env(k, v);
    }
    if cmd == "run" {
        // A daemon that did start is stopped after a moment; one that refuses exits first.
        let mut child = c
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start ugyelet run");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        if child.try_wait().expect("wait").is_none() {
            // Still running: SIGTERM, a clean stop.
            let _ = Command::new("kill").arg(child.id().to_string()).status();
        }
        return child.wait_with_output().expect("output");
    }
    c.output().expect("run ugyelet")
}

#[test]
fn check_refuses_what_run_refuses_and_warns_about_what_the_configuration_cannot_serve() {
    let dir = scratch("agree");
    let state = dir.join("state").display().to_string();
    let smtp_in_clear = vec![
        ("UGYELET_NOTIFY__SMTP__HOST", "mail.example.hu".to_owned()),
        ("UGYELET_NOTIFY__SMTP__SECURITY", "none".to_owned()),
        (
            "UGYELET_NOTIFY__SMTP__FROM",
            "ugyelet@example.hu".to_owned(),
        ),
        ("UGYELET_STATE__DIR", state.clone()),
    ];
    let unwritable_state = vec![("UGYELET_STATE__DIR", "/proc/nem-irhato".to_owned())];
    for (env, expected) in [
        (
            &smtp_in_clear,
            "notify.smtp: expected security \"starttls\" or \"tls\" for SMTP host \"mail.example.hu\"",
        ),
        (
            &unwritable_state,
            "state.dir: expected a directory the daemon can write, found /proc/nem-irhato",
        ),
    ] {
        for cmd in ["check", "run"] {
            let out = ugyelet(cmd, env);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_ne!(out.status.code(), Some(0), "{cmd} must refuse: {stderr}");
            assert!(stderr.contains(expected), "{cmd}: {expected}\nin\n{stderr}");
        }
    }
    // Defaults: the shipped plan offers SMS, no gateway is configured; and no operators
    // file: both still run, and check says so.
    let out = ugyelet(
        "check",
        &[
            ("UGYELET_STATE__DIR", state),
            (
                "UGYELET_SIP__OPERATORS",
                dir.join("nincs.toml").display().to_string(),
            ),
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "dialplans/main.toml: warning: node \"sms_to_caller\" sends a form by sms, but no SMS gateway is configured"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("nincs.toml: warning: no operator accounts file: nobody can register"),
        "{stderr}"
    );
}

#[test]
fn check_passes_a_valid_smtp_server_and_sms_gateway_for_every_tls_mode() {
    // What an administrator configures in the first week; the unit runs `check` before
    // each start, so a crash here keeps the service down.
    let dir = scratch("smtp-ok");
    let state = dir.join("state").display().to_string();
    for (security, port) in [("starttls", "587"), ("tls", "465")] {
        let out = ugyelet(
            "check",
            &[
                ("UGYELET_STATE__DIR", state.clone()),
                ("UGYELET_NOTIFY__SMTP__HOST", "mail.example.hu".to_owned()),
                ("UGYELET_NOTIFY__SMTP__PORT", port.to_owned()),
                ("UGYELET_NOTIFY__SMTP__SECURITY", security.to_owned()),
                (
                    "UGYELET_NOTIFY__SMTP__FROM",
                    "ugyelet@example.hu".to_owned(),
                ),
                ("UGYELET_NOTIFY__SMS__KIND", "generic".to_owned()),
                (
                    "UGYELET_NOTIFY__SMS__URL",
                    "https://sms.example.hu/send".to_owned(),
                ),
                (
                    "UGYELET_NOTIFY__SMS__BODY_TEMPLATE",
                    "{to} {text}".to_owned(),
                ),
                (
                    "UGYELET_NOTIFY__PUBLIC_BASE_URL",
                    "https://ugyelet.example.hu".to_owned(),
                ),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{security}: {stderr}");
        assert!(!stderr.contains("notify."), "{security}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_config_file_in_the_working_directory_is_read_without_config_and_named() {
    let dir = scratch("default-file");
    std::fs::create_dir_all(dir.join("config")).expect("config dir");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/ugyelet.toml"))
            .expect("shipped config");
    // An admin's edit: the state directory moved somewhere the daemon cannot write.
    let edited = shipped.replace("dir = \"state\"", "dir = \"/proc/atkoltozott\"");
    assert_ne!(edited, shipped, "the shipped file has the state dir line");
    std::fs::write(dir.join("config/ugyelet.toml"), edited).expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .arg("check")
        .current_dir(&dir)
        .env(
            "UGYELET_PROMPTS__DIR",
            concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/hu"),
        )
        .env(
            "UGYELET_DIALPLAN__PATH",
            concat!(env!("CARGO_MANIFEST_DIR"), "/dialplans/main.toml"),
        )
        .env(
            "UGYELET_FORMS__CATALOG",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config/forms.toml"),
        )
        .env("UGYELET_KNOWLEDGE__DIR", SHIPPED_KNOWLEDGE)
        .output()
        .expect("run ugyelet check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("ugyelet: configuration from config/ugyelet.toml\n"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "state.dir: expected a directory the daemon can write, found /proc/atkoltozott"
        ),
        "the edit took effect: {stderr}"
    );
    assert_ne!(out.status.code(), Some(0));

    // Where there is no such file, it says so (unless this machine has the packaged one).
    if Path::new("/etc/ugyelet/ugyelet.toml").exists() {
        return;
    }
    let bare = scratch("no-file");
    let out = Command::new(env!("CARGO_BIN_EXE_ugyelet"))
        .arg("check")
        .current_dir(&bare)
        .output()
        .expect("run ugyelet check");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("ugyelet: no configuration file (config/ugyelet.toml, /etc/ugyelet/ugyelet.toml not found)"),
        "{stderr}"
    );
}

#[test]
fn check_and_run_warn_when_messages_would_carry_links_to_the_default_loopback_address() {
    let dir = scratch("public-url");
    let state = dir.join("state").display().to_string();
    let gateway = vec![
        ("UGYELET_STATE__DIR", state),
        ("UGYELET_NOTIFY__SMS__KIND", "generic".to_owned()),
        (
            "UGYELET_NOTIFY__SMS__URL",
            "http://127.0.0.1:9/send".to_owned(),
        ),
        (
            "UGYELET_NOTIFY__SMS__BODY_TEMPLATE",
            r#"{"to":"{to}","text":"{text}"}"#.to_owned(),
        ),
    ];
    // The shipped configuration keeps public_base_url at its default, http://127.0.0.1:8081.
    for cmd in ["check", "run"] {
        let out = ugyelet(cmd, &gateway);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(
                "notify.public_base_url: warning: \"http://127.0.0.1:8081\" is this machine only, but an SMS gateway is configured"
            ),
            "{cmd}: {stderr}"
        );
        assert!(
            stderr.contains("expected the address residents reach the public listener at"),
            "{cmd}: {stderr}"
        );
    }
    // Set to the address residents use: no warning, and check passes.
    let mut public = gateway.clone();
    public.push((
        "UGYELET_NOTIFY__PUBLIC_BASE_URL",
        "https://ugyelet.example.hu".to_owned(),
    ));
    let out = ugyelet("check", &public);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("notify.public_base_url"), "{stderr}");
    // Plain http to a public name: warned, the token in the link travels in the clear.
    let mut plain = gateway;
    plain.push((
        "UGYELET_NOTIFY__PUBLIC_BASE_URL",
        "http://ugyelet.example.hu".to_owned(),
    ));
    let out = ugyelet("check", &plain);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(
            "notify.public_base_url: warning: \"http://ugyelet.example.hu\" is plain http: the links sent by SMS carry a token"
        ),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
