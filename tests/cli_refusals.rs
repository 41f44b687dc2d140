//! The admin commands refuse what cannot be meant, as an admin types them: the real
//! binary, run from a directory that is not the repository, once with the shipped
//! configuration named by `--config` and once with none (built-in defaults). Each refusal
//! exits 2, says what was expected and what was found, and changes nothing; next to each,
//! the same command with a sensible value goes through, so the refusal is the value's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SHIPPED_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config/ugyelet.toml");

fn scratch(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-refusals")
        .join(format!("{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// `ugyelet [--config SHIPPED] ARGS` in `dir`, with `env` on top; nothing answers on the
/// admin port it is given, so no daemon of this machine is ever asked.
fn ugyelet(dir: &Path, with_config: bool, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ugyelet"));
    if with_config {
        c.arg("--config").arg(SHIPPED_CONFIG);
    }
    c.args(args)
        .current_dir(dir)
        .env("UGYELET_ADMIN__LISTEN", "127.0.0.1:9")
        .env_remove("UGYELET_STATE__DIR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run ugyelet")
}

/// Exit code 2 and the last line of standard error (the first says which configuration).
fn refused(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "expected a refusal: {stderr}");
    assert!(out.stdout.is_empty(), "nothing printed on standard output");
    stderr.lines().last().unwrap_or_default().to_owned()
}

/// The time now in Budapest as the commands print it, read before and after a command
/// (a minute may turn in between).
fn budapest_now() -> String {
    jiff::Timestamp::now()
        .to_zoned_datetime(ugyelet::clock::tz())
        .strftime("%Y-%m-%d %H:%M")
        .to_string()
}

#[test]
fn override_until_a_past_time_is_refused_with_the_time_it_is_now_in_budapest() {
    for with_config in [true, false] {
        let dir = scratch(&format!("override-{with_config}"));
        let state = dir.join("state");
        std::fs::create_dir_all(&state).expect("state dir");
        let env = [("UGYELET_STATE__DIR", state.to_str().expect("utf-8"))];

        let before = budapest_now();
        let out = ugyelet(
            &dir,
            with_config,
            &["override", "closed", "--until", "2020-03-15 08:00"],
            &env,
        );
        let after = budapest_now();
        let line = refused(&out);
        let said = |now: &str| {
            format!(
                "ugyelet override: --until: 2020-03-15 08:00 is in the past: it is now {now} \
                 in Europe/Budapest; expected a later time"
            )
        };
        assert!(
            line == said(&before) || line == said(&after),
            "{line}\nexpected: {}",
            said(&before)
        );
        assert!(
            !state.join("override.toml").exists(),
            "nothing was stored for a refused override"
        );

        // A time that has not come yet is stored (no daemon answers here).
        let out = ugyelet(
            &dir,
            with_config,
            &["override", "closed", "--until", "2099-12-31 23:00"],
            &env,
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stored = std::fs::read_to_string(state.join("override.toml")).expect("stored");
        assert!(stored.contains("until = \"2099-12-31 23:00\""), "{stored}");

        // Not a time at all: the accepted forms are named.
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["override", "closed", "--until", "holnap este"],
            &env,
        ));
        assert_eq!(
            line,
            "ugyelet override: --until: expected a time as \"YYYY-MM-DD HH:MM\" in Budapest \
             time (e.g. \"2026-12-24 18:00\") or RFC 3339 (e.g. \"2026-12-24T17:00:00Z\"), \
             found \"holnap este\""
        );
    }
}

#[test]
fn simulate_refuses_a_caller_keys_or_time_it_cannot_mean_before_reading_the_plan() {
    // The plan's paths in the shipped file are relative to the repository, so from here
    // a valid simulation needs them absolute: the refusals below come before they matter.
    let repo = env!("CARGO_MANIFEST_DIR");
    let plan = format!("{repo}/dialplans/main.toml");
    let prompts = format!("{repo}/prompts/hu");
    let catalog = format!("{repo}/config/forms.toml");
    let knowledge = format!("{repo}/knowledge");
    for with_config in [true, false] {
        let dir = scratch(&format!("simulate-{with_config}"));
        let state = dir.join("state").display().to_string();
        let env = [
            ("UGYELET_DIALPLAN__PATH", plan.as_str()),
            ("UGYELET_PROMPTS__DIR", prompts.as_str()),
            ("UGYELET_FORMS__CATALOG", catalog.as_str()),
            ("UGYELET_KNOWLEDGE__DIR", knowledge.as_str()),
            ("UGYELET_STATE__DIR", state.as_str()),
        ];
        let ok = ugyelet(
            &dir,
            with_config,
            &[
                "simulate",
                "--at",
                "2026-12-01 17:00",
                "--from",
                "06 30 123 4567",
                "--keys",
                "3",
            ],
            &env,
        );
        let stdout = String::from_utf8_lossy(&ok.stdout);
        assert!(
            ok.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&ok.stderr)
        );
        assert!(
            stdout.contains("caller +36301234567") && stdout.contains("main_menu: key 3"),
            "{stdout}"
        );

        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["simulate", "--at", "2026-12-01 17:00", "--from", "garbage"],
            &env,
        ));
        assert_eq!(
            line,
            "ugyelet simulate: --from: expected a phone number (e.g. +36301234567, \
             06301234567 or 06 23 444 555) or \"anonymous\", found \"garbage\""
        );
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["simulate", "--at", "2026-12-01 17:00", "--keys", "1,x"],
            &env,
        ));
        assert_eq!(
            line,
            "ugyelet simulate: --keys: expected keys a phone can send: 0-9, * and #, \
             optionally separated by commas or spaces (e.g. \"1,2\" or \"2#\"), found 'x' in \
             \"1,x\""
        );
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["simulate", "--at", "karácsony", "--keys", "1"],
            &env,
        ));
        assert!(
            line.starts_with("ugyelet simulate: --at: expected a time as \"YYYY-MM-DD HH:MM\"")
                && line.ends_with("found \"karácsony\""),
            "{line}"
        );
        // Without the environment's absolute paths the plan is not there, but the flags
        // are still judged first.
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["simulate", "--from", "garbage"],
            &[],
        ));
        assert!(line.starts_with("ugyelet simulate: --from: "), "{line}");
    }
}

