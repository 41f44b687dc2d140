//! From the files in `dialplans/calendar/` to a [`Calendar`], or to every problem at once.
//!
//! The files are read with `toml::de::DeTable`, which keeps the span of every key and value,
//! and walked by hand rather than through serde: a serde struct stops at the first value of
//! the wrong type, while the walk reports every mistake of every file in one go, each as
//! `file:line:col: expected X, found Y`.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::Path;

use jiff::civil::{Date, Weekday};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::holidays::{holiday_name, is_weekend};
use super::{Calendar, Closure, DecreeYear, Override, Schedule, Window};
use crate::dialplan::Diagnostic;
use crate::dialplan::syntax::line_col;
use crate::dialplan::validate::Severity;

type Val<'i> = Spanned<DeValue<'i>>;

const DECREE_KEYS: &[&str] = &[
    "year",
    "decree",
    "decree_missing",
    "rest_days",
    "worked_saturdays",
];
const REST_DAY_KEYS: &[&str] = &["date", "name"];
const WORKED_SATURDAY_KEYS: &[&str] = &["date", "replaces", "name"];
const CLOSURES_KEYS: &[&str] = &["closure", "override"];
const CLOSURE_KEYS: &[&str] = &["from", "to", "reason"];
const OVERRIDE_KEYS: &[&str] = &["date", "closed", "windows", "reason"];
const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];
const SCHEDULE_KEYS: &[&str] = &[
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "worked_saturday",
    "holiday",
];

pub(super) fn load_dir(
    dir: &Path,
    today: Date,
) -> Result<(Calendar, Vec<Diagnostic>), Vec<Diagnostic>> {
    let error = |file: String, message: String| {
        vec![Diagnostic {
            file,
            line: 1,
            col: 1,
            severity: Severity::Error,
            message,
        }]
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        error(
            dir.display().to_string(),
            format!("cannot read the calendar directory: {e}"),
        )
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut files = Vec::with_capacity(paths.len());
    let mut diags = Vec::new();
    for path in paths {
        let name = path.display().to_string();
        match std::fs::read_to_string(&path) {
            Ok(text) => files.push((name, text)),
            Err(e) => diags.extend(error(name, format!("cannot read the file: {e}"))),
        }
    }
    if files.is_empty() {
        diags.extend(error(
            dir.join("schedules.toml").display().to_string(),
            "missing schedules.toml: no schedule says when the line is staffed".to_owned(),
        ));
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    load_files(&files, today)
}

pub(super) fn load_files(
    files: &[(String, String)],
    today: Date,
) -> Result<(Calendar, Vec<Diagnostic>), Vec<Diagnostic>> {
    let mut l = Loader::default();
    for (name, text) in files {
        let src = Src { name, text };
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        let kind = if base == "schedules.toml" {
            l.saw_schedules = true;
            FileKind::Schedules
        } else if base == "closures.toml" {
            FileKind::Closures
        } else if let Some(rest) = base
            .strip_prefix("hu-")
            .and_then(|b| b.strip_suffix(".toml"))
        {
            FileKind::Decree(
                (rest.len() == 4 && rest.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| rest.parse().ok())
                    .flatten(),
            )
        } else {
            l.error(
                &src,
                0..0,
                format!(
                    "unknown calendar file \"{base}\" (expected hu-YYYY.toml, closures.toml \
                     or schedules.toml)"
                ),
            );
            continue;
        };
        let (table, errors) = DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            for e in errors {
                l.error(
                    &src,
                    e.span().unwrap_or(0..0),
                    e.message().trim_end().to_owned(),
                );
            }
            continue;
        }
        match kind {
            FileKind::Decree(file_year) => l.decree(&src, file_year, &table),
            FileKind::Closures => l.closures(&src, &table),
            FileKind::Schedules => l.schedules(&src, &table),
        }
    }
    let dir = files
        .first()
        .and_then(|(name, _)| Path::new(name).parent())
        .map(|p| p.display().to_string())
        .filter(|p| !p.is_empty());
    let in_dir = |file: &str| match &dir {
        Some(d) => format!("{d}/{file}"),
        None => file.to_owned(),
    };
    if !l.saw_schedules {
        l.diags.push(Diagnostic {
            file: in_dir("schedules.toml"),
            line: 1,
            col: 1,
            severity: Severity::Error,
            message: "missing schedules.toml: no schedule says when the line is staffed".to_owned(),
        });
    }
    l.check_closures();
    for year in l.cal.years_to_check(today) {
        if !l.cal.years.contains_key(&year) {
            l.diags.push(Diagnostic {
                file: in_dir(&format!("hu-{year}.toml")),
                line: 1,
                col: 1,
                severity: Severity::Warning,
                message: format!(
                    "no decree data for {year}: moved rest days and worked Saturdays are \
                     unknown, only statutory holidays apply; add hu-{year}.toml"
                ),
            });
        }
    }

    let order: HashMap<&str, usize> = files
        .iter()
        .enumerate()
        .map(|(i, (n, _))| (n.as_str(), i))
        .collect();
    let mut diags = l.diags;
    diags.sort_by_key(|d| {
        (
            d.severity == Severity::Warning,
            order.get(d.file.as_str()).copied().unwrap_or(usize::MAX),
            d.line,
            d.col,
        )
    });
    if diags.iter().any(|d| d.severity == Severity::Error) {
        Err(diags)
    } else {
        Ok((l.cal, diags))
    }
}

enum FileKind {
    /// `hu-YYYY.toml`, with the year of the file name when it has one.
    Decree(Option<i16>),
    Closures,
    Schedules,
}

struct Src<'a> {
    name: &'a str,
    text: &'a str,
}

