//! What the daemon serves from: prompts, dial plan, calendar. Loaded as one immutable
//! value and swapped whole on reload.
//!
//! A reload builds a complete new [`Live`] off the call path (prompts decoded, plan and
//! calendar validated against each other) and swaps it in only if everything validates.
//! Calls hold the `Arc`s they started with, so a swap never changes a live call; new calls
//! get the new value. A refused reload leaves the old value serving and records why.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use crate::config::Config;
use crate::dialplan::calendar::{self, Calendar, ManualOverride};
use crate::dialplan::interp::{ScheduleState, Schedules};
use crate::dialplan::{self, FormChoice, Known, Plan};
use crate::media::prompts::PromptSet;
use crate::notify::catalog::Catalog;

/// One consistent set of what calls are served from.
pub struct Live {
    /// The operators' knowledge base, checked against `catalog`.
    pub knowledge: Arc<crate::knowledge::KnowledgeBase>,
    pub prompts: Arc<PromptSet>,
    pub plan: Arc<Plan>,
    pub calendar: Arc<Calendar>,
    /// Warnings of the plan and the calendar (e.g. next year's holidays missing).
    pub warnings: Vec<String>,
    /// Counts successful loads since start.
    pub version: u64,
    /// The forms catalog the plan's `send_form` nodes were checked against; the forms
    /// service serves this same one.
    pub catalog: Catalog,
    /// What an operator hears after a feature code (`*21` …): a tone, then the daemon
    /// hangs up.
    pub feature_plan: Arc<Plan>,
}

/// The built-in plan behind feature codes.
const FEATURE_PLAN: &str = r#"
start = "confirm"

[nodes.confirm]
type = "play"
prompts = ["beep"]
barge_in = false
next = "bye"

[nodes.bye]
type = "hangup"
"#;