#[test]
fn cdr_export_refuses_a_since_after_the_until_naming_both() {
    let repo_state = scratch("cdr-state");
    // Call records as a daemon leaves them: the database exists, with its schema.
    ugyelet::cdr::Records::open(&repo_state).expect("records");
    for with_config in [true, false] {
        let dir = scratch(&format!("cdr-{with_config}"));
        let env = [("UGYELET_STATE__DIR", repo_state.to_str().expect("utf-8"))];
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &[
                "cdr",
                "export",
                "--since",
                "2026-12-10",
                "--until",
                "2026-12-01",
            ],
            &env,
        ));
        assert_eq!(
            line,
            "ugyelet cdr export: --since 2026-12-10 is not before --until 2026-12-01: \
             expected --since earlier than --until (the day after the last one exported)"
        );
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["cdr", "export", "--since", "2099-01-01"],
            &env,
        ));
        assert!(
            line.starts_with(
                "ugyelet cdr export: --since 2099-01-01 is not before --until (default: tomorrow) "
            ),
            "{line}"
        );
        let line = refused(&ugyelet(
            &dir,
            with_config,
            &["cdr", "export", "--since", "1st of December"],
            &env,
        ));
        assert_eq!(
            line,
            "ugyelet cdr export: --since: expected a date YYYY-MM-DD, found \"1st of December\""
        );

        // A sensible period prints the CSV header and the count.
        let out = ugyelet(
            &dir,
            with_config,
            &[
                "cdr",
                "export",
                "--since",
                "2026-12-01",
                "--until",
                "2026-12-10",
            ],
            &env,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(stderr.ends_with("0 call(s)\n"), "{stderr}");
        assert!(!out.stdout.is_empty(), "the CSV header");

        // Without the daemon's state directory there is nothing to export: said so,
        // and no empty database is left behind.
        let out = ugyelet(
            &dir,
            with_config,
            &["cdr", "export", "--since", "2026-12-01"],
            &[],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("ugyelet cdr export: no call records at ")
                && stderr.contains("--config FILE"),
            "{stderr}"
        );
        assert!(!dir.join("state").exists(), "no state directory was made");
    }
}
