//! A mistyped seller command, told in the seller's language.
//!
//! Clap's own errors are English ("error: the following required arguments were not
//! provided"). For the seller's commands (`push`, `cancel`, `session`, `cod`) and an unknown
//! command, [`explain`] says the same thing from the error's context in the language of
//! [`super::i18n`] (`--lang` when it is among the arguments, else the locale); the usage line
//! stays as clap writes it (it is syntax), and `--help` stays English. The operator's
//! commands (`serve`, `check-config`, `hash-pin`, `export-day`) keep clap's English, as
//! their other messages are English.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};

use super::i18n::{fill, Lang, Msg};

/// The commands whose usage errors are told in the seller's language.
const SELLER_COMMANDS: [&str; 4] = ["push", "cancel", "session", "cod"];
/// Every command of the binary (an unknown one is a seller's typo as likely as not).
const COMMANDS: [&str; 9] = [
    "serve",
    "check-config",
    "hash-pin",
    "push",
    "cancel",
    "session",
    "cod",
    "export-day",
    "help",
];

/// `--token` (or `LIVEPACK_TOKEN`): surrounding blanks and line breaks dropped (a token
/// pasted or read from a file with its newline); what is left must be sendable in a header.
pub fn token_value(raw: &str) -> Result<String, String> {
    let token = raw.trim();
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(BAD_TOKEN.into());
    }
    Ok(token.to_owned())
}

/// `--url` (or `LIVEPACK_URL`): an address livepack can be reached at, `ws://`, `wss://`,
/// `http://` or `https://` with a host (a path is told apart later, by the server's answer).
pub fn url_value(raw: &str) -> Result<String, String> {
    let url = raw.trim();
    match reqwest::Url::parse(url) {
        Ok(u) if ["http", "https", "ws", "wss"].contains(&u.scheme()) && u.host().is_some() => {
            Ok(url.to_owned())
        }
        _ => Err(BAD_URL.into()),
    }
}

const BAD_TOKEN: &str =
    "a token is letters, digits and signs, without spaces or line breaks inside";
const BAD_URL: &str =
    "an address such as http://127.0.0.1:8080 (http, https, ws or wss, and a host)";

/// What to do with a failed parse of `args` (the program's arguments, its name first):
/// `Some(text)` to print on standard error and exit 2, `None` to let clap print its own
/// (help, version, an operator's command, or English chosen).
/// `usage(command)`: the command's usage line (`Usage: livepack push [OPTIONS] …`), shown
/// instead of clap's, which lists the flags given as if they were required and is missing
/// from some errors.
pub fn explain(
    err: &clap::Error,
    args: &[OsString],
    usage: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            | ErrorKind::DisplayVersion
    ) {
        return None;
    }
    let command = args.get(1).and_then(|a| a.to_str()).unwrap_or_default();
    let sellers = SELLER_COMMANDS.contains(&command) || !COMMANDS.contains(&command);
    if !sellers {
        return None;
    }
    let lang = Lang::choose(lang_flag(args));
    // Clap's own sentence would show the token: told here in English too.
    let token = err.kind() == ErrorKind::ValueValidation
        && string(err, ContextKind::InvalidArg).is_some_and(|a| a.starts_with("--token"));
    (lang == Lang::Vi || token).then(|| render(err, lang, command, usage(command)))
}

/// `--lang vi|en` (or `--lang=…`) among the arguments, when it names a language.
fn lang_flag(args: &[OsString]) -> Option<Lang> {
    let args: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if *a == "--" {
            break;
        }
        let value = match a.strip_prefix("--lang") {
            Some("") => args.get(i + 1).copied(),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        found = match value {
            Some("vi") => Some(Lang::Vi),
            Some("en") => Some(Lang::En),
            _ => found,
        };
    }
    found
}

fn text(lang: Lang, msg: Msg, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    fill(msg.text(lang), args)
}

