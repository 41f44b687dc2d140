use super::*;
use crate::dialplan::{FormRef, NodeKind};

const PROMPTS: &[&str] = &[
    "welcome",
    "main_menu",
    "invalid_key",
    "no_input",
    "goodbye",
    "enter_mobile",
];
const KNOWN: Known<'static> = Known {
    skip_prompts: false,
    prompts: PROMPTS,
    queues: &["operators"],
    forms: &["tajekoztato", "lakcim"],
    form_choices: &[
        FormChoice {
            id: "tajekoztato",
            key: '1',
            prompt: "form_tajekoztato",
        },
        FormChoice {
            id: "lakcim",
            key: '2',
            prompt: "form_lakcim",
        },
    ],
    schedules: &["staffed"],
};

const GOOD: &str = r#"start = "welcome"

[nodes.welcome]
type = "play"
prompts = ["welcome"]
next = "menu"

[nodes.menu]
type = "menu"
prompts = ["main_menu"]
keys = { "1" = "bye", "*" = "menu" }
invalid_prompts = ["invalid_key"]
timeout_prompts = ["no_input"]
on_max_retries = "bye"

[nodes.bye]
type = "play"
prompts = ["goodbye"]
next = "end"

[nodes.end]
type = "hangup"
"#;

fn errors(text: &str) -> Vec<String> {
    match load_str("dialplans/main.toml", text, &KNOWN) {
        Ok(_) => Vec::new(),
        Err(d) => d.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn valid_plan_loads_with_defaults() {
    let (plan, warnings) = load_str("p.toml", GOOD, &KNOWN).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let NodeKind::Menu(m) = &plan.nodes[plan.node_id("menu").expect("exists")].kind else {
        panic!("menu node expected");
    };
    assert_eq!(m.timeout, Duration::from_secs(6));
    assert_eq!(m.max_retries, 3);
    assert_eq!(m.target('1'), plan.node_id("bye"));
    assert_eq!(plan.calendar_dir, "calendar");
}

#[test]
fn unknown_prompt_is_reported_with_position_and_suggestions() {
    let text = GOOD.replace("prompts = [\"main_menu\"]", "prompts = [\"main_menu_2\"]");
    let errs = errors(&text);
    assert_eq!(
        errs,
        vec![
            "dialplans/main.toml:10:12: unknown prompt \"main_menu_2\" (known: main_menu, no_input, welcome, enter_mobile, goodbye, …)"
        ]
    );
}

#[test]
fn five_different_mistakes_yield_five_located_errors() {
    let text = GOOD
        .replace("next = \"menu\"", "next = \"menuu\"")
        .replace("\"1\" = \"bye\"", "\"11\" = \"bye\"")
        .replace("prompts = [\"goodbye\"]", "prompts = [\"goodby\"]")
        .replace(
            "on_max_retries = \"bye\"",
            "on_max_retries = \"bye\"\ntimeout_s = 0",
        )
        .replace("type = \"hangup\"", "type = \"hangup\"\nnext = \"welcome\"");
    let errs = errors(&text);
    assert_eq!(
        errs,
        vec![
            "dialplans/main.toml:6:8: unknown node \"menuu\" (known: menu, end, bye, welcome)",
            "dialplans/main.toml:11:10: expected one key of 0-9, *, #, A-D, found \"11\"",
            "dialplans/main.toml:15:13: timeout_s: expected seconds between 0.5 and 60, found 0",
            "dialplans/main.toml:19:12: unknown prompt \"goodby\" (known: goodbye, no_input, welcome, invalid_key, main_menu, …)",
            "dialplans/main.toml:24:8: field \"next\" does not apply to a hangup node",
        ]
    );
}

#[test]
fn syntax_error_has_line_and_column() {
    let errs = errors("start = \"welcome\"\n[nodes.welcome\ntype = \"play\"\n");
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("dialplans/main.toml:2:"), "{}", errs[0]);
}

#[test]
fn play_loop_without_input_is_an_error() {
    let text = GOOD.replace("next = \"end\"", "next = \"bye\"");
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e
                .contains("node \"bye\" loops back to itself without ever waiting for a key")),
        "{errs:?}"
    );
}

