//! Property tests of the dialect: whatever the input, an answer (never a panic), and the
//! HTML of every answer balanced: each element opened is closed, in order, and questions sit
//! directly inside pages.

use checkbox_render::dialect::{RenderOptions, render};
use proptest::prelude::*;

/// Elements that have no end tag.
const VOID: &[&str] = &["br", "hr", "img", "input", "meta", "link", "col", "wbr"];

/// Checks that `html` is balanced; the error says where it is not.
fn check_balanced(html: &str) -> Result<(), String> {
    // (element name, whether it is a page div, whether it is a question div)
    let mut open: Vec<(&str, bool, bool)> = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find('<') {
        let tag_start = &rest[at + 1..];
        let Some(end) = tag_start.find('>') else {
            return Err(format!("unterminated tag at {:?}", &rest[at..]));
        };
        let tag = &tag_start[..end];
        rest = &tag_start[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some((opened, _, _)) if opened == name => {}
                Some((opened, _, _)) => return Err(format!("</{name}> closes <{opened}>")),
                None => return Err(format!("</{name}> closes nothing")),
            }
            continue;
        }
        let name = tag.split([' ', '/']).next().unwrap_or("");
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("not a tag: <{tag}>"));
        }
        if tag.ends_with('/') || VOID.contains(&name) {
            continue;
        }
        let page = name == "div" && tag.contains("data-page=");
        let question = name == "div" && tag.contains("data-question=");
        if page && !open.is_empty() {
            return Err(format!("a page inside <{}>", open[open.len() - 1].0));
        }
        if question && open.last().is_none_or(|&(_, is_page, _)| !is_page) {
            return Err("a question outside a page".to_string());
        }
        if open.is_empty() && !page {
            return Err(format!("<{name}> outside any page"));
        }
        open.push((name, page, question));
    }
    match open.last() {
        Some((name, _, _)) => Err(format!("<{name}> never closed")),
        None => Ok(()),
    }
}

#[test]
fn the_checker_finds_what_is_not_balanced() {
    let page = |body: &str| format!("<div data-page=\"0\">\n{body}</div>\n");
    assert_eq!(
        check_balanced(&page("<p>a<br /><input type=\"x\"></p>")),
        Ok(())
    );
    assert!(check_balanced(&page("<p>a")).is_err());
    assert!(check_balanced(&page("<p><em>a</p></em>")).is_err());
    assert!(check_balanced(&page("</p>")).is_err());
    assert!(check_balanced("<div data-page=\"0\"></div><p>x</p>").is_err());
    assert!(check_balanced(&page("<div data-page=\"1\"></div>")).is_err());
    assert!(check_balanced(&page("<p><div data-question=\"1\"></div></p>")).is_err());
    assert!(check_balanced(&page("<div data-question=\"1\" data-kind=\"none\"></div>")).is_ok());
    assert!(check_balanced(&page("a < b")).is_err());
}

/// Lines a survey is made of: the dialect's constructs, markdown around them, raw HTML, and
/// the broken pieces of each.
fn survey_line() -> impl Strategy<Value = String> {
    let fixed = prop::sample::select(vec![
        "",
        "",
        "",
        "---",
        "***",
        "### Question",
        "### *Q* `x`",
        "## Part",
        "#### Sub",
        "Text with *em* and **strong** and ~~del~~",
        "* choice",
        "- other",
        "1. first",
        "2) second",
        "   nested line",
        "  * nested",
        "    indented code",
        "| | a | b |",
        "|---|---|:-:|",
        "| x | [] | !shown |",
        "| y | [ ] |",
        "| z | | | extra |",
        "|a|",
        "> {rows: 3}",
        "> {upload: true, placeholder: 'p'}",
        "> {name: \"n\", placeholder: '<b>'}",
        "> {rows: ",
        "> }",
        "> plain quote",
        "> > {nested: 1}",
        ">",
        "> * in quote",
        "```none",
        "```js",
        "```",
        "~~~none",
        "<div>",
        "</div>",
        "<table>",
        "</td>",
        "<b>bold</b>",
        "<!-- c -->",
        "<img src=x>",
        "<script>alert(1)</script>",
        "[link](http://x \"t\")",
        "![img](i.png)",
        "[ref]: /u",
        "Setext",
        "===",
        "\\",
        "&amp; &#1; &bogus;",
        "{",
        "}",
        "{NumberQuestions: true}",
        "  ",
    ])
    .prop_map(str::to_string);
    prop_oneof![4 => fixed, 1 => "[ -~]{0,40}"]
}