fn string(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) if !v.is_empty() => Some(v.join(", ")),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The error's message in `lang`, then clap's usage line and where help is.
fn render(err: &clap::Error, lang: Lang, command: &str, usage: Option<String>) -> String {
    let arg = string(err, ContextKind::InvalidArg).unwrap_or_default();
    let value = string(err, ContextKind::InvalidValue).unwrap_or_default();
    let mut lines = vec![match err.kind() {
        ErrorKind::MissingRequiredArgument => {
            let mut line = text(lang, Msg::UsageMissing, &[("args", &arg)]);
            if arg.contains("--token") {
                line.push(' ');
                line.push_str(Msg::UsageTokenEnv.text(lang));
            }
            line
        }
        // A word where none is taken: a second file or order id.
        ErrorKind::UnknownArgument if !arg.starts_with('-') => {
            text(lang, Msg::UsageExtra, &[("arg", &arg)])
        }
        ErrorKind::UnknownArgument => text(lang, Msg::UsageUnknownArg, &[("arg", &arg)]),
        ErrorKind::InvalidSubcommand => {
            let command = string(err, ContextKind::InvalidSubcommand).unwrap_or_default();
            text(lang, Msg::UsageUnknownCommand, &[("command", &command)])
        }
        ErrorKind::InvalidValue if value.is_empty() => {
            text(lang, Msg::UsageNeedsValue, &[("arg", &arg)])
        }
        ErrorKind::InvalidValue => {
            let valid = string(err, ContextKind::ValidValue).unwrap_or_default();
            text(
                lang,
                Msg::UsageBadChoice,
                &[("value", &value), ("arg", &arg), ("valid", &valid)],
            )
        }
        // The token itself is not shown (it is a secret, maybe with a line break).
        ErrorKind::ValueValidation if arg.starts_with("--token") && value.trim().is_empty() => {
            Msg::UsageEmptyToken.text(lang).to_owned()
        }
        ErrorKind::ValueValidation if arg.starts_with("--token") => {
            Msg::UsageBadToken.text(lang).to_owned()
        }
        ErrorKind::ValueValidation if arg.starts_with("--url") => {
            text(lang, Msg::UsageBadUrl, &[("value", &value)])
        }
        ErrorKind::ValueValidation => {
            let why = validation_reason(err, lang);
            text(
                lang,
                Msg::UsageBadValue,
                &[("value", &value), ("arg", &arg), ("why", &why)],
            )
        }
        ErrorKind::ArgumentConflict => match string(err, ContextKind::PriorArg) {
            Some(other) if other != arg => text(
                lang,
                Msg::UsageConflict,
                &[("arg", &arg), ("other", &other)],
            ),
            _ => text(lang, Msg::UsageTwice, &[("arg", &arg)]),
        },
        ErrorKind::InvalidUtf8 => Msg::UsageNotUtf8.text(lang).to_owned(),
        _ => {
            // Rare kinds (a count of values, `=` required…): clap's own sentence.
            let why = err.render().to_string();
            let why = why
                .lines()
                .next()
                .unwrap_or_default()
                .trim_start_matches("error: ");
            text(lang, Msg::UsageOther, &[("why", &why)])
        }
    }];
    for kind in [
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
        ContextKind::SuggestedSubcommand,
    ] {
        if let Some(suggestion) = string(err, kind) {
            lines.push(text(
                lang,
                Msg::UsageDidYouMean,
                &[("suggestion", &suggestion)],
            ));
        }
    }
    if matches!(
        err.get(ContextKind::TrailingArg),
        Some(ContextValue::Bool(true))
    ) {
        lines.push(text(lang, Msg::UsageDashDash, &[("arg", &arg)]));
    }
    let mut out = format!("livepack: {}\n", lines.join("\n  "));
    if let Some(usage) = usage.or_else(|| string(err, ContextKind::Usage)) {
        let usage = usage.trim();
        let usage = usage.strip_prefix("Usage:").unwrap_or(usage).trim();
        out.push_str(&format!("\n{} {usage}\n", Msg::UsageLine.text(lang)));
    }
    let help = if SELLER_COMMANDS.contains(&command) {
        format!("livepack {command} --help")
    } else {
        "livepack --help".to_owned()
    };
    out.push('\n');
    out.push_str(&text(lang, Msg::UsageMore, &[("help", &help)]));
    out.push('\n');
    out
}