#[test]
fn menu_with_no_way_out_is_an_error() {
    let text = GOOD
        .replace("\"1\" = \"bye\"", "\"1\" = \"menu\"")
        .replace("on_max_retries = \"bye\"", "on_max_retries = \"menu\"");
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.contains("menu \"menu\" has no way out")),
        "{errs:?}"
    );
}

#[test]
fn unreachable_node_is_a_warning_only() {
    let text = format!("{GOOD}\n[nodes.orphan]\ntype = \"hangup\"\n");
    let (_, warnings) = load_str("p.toml", &text, &KNOWN).expect("warnings do not refuse");
    assert_eq!(warnings.len(), 1);
    assert_eq!(
        warnings[0].to_string(),
        "p.toml:24:8: warning: node \"orphan\" cannot be reached from \"start\""
    );
}

#[test]
fn unknown_schedule_queue_and_form_are_refused_with_suggestions() {
    let text = GOOD.replace(
        "[nodes.bye]",
        "[nodes.s]\ntype = \"schedule\"\nschedule = \"stafed\"\nopen = \"q\"\nclosed = \"f\"\n\n[nodes.q]\ntype = \"queue\"\nqueue = \"operator\"\nno_agents = \"bye\"\n\n[nodes.f]\ntype = \"send_form\"\nform = \"lakcm\"\nchannel = \"fax\"\nnext = \"bye\"\non_error = \"bye\"\n\n[nodes.bye]",
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown schedule \"stafed\" (known: staffed)")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown queue \"operator\" (known: operators)")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("unknown form \"lakcm\" (known: lakcim, tajekoztato)")),
        "{errs:?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("channel: expected \"sms\" or \"email\", found \"fax\"")),
        "{errs:?}"
    );
}

#[test]
fn transfer_only_to_numbers_the_plan_allows() {
    let plan = |allowed: &str| {
        GOOD.replace("start = \"welcome\"", &format!("start = \"welcome\"\n[transfer]\nallowed = [{allowed}]"))
            .replace("[nodes.bye]", "[nodes.t]\ntype = \"transfer\"\nto = \"06 23 444 555\"\non_error = \"bye\"\n\n[nodes.bye]")
    };
    let errs = errors(&plan("\"+36 1 111 2222\""));
    assert!(
        errs.iter().any(|e| e.contains("transfer to +3623444555 is not allowed: add it to [transfer] allowed (allowed: +3611112222)")),
        "{errs:?}"
    );
    assert!(errors(&plan("\"+3623444555\"")).is_empty());
}

#[test]
fn transfer_names_one_queue_operator_or_number() {
    let plan = |fields: &str| {
        GOOD.replace(
            "[nodes.bye]",
            &format!("[nodes.t]\ntype = \"transfer\"\n{fields}\non_error = \"bye\"\n\n[nodes.bye]"),
        )
        .replace("\"1\" = \"bye\"", "\"1\" = \"t\"")
    };
    let kind = |fields: &str| {
        let (plan, _) = load_str("p.toml", &plan(fields), &KNOWN).expect("valid");
        plan.nodes[plan.node_id("t").expect("t")].kind.clone()
    };
    assert!(matches!(
        kind("queue = \"operators\""),
        NodeKind::Transfer { to: crate::dialplan::TransferTarget::Queue(q), .. } if q == "operators"
    ));
    assert!(matches!(
        kind("operator = \"kovacs.anna\""),
        NodeKind::Transfer { to: crate::dialplan::TransferTarget::Operator(o), .. } if o == "kovacs.anna"
    ));
    let errs = errors(&plan("queue = \"operatorok\""));
    assert_eq!(
        errs,
        ["dialplans/main.toml:18:9: unknown queue \"operatorok\" (known: operators)"]
    );
    let errs = errors(&plan("operator = \"Anna Kovács\""));
    assert_eq!(
        errs,
        [
            "dialplans/main.toml:18:12: expected an operator name of a-z, 0-9, '.', '_' and '-', found \"Anna Kovács\""
        ]
    );
    let errs = errors(&plan("queue = \"operators\"\noperator = \"anna\""));
    assert_eq!(
        errs,
        [
            "dialplans/main.toml:19:12: transfer node \"t\": expected one of \"to\", \"queue\" or \"operator\", found queue and operator"
        ]
    );
    let errs = errors(&plan(""));
    assert_eq!(
        errs,
        [
            "dialplans/main.toml:16:8: transfer node \"t\" needs \"to\" (a number), \"queue\" or \"operator\""
        ]
    );
}