fn survey() -> impl Strategy<Value = String> {
    let header = prop::sample::select(vec![
        "{}",
        "{NumberQuestions: true}",
        "{\nNumberQuestions: false,\n}",
        "[1]",
        "{x",
        "",
    ]);
    (header, prop::collection::vec(survey_line(), 0..40)).prop_map(|(header, lines)| {
        let mut s = format!("{header}\n---\n");
        for line in lines {
            s.push_str(&line);
            s.push('\n');
        }
        s
    })
}

/// Renders with uploads on and off: both answer alike, and each answer is balanced and, when
/// an error, on a line of the input.
fn check(markdown: &str) -> Result<bool, TestCaseError> {
    let on = render(markdown, &RenderOptions::default());
    let off = render(
        markdown,
        &RenderOptions {
            uploads_enabled: false,
        },
    );
    prop_assert_eq!(
        on.is_ok(),
        off.is_ok(),
        "uploads changed the answer for {:?}",
        markdown
    );
    match (on, off) {
        (Ok(on), Ok(off)) => {
            for html in [&on, &off] {
                if let Err(why) = check_balanced(html) {
                    return Err(TestCaseError::fail(format!(
                        "{why}\ninput: {markdown:?}\nhtml:\n{html}"
                    )));
                }
            }
            Ok(true)
        }
        (Err(e), Err(f)) => {
            prop_assert_eq!(&e, &f);
            let lines = markdown.split('\n').count();
            prop_assert!(
                e.line() >= 1 && e.line() <= lines,
                "{} for {} lines: {:?}",
                e,
                lines,
                markdown
            );
            prop_assert!(!e.to_string().contains('\n'), "a one-line message: {}", e);
            Ok(false)
        }
        _ => unreachable!(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_text_gets_an_answer(markdown in "(?s).{0,400}") {
        check(&markdown)?;
    }

    #[test]
    fn any_text_after_a_header_gets_an_answer(body in "(?s).{0,400}") {
        check(&format!("{{}}\n---\n{body}"))?;
    }

    #[test]
    fn survey_like_text_renders_balanced(markdown in survey()) {
        check(&markdown)?;
    }
}

/// The generated surveys are not all errors: the balance property is exercised.
#[test]
fn most_generated_surveys_with_a_good_header_render() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut ok, mut total) = (0, 0);
    for _ in 0..300 {
        let markdown = survey().new_tree(&mut runner).unwrap().current();
        if markdown.starts_with("{}") {
            total += 1;
            ok += usize::from(check(&markdown).unwrap());
        }
    }
    assert!(total > 20 && ok * 4 >= total, "{ok} of {total} rendered");
}

/// Deep nesting and long runs: an answer, not a stack overflow (the JSON5 parser is only
/// reached through the depth check; pulldown-cmark and the walker do not recurse).
#[test]
fn pathological_inputs_get_an_answer() {
    let n = 20_000;
    let bodies = [
        ">".repeat(n),
        "* ".repeat(n),
        "[".repeat(n),
        "*".repeat(n) + "a" + &"*".repeat(n),
        "### Q\n".to_string() + &"> ".repeat(n) + "{}",
        "### Q\n> {a: ".to_string() + &"[".repeat(n),
        "### Q\n".to_string()
            + &"|a".repeat(n)
            + "|\n"
            + &"|-".repeat(n)
            + "|\n"
            + &"|[]".repeat(n)
            + "|\n",
        "---\n\n".repeat(n),
    ];
    for body in bodies {
        let markdown = format!("{{}}\n---\n{body}\n");
        if let Ok(html) = render(&markdown, &RenderOptions::default()) {
            check_balanced(&html).unwrap_or_else(|why| panic!("{why}: {}", &body[..40]));
        }
    }
}