/// Where a value stood, for messages about it that refer to another place.
#[derive(Clone)]
struct Pos {
    file: String,
    line: usize,
    col: usize,
}

#[derive(Default)]
struct Loader {
    cal: Calendar,
    diags: Vec<Diagnostic>,
    saw_schedules: bool,
    /// Closures with the position of their `from`, checked for overlaps at the end.
    closures: Vec<(Closure, Pos)>,
    /// Where each year and each override was defined.
    year_pos: BTreeMap<i16, Pos>,
    override_pos: BTreeMap<Date, Pos>,
}

impl Loader {
    fn pos(src: &Src<'_>, span: &Range<usize>) -> Pos {
        let (line, col) = line_col(src.text, span.start);
        Pos {
            file: src.name.to_owned(),
            line,
            col,
        }
    }

    fn push(&mut self, src: &Src<'_>, span: Range<usize>, severity: Severity, message: String) {
        let Pos { file, line, col } = Self::pos(src, &span);
        self.diags.push(Diagnostic {
            file,
            line,
            col,
            severity,
            message,
        });
    }

    fn error(&mut self, src: &Src<'_>, span: Range<usize>, message: String) {
        self.push(src, span, Severity::Error, message);
    }

    fn warn(&mut self, src: &Src<'_>, span: Range<usize>, message: String) {
        self.push(src, span, Severity::Warning, message);
    }

