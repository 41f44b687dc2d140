//! Reload triggers: edited files (polled) and SIGHUP.
//!
//! Polling the modification times and sizes of the plan, the calendar directory, the
//! prompt directory and the forms catalog is deliberately simple: it works on every file
//! system and with every editor (including those that write a new file and rename it over
//! the old one), costs a few `stat` calls every couple of seconds, and needs no extra
//! dependency. An edit is loaded once the files have stopped changing for one interval, so
//! a half-saved file is not even tried. The manual-override file is watched the same way,
//! so `ugyelet override …` takes effect on a running daemon.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::live::{self, Shared};
use super::overrides;

/// Hash of (path, length, modification time) of every file under `paths`.
fn fingerprint(paths: &[&Path]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in paths {
        visit(p, &mut h);
    }
    h.finish()
}

fn visit(p: &Path, h: &mut DefaultHasher) {
    let Ok(meta) = std::fs::metadata(p) else {
        p.hash(h);
        0u8.hash(h);
        return;
    };
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        for e in entries {
            visit(&e, h);
        }
    } else {
        p.hash(h);
        meta.len().hash(h);
        meta.modified().ok().hash(h);
    }
}

/// Runs until the process ends: polls for edits and listens for SIGHUP.
pub(super) async fn run(shared: Arc<Shared>) {
    let cfg = shared.cfg.clone();
    let interval = Duration::from_millis(cfg.dialplan.watch_interval_ms);
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("SIGHUP reload unavailable: {e}");
            None
        }
    };
    let assets = || {
        let cal = live::calendar_dir(&cfg.dialplan.path, &shared.current().plan.calendar_dir);
        fingerprint(&[
            &cfg.dialplan.path,
            &cal,
            &cfg.prompts.dir,
            &cfg.forms.catalog,
            &cfg.sip.operators,
            &cfg.knowledge.dir,
        ])
    };
    let override_file = overrides::path(&cfg.state.dir);
    let mut seen = assets();
    let mut seen_override = fingerprint(&[&override_file]);
    let mut pending: Option<u64> = None;
    loop {
        let tick = async {
            if interval.is_zero() {
                std::future::pending::<()>().await;
            } else {
                tokio::time::sleep(interval).await;
            }
        };
        let hup_recv = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tick => {}
            _ = hup_recv => {
                let s = Arc::clone(&shared);
                let _ = tokio::task::spawn_blocking(move || s.reload("SIGHUP")).await;
                seen = assets();
                pending = None;
                continue;
            }
        }
        let now_override = fingerprint(&[&override_file]);
        if now_override != seen_override {
            seen_override = now_override;
            match overrides::load(&cfg.state.dir) {
                Ok(m) => {
                    tracing::info!(active = m.is_some(), "manual override changed");
                    shared.set_manual(m);
                }
                Err(e) => tracing::error!("manual override file ignored: {e}"),
            }
        }
        let now = assets();
        match pending {
            // Changed, and unchanged since the last look: the writer is done.
            Some(p) if p == now => {
                let s = Arc::clone(&shared);
                let _ = tokio::task::spawn_blocking(move || s.reload("file change")).await;
                seen = now;
                pending = None;
            }
            _ if now != seen => pending = Some(now),
            _ => pending = None,
        }
    }
}