#[test]
fn undefined_variable_is_refused() {
    let text = GOOD.replace(
        "prompts = [\"goodbye\"]",
        "prompts = [\"goodbye\", \"@var:mobile\"]",
    );
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e
                .contains("variable \"mobile\" is never set by a collect, form_menu or set node")),
        "{errs:?}"
    );
}

#[test]
fn unlabelled_node_on_the_way_to_an_operator_is_a_warning_at_its_name() {
    let text = GOOD
        .replace("\"1\" = \"bye\"", "\"1\" = \"bye\", \"2\" = \"q\"")
        .replace(
            "[nodes.bye]",
            "[nodes.q]\ntype = \"queue\"\nlabel = \"Ügyintéző\"\nqueue = \"operators\"\nno_agents = \"bye\"\n\n[nodes.bye]",
        );
    let (plan, warnings) = load_str("dialplans/main.toml", &text, &KNOWN).expect("warnings only");
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    // The greeting is left out of every path and "bye" leads to no operator: only the menu.
    assert_eq!(
        warnings,
        vec![
            "dialplans/main.toml:8:8: warning: node \"menu\" has no label, so operators read \"menu\" in the menu path of callers put through to them; add label = \"…\""
        ]
    );
    assert_eq!(
        plan.path_label("welcome>menu>q"),
        "menu › Ügyintéző",
        "what the warning is about"
    );
    let labelled = text.replace("type = \"menu\"\n", "type = \"menu\"\nlabel = \"Főmenü\"\n");
    let (plan, warnings) = load_str("p.toml", &labelled, &KNOWN).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(plan.path_label("welcome>menu>q"), "Főmenü › Ügyintéző");
}

/// A form-choice menu that sends the chosen form to the caller.
const FORM_MENU: &str = r#"start = "choose"

[nodes.choose]
type = "form_menu"
prompts = ["main_menu"]
var = "form"
keys = { "*" = "choose" }
next = "send"
on_max_retries = "end"

[nodes.send]
type = "send_form"
form = "@var:form"
channel = "sms"
next = "end"
on_error = "end"

[nodes.end]
type = "hangup"
"#;

#[test]
fn form_menu_names_each_catalog_form_with_its_key_and_keeps_the_choice() {
    let (plan, _) = load_str("p.toml", FORM_MENU, &KNOWN).expect("valid");
    let NodeKind::Menu(m) = &plan.nodes[plan.node_id("choose").expect("exists")].kind else {
        panic!("a form_menu is a menu");
    };
    let said: Vec<&str> = m
        .prompts
        .iter()
        .map(|i| match i {
            Item::Prompt(p) => p.as_str(),
            other => panic!("only prompts, found {other:?}"),
        })
        .collect();
    assert_eq!(
        said,
        [
            "main_menu",
            "form_tajekoztato",
            "word_nyomja_meg",
            "art_az",
            "key_1",
            "word_gombot",
            "form_lakcim",
            "word_nyomja_meg",
            "art_a",
            "key_2",
            "word_gombot",
        ],
        "no `pause` in this prompt set, so none is played"
    );
    let choice = m.choice.as_ref().expect("a form_menu chooses");
    assert_eq!(choice.var, "form");
    assert_eq!(
        choice.values,
        [('1', "tajekoztato".to_owned()), ('2', "lakcim".to_owned())]
    );
    assert_eq!(Some(choice.next), plan.node_id("send"));
    assert_eq!(m.target('*'), plan.node_id("choose"));
    let NodeKind::SendForm { form, .. } = &plan.nodes[choice.next].kind else {
        panic!("send_form expected");
    };
    assert_eq!(*form, FormRef::Var("form".into()));
}

#[test]
fn form_menu_refuses_a_key_of_a_form_and_an_empty_catalog() {
    let text = FORM_MENU.replace(r#"keys = { "*" = "choose" }"#, r#"keys = { "2" = "end" }"#);
    assert_eq!(
        errors(&text),
        [
            "dialplans/main.toml:7:10: key \"2\" already picks form \"lakcim\" (its key in the forms catalog)"
        ]
    );
    let none = Known {
        form_choices: &[],
        ..KNOWN
    };
    let errs: Vec<String> = load_str("p.toml", FORM_MENU, &none)
        .expect_err("nothing to offer")
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errs,
        [
            "p.toml:3:8: form_menu node \"choose\" has nothing to offer: no form of the forms catalog has both a key and a prompt"
        ]
    );
}