    /// The entries of a table, reporting keys outside `allowed`.
    fn fields<'t, 'i>(
        &mut self,
        src: &Src<'_>,
        table: &'t DeTable<'i>,
        allowed: &[&str],
        context: &str,
    ) -> HashMap<&'t str, &'t Val<'i>> {
        let mut out = HashMap::new();
        for (k, v) in table.iter() {
            let key: &str = k.get_ref();
            if allowed.contains(&key) {
                out.insert(key, v);
            } else {
                self.error(
                    src,
                    k.span(),
                    format!(
                        "unknown key \"{key}\"{context} (expected: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
        out
    }

    fn required<'t, 'i>(
        &mut self,
        src: &Src<'_>,
        fields: &HashMap<&str, &'t Val<'i>>,
        key: &str,
        example: &str,
        at: Range<usize>,
        context: &str,
    ) -> Option<&'t Val<'i>> {
        let v = fields.get(key).copied();
        if v.is_none() {
            self.error(src, at, format!("missing `{key} = {example}`{context}"));
        }
        v
    }

    fn string(&mut self, src: &Src<'_>, v: &Val<'_>, what: &str) -> Option<String> {
        match v.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.error(
                    src,
                    v.span(),
                    format!("expected {what} (a string), found {}", found(src, v)),
                );
                None
            }
        }
    }

    fn boolean(&mut self, src: &Src<'_>, v: &Val<'_>) -> Option<bool> {
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.error(
                    src,
                    v.span(),
                    format!("expected true or false, found {}", found(src, v)),
                );
                None
            }
        }
    }

    /// A date written `"2026-01-02"` (or as a bare TOML date `2026-01-02`).
    fn date(&mut self, src: &Src<'_>, v: &Val<'_>) -> Option<Date> {
        let parsed = match v.get_ref() {
            DeValue::String(s) => parse_date(s),
            DeValue::Datetime(dt) if dt.time.is_none() && dt.offset.is_none() => {
                dt.date.and_then(|d| {
                    Date::new(
                        i16::try_from(d.year).ok()?,
                        i8::try_from(d.month).ok()?,
                        i8::try_from(d.day).ok()?,
                    )
                    .ok()
                })
            }
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                src,
                v.span(),
                format!("expected a date YYYY-MM-DD, found {}", found(src, v)),
            );
        }
        parsed
    }

    /// The elements of an array that must all be tables (`[[closure]]` or `[{..}, {..}]`).
    fn tables<'t, 'i>(
        &mut self,
        src: &Src<'_>,
        v: &'t Val<'i>,
        example: &str,
    ) -> Vec<(&'t DeTable<'i>, Range<usize>)> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(
                src,
                v.span(),
                format!("expected a list like [{example}], found {}", found(src, v)),
            );
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items.iter() {
            match item.get_ref() {
                DeValue::Table(t) => out.push((t, item.span())),
                _ => self.error(
                    src,
                    item.span(),
                    format!(
                        "expected a table like {example}, found {}",
                        found(src, item)
                    ),
                ),
            }
        }
        out
    }

    /// A list of windows `["07:00-08:00", ...]`: each well-formed, non-empty, and no two
    /// overlapping. Returns them sorted, or `None` after reporting what is wrong.
    fn windows(&mut self, src: &Src<'_>, v: &Val<'_>, on: &str) -> Option<Vec<Window>> {
        let DeValue::Array(items) = v.get_ref() else {
            self.error(
                src,
                v.span(),
                format!(
                    "expected a list of windows like [\"07:00-08:00\"], found {}",
                    found(src, v)
                ),
            );
            return None;
        };
        let mut ok = true;
        let mut windows: Vec<(Window, String, Range<usize>)> = Vec::new();
        for item in items.iter() {
            let text = match item.get_ref() {
                DeValue::String(s) => s.to_string(),
                _ => String::new(),
            };
            match parse_window(&text) {
                Some(w) if w.start < w.end => windows.push((w, text, item.span())),
                Some(_) => {
                    ok = false;
                    self.error(
                        src,
                        item.span(),
                        format!(
                            "expected a window that ends after it starts, found {}",
                            found(src, item)
                        ),
                    );
                }
                None => {
                    ok = false;
                    self.error(
                        src,
                        item.span(),
                        format!(
                            "expected a time window HH:MM-HH:MM, found {}",
                            found(src, item)
                        ),
                    );
                }
            }
        }
        windows.sort_by_key(|(w, _, _)| *w);
        for pair in windows.windows(2) {
            let [(a, a_text, _), (b, b_text, b_span)] = pair else {
                continue;
            };
            if b.start < a.end {
                ok = false;
                self.error(
                    src,
                    b_span.clone(),
                    format!("window \"{b_text}\" overlaps \"{a_text}\" on {on}"),
                );
            }
        }
        ok.then(|| windows.into_iter().map(|(w, _, _)| w).collect())
    }

    fn decree(&mut self, src: &Src<'_>, file_year: Option<i16>, table: &Spanned<DeTable<'_>>) {
        let f = self.fields(src, table.get_ref(), DECREE_KEYS, "");
        let mut year = None;
        if let Some(v) = f.get("year") {
            let n = match v.get_ref() {
                DeValue::Integer(i) => i.as_str().replace('_', "").parse::<i16>().ok(),
                _ => None,
            };
            match n {
                Some(n) if (1900..=2999).contains(&n) => match file_year {
                    Some(fy) if fy != n => self.error(
                        src,
                        v.span(),
                        format!(
                            "expected year = {fy} (as the file name says), found {}",
                            found(src, v)
                        ),
                    ),
                    _ => year = Some(n),
                },
                _ => self.error(
                    src,
                    v.span(),
                    format!("expected a year like 2026, found {}", found(src, v)),
                ),
            }
        } else {
            let example = file_year.map_or("YYYY".to_owned(), |y| y.to_string());
            self.error(src, 0..0, format!("missing `year = {example}`"));
        }
        if let Some(v) = f.get("decree") {
            self.string(src, v, "the decree's reference");
        }
        let mut missing = false;
        if let Some(v) = f.get("decree_missing") {
            missing = self.boolean(src, v).unwrap_or(false);
        }

        let mut rest_days = BTreeMap::new();
        let mut rest_pos: BTreeMap<Date, Pos> = BTreeMap::new();
        if let Some(v) = f.get("rest_days") {
            let example = "{ date = \"YYYY-MM-DD\", name = \"áthelyezett pihenőnap\" }";
            for (t, span) in self.tables(src, v, example) {
                let ctx = " in a rest day";
                let rf = self.fields(src, t, REST_DAY_KEYS, ctx);
                let name = rf.get("name").and_then(|v| self.string(src, v, "a name"));
                let Some(dv) = self.required(src, &rf, "date", "\"YYYY-MM-DD\"", span, ctx) else {
                    continue;
                };
                let Some(date) = self.date(src, dv) else {
                    continue;
                };
                if !self.in_year(src, dv, date, year) {
                    continue;
                }
                if is_weekend(date) {
                    self.error(
                        src,
                        dv.span(),
                        format!(
                            "expected a weekday (Monday to Friday) for a moved rest day, \
                             found {} ({:?})",
                            found(src, dv),
                            date.weekday()
                        ),
                    );
                } else if let Some(h) = holiday_name(date) {
                    self.error(
                        src,
                        dv.span(),
                        format!(
                            "expected a workday for a moved rest day, found {}, a statutory \
                             holiday ({h})",
                            found(src, dv)
                        ),
                    );
                } else if let Some(p) = rest_pos.get(&date) {
                    let msg = format!("rest day {date} is already listed at line {}", p.line);
                    self.error(src, dv.span(), msg);
                } else {
                    rest_pos.insert(date, Self::pos(src, &dv.span()));
                    rest_days.insert(
                        date,
                        name.unwrap_or_else(|| super::DEFAULT_REST_DAY.to_owned()),
                    );
                }
            }
        }

        let mut worked = BTreeMap::new();
        let mut worked_pos: BTreeMap<Date, Pos> = BTreeMap::new();
        if let Some(v) = f.get("worked_saturdays") {
            let example = "{ date = \"YYYY-MM-DD\", replaces = \"YYYY-MM-DD\" }";
            for (t, span) in self.tables(src, v, example) {
                let ctx = " in a worked Saturday";
                let wf = self.fields(src, t, WORKED_SATURDAY_KEYS, ctx);
                if let Some(v) = wf.get("name") {
                    self.string(src, v, "a name");
                }
                let date = self
                    .required(src, &wf, "date", "\"YYYY-MM-DD\"", span.clone(), ctx)
                    .and_then(|dv| Some((dv, self.date(src, dv)?)));
                let replaces = self
                    .required(src, &wf, "replaces", "\"YYYY-MM-DD\"", span, ctx)
                    .and_then(|rv| Some((rv, self.date(src, rv)?)));
                let mut ok = true;
                if let Some((dv, date)) = date {
                    if !self.in_year(src, dv, date, year) {
                        ok = false;
                    } else if date.weekday() != Weekday::Saturday {
                        ok = false;
                        self.error(
                            src,
                            dv.span(),
                            format!(
                                "expected a Saturday, found {} ({:?})",
                                found(src, dv),
                                date.weekday()
                            ),
                        );
                    } else if let Some(h) = holiday_name(date) {
                        ok = false;
                        self.error(
                            src,
                            dv.span(),
                            format!(
                                "expected a Saturday that is not a holiday, found {}, a \
                                 statutory holiday ({h})",
                                found(src, dv)
                            ),
                        );
                    } else if let Some(p) = worked_pos.get(&date) {
                        ok = false;
                        let msg = format!(
                            "worked Saturday {date} is already listed at line {}",
                            p.line
                        );
                        self.error(src, dv.span(), msg);
                    }
                }
                if let Some((rv, r)) = replaces {
                    if is_weekend(r) {
                        ok = false;
                        self.error(
                            src,
                            rv.span(),
                            format!(
                                "expected `replaces` to be a weekday (Monday to Friday), \
                                 found {} ({:?})",
                                found(src, rv),
                                r.weekday()
                            ),
                        );
                    } else if Some(r.year()) == year && !rest_days.contains_key(&r) {
                        self.warn(
                            src,
                            rv.span(),
                            format!(
                                "{r} is not a rest day in this file; a worked Saturday \
                                 usually makes up for one"
                            ),
                        );
                    }
                }
                if let (Some((dv, date)), Some((_, r)), true) = (date, replaces, ok) {
                    worked_pos.insert(date, Self::pos(src, &dv.span()));
                    worked.insert(date, r);
                }
            }
        }

        if missing && let Some(v) = f.get("decree_missing") {
            if !rest_days.is_empty() || !worked.is_empty() {
                self.error(
                    src,
                    v.span(),
                    "expected no rest days or worked Saturdays with decree_missing = true, \
                         found some; remove decree_missing once the data is in"
                        .to_owned(),
                );
            } else {
                let y = year.map_or("this year".to_owned(), |y| y.to_string());
                self.warn(
                    src,
                    v.span(),
                    format!(
                        "no decree data for {y} yet: only statutory holidays apply; add the \
                             moved rest days and worked Saturdays when the decree is published"
                    ),
                );
            }
        }

        let Some(year) = year else {
            return;
        };
        let year_span = f.get("year").map_or(0..0, |v| v.span());
        if let Some(p) = self.year_pos.get(&year) {
            let msg = format!("year {year} is already defined in {}", p.file);
            self.error(src, year_span, msg);
            return;
        }
        self.year_pos.insert(year, Self::pos(src, &year_span));
        self.cal.years.insert(
            year,
            DecreeYear {
                rest_days,
                worked_saturdays: worked,
            },
        );
    }

    /// Checks that a decree date lies in the file's year.
    fn in_year(&mut self, src: &Src<'_>, v: &Val<'_>, date: Date, year: Option<i16>) -> bool {
        match year {
            Some(y) if y != date.year() => {
                self.error(
                    src,
                    v.span(),
                    format!(
                        "expected a date in {y} (the year of this file), found {}",
                        found(src, v)
                    ),
                );
                false
            }
            _ => true,
        }
    }

    fn closures(&mut self, src: &Src<'_>, table: &Spanned<DeTable<'_>>) {
        let f = self.fields(src, table.get_ref(), CLOSURES_KEYS, "");
        if let Some(v) = f.get("closure") {
            let example = "{ from = \"YYYY-MM-DD\", to = \"YYYY-MM-DD\" }";
            for (t, span) in self.tables(src, v, example) {
                let ctx = " in a [[closure]]";
                let cf = self.fields(src, t, CLOSURE_KEYS, ctx);
                let reason = cf
                    .get("reason")
                    .and_then(|v| self.string(src, v, "a reason"));
                let from = self
                    .required(src, &cf, "from", "\"YYYY-MM-DD\"", span.clone(), ctx)
                    .and_then(|v| Some((v, self.date(src, v)?)));
                let to = self
                    .required(src, &cf, "to", "\"YYYY-MM-DD\"", span, ctx)
                    .and_then(|v| Some((v, self.date(src, v)?)));
                let (Some((fv, from)), Some((tv, to))) = (from, to) else {
                    continue;
                };
                if to < from {
                    self.error(
                        src,
                        tv.span(),
                        format!(
                            "expected `to` on or after `from` ({from}), found {}",
                            found(src, tv)
                        ),
                    );
                    continue;
                }
                let pos = Self::pos(src, &fv.span());
                self.closures.push((Closure { from, to, reason }, pos));
            }
        }
        if let Some(v) = f.get("override") {
            let example = "{ date = \"YYYY-MM-DD\", closed = true }";
            for (t, span) in self.tables(src, v, example) {
                let ctx = " in an [[override]]";
                let of = self.fields(src, t, OVERRIDE_KEYS, ctx);
                let reason = of
                    .get("reason")
                    .and_then(|v| self.string(src, v, "a reason"));
                let date = self
                    .required(src, &of, "date", "\"YYYY-MM-DD\"", span.clone(), ctx)
                    .and_then(|v| Some((v, self.date(src, v)?)));
                let on = date.map_or("the override".to_owned(), |(_, d)| d.to_string());
                let closed = of.get("closed").map(|v| (v, self.boolean(src, v)));
                let windows = of.get("windows").map(|v| self.windows(src, v, &on));
                let windows = match (closed, windows) {
                    (Some((_, Some(true))), None) => None,
                    (None | Some((_, Some(false))), Some(Some(w))) => Some(w),
                    (Some((cv, Some(true))), Some(_)) => {
                        self.error(
                            src,
                            cv.span(),
                            "expected either `closed = true` or `windows`, found both".to_owned(),
                        );
                        continue;
                    }
                    (Some((_, None)), _) | (_, Some(None)) => continue,
                    (None | Some((_, Some(false))), None) => {
                        self.error(
                            src,
                            span,
                            "expected `closed = true` or `windows = [\"HH:MM-HH:MM\"]` in an \
                             [[override]], found neither"
                                .to_owned(),
                        );
                        continue;
                    }
                };
                let Some((dv, date)) = date else {
                    continue;
                };
                if let Some(p) = self.override_pos.get(&date) {
                    let msg = format!(
                        "override for {date} is already defined at {}:{}",
                        p.file, p.line
                    );
                    self.error(src, dv.span(), msg);
                    continue;
                }
                self.override_pos.insert(date, Self::pos(src, &dv.span()));
                self.cal
                    .overrides
                    .insert(date, Override { windows, reason });
            }
        }
    }

    /// Closures must not overlap: an admin who wrote two has likely mistyped one.
    fn check_closures(&mut self) {
        let mut closures = std::mem::take(&mut self.closures);
        closures.sort_by_key(|(c, _)| (c.from, c.to));
        let mut kept: Vec<(Closure, Pos)> = Vec::with_capacity(closures.len());
        for (c, pos) in closures {
            if let Some((prev, ppos)) = kept.last()
                && c.from <= prev.to
            {
                self.diags.push(Diagnostic {
                    file: pos.file.clone(),
                    line: pos.line,
                    col: pos.col,
                    severity: Severity::Error,
                    message: format!(
                        "closure {}–{} overlaps the closure {}–{} at {}:{}",
                        c.from, c.to, prev.from, prev.to, ppos.file, ppos.line
                    ),
                });
                continue;
            }
            kept.push((c, pos));
        }
        self.cal.closures = kept.into_iter().map(|(c, _)| c).collect();
    }

    fn schedules(&mut self, src: &Src<'_>, table: &Spanned<DeTable<'_>>) {
        for (name, v) in table.get_ref().iter() {
            let name: &str = name.get_ref();
            let DeValue::Table(t) = v.get_ref() else {
                self.error(
                    src,
                    v.span(),
                    format!(
                        "expected a schedule table [{name}] with monday = [\"07:00-08:00\"] \
                         and so on, found {}",
                        found(src, v)
                    ),
                );
                continue;
            };
            let ctx = format!(" in schedule \"{name}\"");
            let sf = self.fields(src, t, SCHEDULE_KEYS, &ctx);
            let mut sched = Schedule::default();
            let mut ok = true;
            for (i, day) in WEEKDAYS.iter().enumerate() {
                if let Some(v) = sf.get(day) {
                    match self.windows(src, v, day) {
                        Some(w) => sched.weekly[i] = w,
                        None => ok = false,
                    }
                }
            }
            if let Some(v) = sf.get("worked_saturday") {
                sched.worked_saturday = self.windows(src, v, "worked_saturday");
                ok &= sched.worked_saturday.is_some();
            }
            if let Some(v) = sf.get("holiday") {
                match self.windows(src, v, "holiday") {
                    Some(w) => sched.holiday = w,
                    None => ok = false,
                }
            }
            if ok {
                self.cal.schedules.insert(name.to_owned(), sched);
            }
        }
    }
}