/// Why a value was refused: a range or a number said in `lang`, else the parser's text.
fn validation_reason(err: &clap::Error, lang: Lang) -> String {
    use std::error::Error as _;
    let Some(source) = err.source() else {
        return String::new();
    };
    if source.downcast_ref::<std::num::ParseIntError>().is_some() {
        return Msg::UsageNotANumber.text(lang).to_owned();
    }
    let why = source.to_string();
    // "0 is not in 1..=500" (clap's ranged integers).
    let range = why.split_once(" is not in ").and_then(|(value, bounds)| {
        let (low, high) = bounds.split_once("..=")?;
        Some((value.to_owned(), low.to_owned(), high.to_owned()))
    });
    match range {
        Some((value, low, high)) => text(
            lang,
            Msg::UsageNotInRange,
            &[("value", &value), ("low", &low), ("high", &high)],
        ),
        None => why,
    }
}

#[cfg(test)]
mod tests {
    use clap::{Arg, ArgAction, Command};

    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    /// A command shaped like the binary's: `push` with a token, a ranged batch, a choice.
    fn cli() -> Command {
        Command::new("livepack").subcommand(
            Command::new("push")
                .arg(Arg::new("token").long("token").required(true))
                .arg(Arg::new("session").long("session").required(true))
                .arg(
                    Arg::new("batch")
                        .long("batch")
                        .value_parser(clap::value_parser!(u16).range(1..=500)),
                )
                .arg(Arg::new("lang").long("lang").value_parser(["vi", "en"]))
                .arg(Arg::new("follow").long("follow").action(ArgAction::SetTrue))
                .arg(Arg::new("idle").long("idle-secs").requires("follow"))
                .arg(Arg::new("file").required(true)),
        )
    }