#[test]
fn a_form_from_a_variable_nobody_sets_is_refused() {
    let text = FORM_MENU.replace(r#"form = "@var:form""#, r#"form = "@var:forms""#);
    assert_eq!(
        errors(&text),
        [
            "dialplans/main.toml:13:8: variable \"forms\" is never set by a collect, form_menu or set node"
        ]
    );
}

#[test]
fn a_plan_may_name_only_the_outcomes_a_plan_may_give() {
    let plan = |word: &str| {
        GOOD.replace(
            "[nodes.bye]",
            &format!(
                "[nodes.mark]\ntype = \"set\"\nvars = {{ outcome = \"{word}\" }}\nnext = \"bye\"\n\n[nodes.bye]"
            ),
        )
        .replace("\"1\" = \"bye\"", "\"1\" = \"mark\"")
    };
    assert_eq!(errors(&plan("callback")), Vec::<String>::new());
    assert_eq!(errors(&plan("completed")), Vec::<String>::new());
    assert_eq!(
        errors(&plan("callbak")),
        [
            "dialplans/main.toml:18:20: unknown outcome \"callbak\" for the call record (a plan may name: callback, completed)"
        ]
    );
    // Records name the queue's outcomes from what happened, not from the plan.
    let e = errors(&plan("no_operator"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].contains("unknown outcome \"no_operator\" for the call record (a plan may name: "),
        "{e:?}"
    );
}

const SURVEY: &str = r#"start = "q"

[nodes.q]
type = "queue"
label = "Ügyintéző"
queue = "operators"
no_agents = "bye"
after_operator = "rate"

[nodes.rate]
type = "survey"
prompts = ["goodbye"]
next = "bye"

[nodes.bye]
type = "play"
prompts = ["goodbye"]
next = "end"

[nodes.end]
type = "hangup"
"#;

#[test]
fn survey_keeps_keys_1_to_5_as_the_rating_and_goes_on_at_next_without_one() {
    let (plan, warnings) = load_str("p.toml", SURVEY, &KNOWN).expect("valid");
    assert!(warnings.is_empty(), "{warnings:?}");
    let rate = plan.node_id("rate");
    let NodeKind::Queue { after_operator, .. } = &plan.nodes[plan.node_id("q").expect("q")].kind
    else {
        panic!("queue expected");
    };
    assert_eq!(*after_operator, rate);
    let NodeKind::Menu(m) = &plan.nodes[rate.expect("rate")].kind else {
        panic!("a survey is a menu");
    };
    let choice = m.choice.as_ref().expect("a survey chooses");
    assert_eq!(choice.var, crate::dialplan::RATING_VAR);
    let keys: String = choice.values.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, "12345");
    assert_eq!(Some(choice.next), plan.node_id("bye"));
    assert_eq!(
        Some(m.on_max_retries),
        plan.node_id("bye"),
        "no answer: on to next"
    );
    assert!(m.keys.is_empty());
}

#[test]
fn after_operator_naming_an_unknown_node_and_a_survey_without_next_are_refused_where_written() {
    let text = SURVEY
        .replace("after_operator = \"rate\"", "after_operator = \"rte\"")
        .replace(
            "prompts = [\"goodbye\"]\nnext = \"bye\"\n\n[nodes.bye]",
            "prompts = [\"goodbye\"]\n\n[nodes.bye]",
        );
    assert_eq!(
        errors(&text),
        [
            "dialplans/main.toml:8:18: unknown node \"rte\" (known: rate, bye, end, q)",
            "dialplans/main.toml:10:8: survey node \"rate\" needs the field \"next\"",
        ]
    );
    let text = SURVEY.replace(
        "type = \"hangup\"",
        "type = \"hangup\"\nafter_operator = \"bye\"",
    );
    assert_eq!(
        errors(&text),
        ["dialplans/main.toml:22:18: field \"after_operator\" does not apply to a hangup node"]
    );
}