/// The value as written in the file, shortened to one line.
fn found(src: &Src<'_>, v: &Val<'_>) -> String {
    let raw = src.text.get(v.span()).unwrap_or("").trim();
    let line = raw.lines().next().unwrap_or("");
    if line.chars().count() > 40 {
        let short: String = line.chars().take(40).collect();
        format!("{short}…")
    } else if line.len() < raw.len() {
        format!("{line}…")
    } else if line.is_empty() {
        "nothing".to_owned()
    } else {
        line.to_owned()
    }
}

/// `YYYY-MM-DD`, a real date.
fn parse_date(s: &str) -> Option<Date> {
    let b = s.as_bytes();
    let digits = |r: Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return None;
    }
    if !digits(5..7) || !digits(8..10) {
        return None;
    }
    Date::new(
        s.get(0..4)?.parse().ok()?,
        s.get(5..7)?.parse().ok()?,
        s.get(8..10)?.parse().ok()?,
    )
    .ok()
}

/// `HH:MM-HH:MM` (an en dash works too); the end may be `24:00`. Minutes since midnight.
fn parse_window(s: &str) -> Option<Window> {
    let (a, b) = s.split_once('-').or_else(|| s.split_once('–'))?;
    let start = parse_hhmm(a.trim())?;
    let end = parse_hhmm(b.trim())?;
    (start < 24 * 60).then_some(Window { start, end })
}

fn parse_hhmm(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    let ok =
        |p: &str, max: usize| (1..=max).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if !ok(h, 2) || m.len() != 2 || !ok(m, 2) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(24 * 60),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}