    /// `livepack push --token t --session s` with `extra` and a file.
    fn push_with(extra: &[&'static str]) -> Vec<&'static str> {
        let mut args = vec!["livepack", "push", "--token", "t", "--session", "s"];
        args.extend_from_slice(extra);
        args.push("f");
        args
    }

    fn said(args: &[&str], env_lang: Option<Lang>) -> Option<String> {
        let args = os(args);
        let err = cli().try_get_matches_from(&args).err()?;
        // The locale is the process's: tests pass the language as a flag instead.
        let mut args = args;
        if let Some(lang) = env_lang {
            args.push("--lang".into());
            args.push(if lang == Lang::Vi { "vi" } else { "en" }.into());
        }
        explain(&err, &args, |_| None)
    }

    #[test]
    fn a_missing_token_is_named_with_its_variable() {
        let s = said(
            &["livepack", "push", "--session", "s", "f.csv"],
            Some(Lang::Vi),
        )
        .unwrap();
        assert!(s.contains("thiếu: --token <token>"), "{s}");
        assert!(s.contains("LIVEPACK_TOKEN"), "{s}");
        assert!(s.contains("Cách dùng: livepack push"), "{s}");
        assert!(s.contains("livepack push --help"), "{s}");
    }

    #[test]
    fn a_typo_gets_a_suggestion_and_a_range_its_bounds() {
        let s = said(&push_with(&["--sesion", "s"]), Some(Lang::Vi)).unwrap();
        assert!(s.contains("không có tham số '--sesion'"), "{s}");
        assert!(s.contains("'--session'"), "{s}");
        let s = said(&push_with(&["--batch", "0"]), Some(Lang::Vi)).unwrap();
        assert!(s.contains("0 không nằm trong khoảng 1–500"), "{s}");
        let s = said(&push_with(&["--batch", "x"]), Some(Lang::Vi)).unwrap();
        assert!(s.contains("không phải số nguyên"), "{s}");
        let s = said(&push_with(&["--lang", "fr"]), None);
        // `--lang fr` names no language: the locale decides (either way, no panic).
        if let Some(s) = s {
            assert!(s.contains("'fr'"), "{s}");
        }
    }

    #[test]
    fn an_unknown_command_and_a_missing_companion_flag() {
        let s = said(&["livepack", "psuh"], Some(Lang::Vi)).unwrap();
        assert!(s.contains("không có lệnh 'psuh'"), "{s}");
        assert!(s.contains("'push'"), "{s}");
        let s = said(&push_with(&["--idle-secs", "5"]), Some(Lang::Vi)).unwrap();
        assert!(s.contains("thiếu: --follow"), "{s}");
    }

    #[test]
    fn english_help_and_operator_commands_stay_with_clap() {
        assert_eq!(said(&["livepack", "push"], Some(Lang::En)), None);
        assert_eq!(
            said(&["livepack", "push", "--help"], Some(Lang::Vi)),
            None,
            "--help stays clap's"
        );
        let err = Command::new("livepack")
            .subcommand(Command::new("serve").arg(Arg::new("demo").long("demo")))
            .try_get_matches_from(["livepack", "serve", "--dmo"])
            .unwrap_err();
        assert_eq!(
            explain(
                &err,
                &os(&["livepack", "serve", "--dmo", "--lang", "vi"]),
                |_| None
            ),
            None
        );
    }

    #[test]
    fn a_token_loses_its_line_break_and_a_url_needs_a_scheme_and_a_host() {
        assert_eq!(token_value(" tok-1\n").as_deref(), Ok("tok-1"));
        assert!(token_value("tok 1").is_err());
        assert!(token_value("tök").is_err());
        assert!(token_value("\n").is_err());
        for ok in [
            "http://127.0.0.1:8080",
            "wss://hub.example.vn",
            "http://h:1/v1",
        ] {
            assert_eq!(url_value(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "127.0.0.1:8080",
            "htp://h",
            "http://",
            "ftp://h",
            "localhost",
        ] {
            assert!(url_value(bad).is_err(), "{bad}");
        }
        let err = Command::new("livepack")
            .subcommand(
                Command::new("push").arg(Arg::new("token").long("token").value_parser(token_value)),
            )
            .try_get_matches_from(["livepack", "push", "--token", "secret tok"])
            .unwrap_err();
        let s = explain(&err, &os(&["livepack", "push", "--lang", "vi"]), |_| None).unwrap();
        assert!(s.contains("mã truy cập"), "{s}");
        assert!(!s.contains("secret"), "the token is not shown: {s}");
        // In English too (clap's sentence would quote it).
        let s = explain(&err, &os(&["livepack", "push", "--lang", "en"]), |_| None).unwrap();
        assert!(s.contains("the token (--token or LIVEPACK_TOKEN)"), "{s}");
        assert!(!s.contains("secret"), "the token is not shown: {s}");
        // An empty one (an exported LIVEPACK_TOKEN= with nothing after it) is said to be so.
        for empty in ["", "   "] {
            let err = Command::new("livepack")
                .subcommand(
                    Command::new("push")
                        .arg(Arg::new("token").long("token").value_parser(token_value)),
                )
                .try_get_matches_from(["livepack", "push", "--token", empty])
                .unwrap_err();
            let s = explain(&err, &os(&["livepack", "push", "--lang", "vi"]), |_| None).unwrap();
            assert!(s.contains("để trống") && !s.contains("ở giữa"), "{s}");
        }
    }

    #[test]
    fn the_language_flag_is_read_from_the_raw_arguments() {
        assert_eq!(
            lang_flag(&os(&["livepack", "push", "--lang", "en"])),
            Some(Lang::En)
        );
        assert_eq!(
            lang_flag(&os(&["livepack", "push", "--lang=vi"])),
            Some(Lang::Vi)
        );
        assert_eq!(lang_flag(&os(&["livepack", "push", "--lang"])), None);
        assert_eq!(
            lang_flag(&os(&["livepack", "push", "--", "--lang", "en"])),
            None
        );
    }
}