/// The built-in plan of an operator's call to a colleague: pass it on to `operator` (an
/// account name, `[a-z0-9._-]+`), end it if that cannot be. Built for each such call; a
/// few microseconds, and no state shared between calls.
pub fn colleague_plan(operator: &str) -> Result<Plan, String> {
    let text = format!(
        "start = \"colleague\"\n\n[nodes.colleague]\ntype = \"transfer\"\n\
         operator = \"{operator}\"\non_error = \"bye\"\n\n[nodes.bye]\ntype = \"hangup\"\n"
    );
    crate::dialplan::validate::load_str("(colleague call)", &text, &Known::default())
        .map(|(plan, _)| plan)
        .map_err(|d| {
            d.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
}

/// The calendar directory a plan names, relative to the plan file.
pub fn calendar_dir(plan_path: &Path, named: &str) -> PathBuf {
    plan_path.parent().unwrap_or(Path::new(".")).join(named)
}

/// The forms catalog with the checks the daemon relies on (ids and keys unique, every
/// form's PDF present); a missing catalog means no forms.
fn load_catalog(path: &Path) -> Result<Catalog, Vec<String>> {
    if !path.exists() {
        return Ok(Catalog::default());
    }
    Catalog::load(path).map_err(|e| e.0)
}

/// Loads everything, reporting every problem found. `plan_path` overrides the configured
/// plan (for `ugyelet check PATH`).
pub fn load(
    cfg: &Config,
    plan_path: Option<&Path>,
    today: jiff::civil::Date,
    version: u64,
) -> Result<Live, Vec<String>> {
    let plan_path = plan_path.unwrap_or(&cfg.dialplan.path);
    let mut errors = Vec::new();
    let prompts = PromptSet::load_with_recordings(&cfg.prompts.dir, Some(&recordings_dir(cfg)))
        .map_err(|e| errors.push(format!("{}: {e}", cfg.prompts.dir.display())))
        .ok();
    let catalog_loaded = load_catalog(&cfg.forms.catalog).map_err(|e| errors.extend(e));
    let catalog_ok = catalog_loaded.is_ok();
    let catalog = catalog_loaded.unwrap_or_default();

    // The plan names its calendar directory; read that key first so the calendar's
    // schedules can be checked against the plan in the same pass.
    let named = std::fs::read_to_string(plan_path)
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|t| {
            t.get("calendar")
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "calendar".to_owned());
    let cal_dir = calendar_dir(plan_path, &named);
    let mut warnings = Vec::new();
    let calendar = match calendar::load_dir(&cal_dir, today) {
        Ok((cal, warns)) => {
            warnings.extend(warns.iter().map(ToString::to_string));
            warnings.extend(cal.warnings(today));
            Some(cal)
        }
        Err(diags) => {
            errors.extend(diags.iter().map(ToString::to_string));
            None
        }
    };
    let prompt_ids: Vec<&str> = prompts
        .as_ref()
        .map(|p| p.ids().collect())
        .unwrap_or_default();
    let queues: Vec<&str> = cfg.dialplan.queues.iter().map(String::as_str).collect();
    let form_refs: Vec<&str> = catalog.forms().iter().map(|f| f.id.as_str()).collect();
    let schedules: Vec<&str> = calendar
        .as_ref()
        .map(|c| c.schedule_names())
        .unwrap_or_default();
    let form_choices = catalog.choices();
    if prompts.is_some() {
        errors.extend(catalog_prompts_missing(cfg, &form_choices, &prompt_ids));
    }
    warnings.extend(long_sms(cfg, &catalog));
    let known = Known {
        prompts: &prompt_ids,
        skip_prompts: prompts.is_none(),
        queues: &queues,
        forms: &form_refs,
        form_choices: &form_choices,
        schedules: &schedules,
    };
    let plan = match dialplan::load(plan_path, &known) {
        Ok((plan, warns)) => {
            warnings.extend(warns.iter().map(ToString::to_string));
            Some(plan)
        }
        Err(diags) => {
            errors.extend(diags.iter().map(ToString::to_string));
            None
        }
    };
    // The knowledge base is checked against the same catalog and refused like the plan:
    // a broken article keeps the old articles serving.
    // A catalog that does not load has reported its own errors: the articles' form names
    // are then not checked, rather than all reported as unknown.
    let knowledge =
        match super::knowledge::load(&cfg.knowledge, &super::knowledge::known_forms(&catalog)) {
            _ if !catalog_ok => None,
            Ok((kb, warns)) => {
                warnings.extend(warns);
                Some(kb)
            }
            Err(e) => {
                errors.extend(e);
                None
            }
        };
    let feature_plan =
        match crate::dialplan::validate::load_str("(feature codes)", FEATURE_PLAN, &known) {
            Ok((plan, _)) => Some(plan),
            Err(diags) => {
                errors.extend(diags.iter().map(ToString::to_string));
                None
            }
        };
    match (prompts, plan, calendar, feature_plan, knowledge) {
        (Some(prompts), Some(plan), Some(calendar), Some(feature_plan), Some(knowledge))
            if errors.is_empty() =>
        {
            Ok(Live {
                knowledge: Arc::new(knowledge),
                prompts: Arc::new(prompts),
                plan: Arc::new(plan),
                calendar: Arc::new(calendar),
                warnings,
                version,
                catalog,
                feature_plan: Arc::new(feature_plan),
            })
        }
        _ => Err(errors),
    }
}

/// Every catalog prompt the prompt set lacks: the form-choice menu would name that form
/// with silence.
fn catalog_prompts_missing(cfg: &Config, offered: &[FormChoice<'_>], ids: &[&str]) -> Vec<String> {
    offered
        .iter()
        .filter(|f| !ids.contains(&f.prompt))
        .map(|f| {
            format!(
                "{}: form \"{}\": prompt \"{}\" is not in the prompt set {} (closest: {}); \
                 add it to the manifest and generate or record it",
                cfg.forms.catalog.display(),
                f.id,
                f.prompt,
                cfg.prompts.dir.join("manifest.toml").display(),
                crate::suggest::closest(f.prompt, ids)
            )
        })
        .collect()
}

/// A warning for each form whose SMS (title and link, as sent) takes more than one
/// segment: each extra segment is billed, and a UCS-2 one holds only 70 characters.
fn long_sms(cfg: &Config, catalog: &Catalog) -> Vec<String> {
    catalog
        .forms()
        .iter()
        .filter_map(|f| {
            let text = crate::notify::compose::sms_preview(&cfg.notify.public_base_url, f);
            let seg = text.segments?;
            (seg.count > 1).then(|| {
                format!(
                    "{}: warning: form \"{}\": its SMS takes {} segments ({} {:?} units; one \
                     holds 160 GSM-7 characters): shorten the title or notify.public_base_url: \
                     \"{}\"",
                    cfg.forms.catalog.display(),
                    f.id,
                    seg.count,
                    seg.units,
                    seg.encoding,
                    text.text
                )
            })
        })
        .collect()
}

/// The calendar as the dial plan sees it, with the manual override of the moment.
pub struct CalendarSchedules {
    pub calendar: Arc<Calendar>,
    pub manual: Option<ManualOverride>,
}

impl Schedules for CalendarSchedules {
    fn state(&self, schedule: &str, at: &jiff::ZonedDateTime) -> Option<ScheduleState> {
        self.calendar
            .state(schedule, at, self.manual.as_ref())
            .map(|s| ScheduleState {
                open: s.open,
                why: s.why,
            })
    }

    fn next_opening(
        &self,
        schedule: &str,
        at: &jiff::ZonedDateTime,
    ) -> Option<jiff::ZonedDateTime> {
        self.calendar
            .next_opening(schedule, at, self.manual.as_ref())
    }
}

pub use crate::http::daemon::{LiveCall, ReloadStatus};

/// State shared between the SIP task, the reload machinery and the admin API.
pub struct Shared {
    /// Sends forms (SMS links, email) through the durable outbox.
    pub forms: Arc<super::forms::Forms>,
    pub cfg: Config,
    pub metrics: crate::metrics::Metrics,
    /// Calls in progress, for the admin API.
    pub calls: Mutex<std::collections::BTreeMap<u64, LiveCall>>,
    pub live: RwLock<Arc<Live>>,
    pub reload: Mutex<ReloadStatus>,
    pub manual: RwLock<Option<ManualOverride>>,
    /// Operators and waiting callers as the SIP task last published them.
    pub operators: Mutex<serde_json::Value>,
    /// The trunk registration as the SIP task last published it (`null`: no trunk).
    pub trunk: Mutex<serde_json::Value>,
    /// Into the SIP task (operator state changes from the admin API).
    pub to_sip: Mutex<Option<tokio::sync::mpsc::UnboundedSender<super::messages::ToSip>>>,
    /// Runs every call's deadlines and sends its paced frames.
    pub(crate) media: super::media_clock::MediaClock,
    /// Takes in every call's RTP and relays bridged calls.
    pub(crate) media_rx: super::media_rx::MediaRx,
    /// The operator accounts as last read (console logins check passwords against them).
    pub accounts: RwLock<Arc<crate::operators::Operators>>,
    /// Which call a form an operator sends belongs to (live and recently ended calls).
    pub ties: Mutex<crate::cdr::CallTies>,
    /// Into the call-record writer, for forms operators send; taken away at shutdown so
    /// the writer can finish.
    pub(crate) records: Mutex<Option<std::sync::mpsc::Sender<super::records::ToRecords>>>,
}

impl Shared {
    /// A call started: forms can be sent for it from now on.
    pub fn tie_started(&self, id: u64, sip_call_id: &str) {
        self.lock_ties().started(id, sip_call_id);
    }

    /// An operator answered the call.
    pub fn tie_bridged(&self, id: u64, operator: &str) {
        self.lock_ties().bridged(id, operator);
    }

    /// The call ended (forms can still be sent for it for a while).
    pub fn tie_ended(&self, id: u64, now: std::time::Instant) {
        self.lock_ties().ended(id, now);
    }

    fn lock_ties(&self) -> std::sync::MutexGuard<'_, crate::cdr::CallTies> {
        // Every change is one map operation: the value is sound after a panic.
        self.ties
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Has the call-record writer list `form` in the record of the call with this SIP
    /// Call-ID (stored already, or when it comes).
    pub fn record_form(&self, sip_call_id: String, form: String) {
        let tx = self
            .records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        match tx {
            Some(tx) => {
                let _ = tx.send(super::records::ToRecords::Form {
                    call_id: sip_call_id,
                    form,
                });
            }
            None => tracing::warn!(form, "stopping: the form is not added to its call record"),
        }
    }

    /// The operator accounts in force.
    pub fn accounts(&self) -> Arc<crate::operators::Operators> {
        match self.accounts.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The value new calls are served from.
    pub fn current(&self) -> Arc<Live> {
        match self.live.read() {
            Ok(g) => Arc::clone(&g),
            // A panic while holding the lock cannot leave an `Arc` half-written.
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The manual override now (expired ones count as none).
    pub fn manual(&self) -> Option<ManualOverride> {
        let m = match self.manual.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        m.filter(|m| m.until.is_none_or(|u| u > jiff::Timestamp::now()))
    }

    /// Replaces the manual override in memory (persisting is the caller's job).
    pub fn set_manual(&self, value: Option<ManualOverride>) {
        match self.manual.write() {
            Ok(mut g) => *g = value,
            Err(p) => *p.into_inner() = value,
        }
    }

    /// Reloads prompts, plan and calendar; swaps them in only if all validate.
    /// Reads the operator accounts again and hands them to the SIP task (operators keep
    /// their state; new accounts can register, removed ones no longer can). A broken file
    /// is refused with its errors and the accounts in force stay.
    pub fn reload_operators(&self) {
        match crate::operators::Operators::load(&self.cfg.sip.operators) {
            Ok(ops) => {
                let tx = self
                    .to_sip
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                match self.accounts.write() {
                    Ok(mut g) => *g = Arc::new(ops.clone()),
                    Err(p) => *p.into_inner() = Arc::new(ops.clone()),
                }
                if let Some(tx) = tx {
                    tracing::info!(operators = ops.len(), "operator accounts reloaded");
                    let _ = tx.send(super::messages::ToSip::Accounts(ops));
                }
            }
            Err(errors) => {
                for e in errors {
                    tracing::error!("operator accounts refused, the previous ones stay: {e}");
                }
            }
        }
    }

    pub fn reload(&self, why: &str) -> Result<u64, Vec<String>> {
        let old = self.current();
        let today = crate::clock::civil_now().date();
        let result = load(&self.cfg, None, today, old.version + 1);
        let mut status = self
            .reload
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        status.attempts += 1;
        match result {
            Ok(live) => {
                let version = live.version;
                for w in &live.warnings {
                    tracing::warn!("{w}");
                }
                // The plan may name forms the catalog just gained: serve the catalog it
                // was checked against.
                let forms = self.forms.set_catalog(live.catalog.clone());
                self.forms.set_knowledge(Arc::clone(&live.knowledge));
                match self.live.write() {
                    Ok(mut g) => *g = Arc::new(live),
                    Err(p) => *p.into_inner() = Arc::new(live),
                }
                status.last_errors.clear();
                self.metrics
                    .reloads_ok
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.metrics
                    .plan_version
                    .store(version, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(version, trigger = why, "dial plan reloaded");
                tracing::info!(forms, "forms catalog reloaded");
                self.reload_operators();
                Ok(version)
            }
            Err(errors) => {
                status.failures += 1;
                self.metrics
                    .reloads_refused
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                status.last_errors = errors.clone();
                for e in &errors {
                    tracing::error!(
                        trigger = why,
                        "reload refused, the previous plan keeps serving: {e}"
                    );
                }
                Err(errors)
            }
        }
    }
}

/// The ways of sending forms `cfg` configures, for the simulator.
pub fn channels(cfg: &Config) -> crate::dialplan::simulate::Channels {
    crate::dialplan::simulate::Channels {
        sms: cfg.notify.sms.kind != crate::config::SmsKind::None,
        email: cfg.notify.smtp.sender_config().is_some(),
    }
}

/// Where studio recordings uploaded in the console are kept: they replace the shipped
/// prompt files of the same name (which may be read-only).
pub fn recordings_dir(cfg: &Config) -> std::path::PathBuf {
    cfg.state.dir.join("recordings")
}

/// A simulated call's inputs, checked.
#[derive(Debug, Clone)]
pub struct SimulatedCall {
    /// Civil time in Budapest; `None`: now, when the transcript is made.
    pub at: Option<jiff::ZonedDateTime>,
    /// E.164, or `None` for a withheld number.
    pub caller: Option<String>,
    pub keys: Vec<char>,
}

/// Checks the simulator's inputs: `at` (civil time in Budapest, "2026-12-24 16:30";
/// `None` or empty: now), `from` (a number in any common form, or "anonymous") and `keys`.
/// `Err` names the input (`at`, `from` or `keys`) and says what was expected.
pub fn simulated_call(
    at: Option<&str>,
    from: &str,
    keys: &str,
) -> Result<SimulatedCall, (&'static str, String)> {
    let at = match at.map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(
            super::overrides::parse_until(s)
                .map_err(|e| ("at", e))?
                .to_zoned_datetime(crate::clock::tz()),
        ),
    };
    Ok(SimulatedCall {
        at,
        caller: crate::dialplan::simulate::parse_caller(from).map_err(|e| ("from", e))?,
        keys: crate::dialplan::simulate::parse_keys(keys).map_err(|e| ("keys", e))?,
    })
}

/// What `call` would hear on `l` with the manual override `manual`: the simulator's
/// transcript, one line per step.
pub fn transcript(
    cfg: &Config,
    l: &Live,
    manual: Option<ManualOverride>,
    call: SimulatedCall,
) -> Vec<String> {
    let civil_start = call.at.unwrap_or_else(crate::clock::civil_now);
    let env = crate::dialplan::interp::CallEnv {
        caller: call.caller,
        civil_start,
        schedules: Arc::new(CalendarSchedules {
            calendar: Arc::clone(&l.calendar),
            manual,
        }),
    };
    let keys = call.keys;
    let prompts = Arc::clone(&l.prompts);
    let text_of = move |id: &str| prompts.get(id).map(|p| p.text.clone());
    let ch = channels(cfg);
    let said = |on: bool| if on { "configured" } else { "not configured" };
    let mut lines = vec![format!(
        "(simulated with this configuration: SMS gateway {}, SMTP server {}; no operator phones)",
        said(ch.sms),
        said(ch.email)
    )];
    lines.extend(crate::dialplan::simulate::run(
        Arc::clone(&l.plan),
        crate::dialplan::simulate::Script {
            env,
            keys,
            channels: ch,
        },
        &text_of,
        // The simulated call's virtual-time origin: `Instant` has no constructor but
        // `now()`; the simulator only adds durations to it and never reads the clock again.
        std::time::Instant::now(),
    ));
    lines
}
