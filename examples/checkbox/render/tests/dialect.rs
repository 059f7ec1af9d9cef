//! The survey markdown dialect, rule by rule (docs/survey-markdown.md): each rule's input
//! and the exact HTML it makes, and every error with its line.

use checkbox_render::dialect::{DialectError, ErrorKind, RenderOptions, render};

fn html(markdown: &str) -> String {
    match render(markdown, &RenderOptions::default()) {
        Ok(html) => html,
        Err(e) => panic!("{markdown:?} should render, got: {e}"),
    }
}

fn error(markdown: &str) -> DialectError {
    match render(markdown, &RenderOptions::default()) {
        Ok(html) => panic!("{markdown:?} should fail, rendered:\n{html}"),
        Err(e) => e,
    }
}

/// The HTML between the page's opening and closing divs of a one-page survey.
fn page(body: &str) -> String {
    let out = html(&format!("{{}}\n---\n{body}"));
    let inner = out
        .strip_prefix("<div data-page=\"0\">\n")
        .and_then(|s| s.strip_suffix("</div>\n"))
        .unwrap_or_else(|| panic!("not one page:\n{out}"));
    inner.to_string()
}

// ---------------------------------------------------------------- header

#[test]
fn the_header_is_the_lines_before_the_first_dashes_and_the_body_follows() {
    assert_eq!(html("{}\n---\n"), "<div data-page=\"0\">\n</div>\n");
    assert_eq!(html("{}\n---"), "<div data-page=\"0\">\n</div>\n");
    // Several lines, comments and a blank line: one JSON5 object; the dashes line may be longer.
    let out = html("\n{\n  // options\n  NumberQuestions: true,\n}\n-----------\nHello\n");
    assert_eq!(out, "<div data-page=\"0\">\n<p>Hello</p>\n</div>\n");
}

#[test]
fn number_questions_prefixes_each_question_heading() {
    let numbered = html("{NumberQuestions: true}\n---\n### First\n### Second\n");
    assert!(numbered.contains("<h3>1. First</h3>"), "{numbered}");
    assert!(numbered.contains("<h3>2. Second</h3>"), "{numbered}");
    for header in ["{}", "{NumberQuestions: false}", "{title: 'x'}"] {
        let plain = html(&format!("{header}\n---\n### First\n"));
        assert!(plain.contains("<h3>First</h3>"), "{header}: {plain}");
    }
}

#[test]
fn numbering_counts_questions_across_pages_and_only_level_3_headings() {
    let out = html("{NumberQuestions: true}\n---\n### A\n## Part\n\n---\n\n#### Detail\n### B\n");
    assert!(out.contains("<h3>1. A</h3>\n<h2>Part</h2>\n</div>\n</div>\n<div data-page=\"1\">"));
    assert!(
        out.contains(
            "<h4>Detail</h4>\n<div data-question=\"2\" data-kind=\"none\">\n<h3>2. B</h3>"
        )
    );
}

// ---------------------------------------------------------------- pages and questions

#[test]
fn thematic_breaks_close_the_page_and_the_question_and_open_the_next() {
    let out = html("{}\n---\nIntro\n\n### Q1\ntext\n\n---\n\n### Q2\n\n***\n");
    assert_eq!(
        out,
        "<div data-page=\"0\">\n<p>Intro</p>\n\
         <div data-question=\"1\" data-kind=\"none\">\n<h3>Q1</h3>\n<p>text</p>\n</div>\n</div>\n\
         <div data-page=\"1\">\n\
         <div data-question=\"2\" data-kind=\"none\">\n<h3>Q2</h3>\n</div>\n</div>\n\
         <div data-page=\"2\">\n</div>\n"
    );
}

#[test]
fn dashes_right_under_a_paragraph_make_a_heading_not_a_page() {
    // CommonMark's setext heading: a page break needs a blank line before it.
    let out = html("{}\n---\nTitle\n---\n");
    assert_eq!(out, "<div data-page=\"0\">\n<h2>Title</h2>\n</div>\n");
}

#[test]
fn a_question_holds_what_follows_its_heading_until_the_next_question() {
    let out = page("### One\n\nSome *text*.\n\n#### Sub\n### Two\n");
    assert_eq!(
        out,
        "<div data-question=\"1\" data-kind=\"none\">\n<h3>One</h3>\n<p>Some <em>text</em>.</p>\n\
         <h4>Sub</h4>\n</div>\n<div data-question=\"2\" data-kind=\"none\">\n<h3>Two</h3>\n</div>\n"
    );
}

#[test]
fn the_kind_of_a_question_is_the_kind_of_its_last_input() {
    let out = page("### Q\n\n* a\n\n> {rows: 4}\n\n1. b\n");
    assert!(
        out.starts_with("<div data-question=\"1\" data-kind=\"singlechoice\">"),
        "{out}"
    );
    let out = page("### Q\n\n1. b\n\n> {}\n");
    assert!(
        out.starts_with("<div data-question=\"1\" data-kind=\"text\">"),
        "{out}"
    );
}

// ---------------------------------------------------------------- choice lists

#[test]
fn a_bullet_list_is_a_multiple_choice_named_by_the_question_valued_by_index() {
    let out = page("### Q\n\n* Choice A\n* Choice **B**\n");
    assert_eq!(
        out,
        "<div data-question=\"1\" data-kind=\"multichoice\">\n<h3>Q</h3>\n\
         <div class=\"checkbox\"><label><input type=\"checkbox\" name=\"1\" value=\"0\" /> Choice A</label></div>\n\
         <div class=\"checkbox\"><label><input type=\"checkbox\" name=\"1\" value=\"1\" /> Choice <strong>B</strong></label></div>\n\
         </div>\n"
    );
}

#[test]
fn a_changed_bullet_marker_starts_a_new_list_whose_values_start_again_at_0() {
    let out = page("### Q\n\n* a\n* b\n- c\n");
    assert!(out.contains("value=\"1\" /> b</label>"), "{out}");
    assert!(out.contains("value=\"0\" /> c</label>"), "{out}");
}

#[test]
fn an_ordered_list_is_a_single_choice_and_loose_items_keep_their_lines() {
    let out = page("### Q\n\n3. One\n\n   more\n4. `Two`\n");
    assert_eq!(
        out,
        "<div data-question=\"1\" data-kind=\"singlechoice\">\n<h3>Q</h3>\n\
         <div class=\"radio\"><label><input type=\"radio\" name=\"1\" value=\"0\" /> One<br />\nmore</label></div>\n\
         <div class=\"radio\"><label><input type=\"radio\" name=\"1\" value=\"1\" /> <code>Two</code></label></div>\n\
         </div>\n"
    );
}

#[test]
fn choices_of_the_second_question_carry_its_number() {
    let out = page("### A\n### B\n1. x\n");
    assert!(
        out.contains("<input type=\"radio\" name=\"2\" value=\"0\" /> x"),
        "{out}"
    );
}

#[test]
fn a_list_inside_a_blockquote_is_ordinary_markdown() {
    let out = page("> * a\n");
    assert_eq!(
        out,
        "<blockquote>\n<ul>\n<li>a</li>\n</ul>\n</blockquote>\n"
    );
}

// ---------------------------------------------------------------- rating tables

const TABLE: &str = "### Rate\n\n\
    |        | Never | Sometimes | Always |\n\
    | ------ | ----- | --------- | ------ |\n\
    | Search |       |           |        |\n\
    | Delete |       | !n/a      |        |\n";

#[test]
fn a_table_with_body_rows_is_a_single_choice_table_one_radio_group_per_row() {
    let out = page(TABLE);
    assert_eq!(
        out,
        "<div data-question=\"1\" data-kind=\"singlechoicetable\">\n<h3>Rate</h3>\n\
         <table class=\"questionTable table-bordered table-condensed\">\n<thead>\n\
         <tr><th></th><th>Never</th><th>Sometimes</th><th>Always</th></tr>\n</thead>\n<tbody>\n\
         <tr><td>Search</td><td><input type=\"radio\" name=\"1-0\" value=\"0\" /></td>\
         <td><input type=\"radio\" name=\"1-0\" value=\"1\" /></td>\
         <td><input type=\"radio\" name=\"1-0\" value=\"2\" /></td></tr>\n\
         <tr><td>Delete</td><td><input type=\"radio\" name=\"1-1\" value=\"0\" /></td>\
         <td>n/a</td>\
         <td><input type=\"radio\" name=\"1-1\" value=\"2\" /></td></tr>\n\
         </tbody>\n</table>\n</div>\n"
    );
}

#[test]
fn brackets_in_the_first_body_row_make_a_checkbox_table() {
    let out = page("### Rate\n\n| | a | b |\n|-|-|-|\n| x | [ ] | |\n| y | | |\n");
    assert!(
        out.starts_with("<div data-question=\"1\" data-kind=\"multichoicetable\">"),
        "{out}"
    );
    assert_eq!(out.matches("type=\"checkbox\"").count(), 4, "{out}");
    assert!(
        out.contains("<td>y</td><td><input type=\"checkbox\" name=\"1-1\" value=\"0\" /></td>")
    );
    // Brackets only in a later row, or in the label column, do not count.
    for body in ["| x | | |\n| y | [] | |\n", "| [] | | |\n"] {
        let out = page(&format!("### Rate\n\n| | a | b |\n|-|-|-|\n{body}"));
        assert!(
            out.contains("data-kind=\"singlechoicetable\""),
            "{body}: {out}"
        );
        assert!(!out.contains("checkbox"), "{body}: {out}");
    }
}

#[test]
fn a_bang_cell_shows_its_inline_markdown_without_the_bang() {
    let out = page("### Rate\n\n| | a |\n|-|-|\n| x | !**bold** |\n");
    assert!(
        out.contains("<td>x</td><td><strong>bold</strong></td></tr>"),
        "{out}"
    );
}

#[test]
fn short_rows_are_padded_with_inputs_and_extra_cells_dropped() {
    let out = page("### Rate\n\n| | a | b |\n|-|-|-|\n| x |\n| y | | | extra |\n");
    assert!(out.contains("<tr><td>x</td><td><input type=\"radio\" name=\"1-0\" value=\"0\" /></td><td><input type=\"radio\" name=\"1-0\" value=\"1\" /></td></tr>"), "{out}");
    assert!(!out.contains("extra"), "{out}");
}

#[test]
fn a_table_without_body_rows_is_an_ordinary_table_even_before_any_question() {
    let out = page("| a | b |\n|---|:-:|\n");
    assert_eq!(
        out,
        "<table><thead><tr><th>a</th><th style=\"text-align: center\">b</th></tr></thead><tbody>\n</tbody></table>\n"
    );
}

// ---------------------------------------------------------------- blockquote inputs

#[test]
fn a_one_line_text_input_by_default_with_name_and_placeholder() {
    assert_eq!(
        page("### Q\n> {}\n"),
        "<div data-question=\"1\" data-kind=\"text\">\n<h3>Q</h3>\n\
         <input type=\"text\" class=\"form-control\" name=\"1\" />\n</div>\n"
    );
    let out = page("### Q\n> {name: 'email', placeholder: 'you@\"example\"', rows: 1}\n");
    assert!(
        out.contains("<input type=\"text\" class=\"form-control\" name=\"email\" placeholder=\"you@&quot;example&quot;\" />\n"),
        "{out}"
    );
}

#[test]
fn rows_above_one_make_a_textarea() {
    let out = page("### Q\n> {rows: 5, placeholder: '<why?>'}\n");
    assert_eq!(
        out,
        "<div data-question=\"1\" data-kind=\"textarea\">\n<h3>Q</h3>\n\
         <textarea class=\"form-control\" name=\"1\" rows=\"5\" placeholder=\"&lt;why?&gt;\"></textarea>\n</div>\n"
    );
}

#[test]
fn a_json5_object_may_span_the_blockquote_lines() {
    let out = page("### Q\n> {\n>   rows: 3, // comment\n>   name: \"story\",\n> }\n");
    assert!(
        out.contains("<textarea class=\"form-control\" name=\"story\" rows=\"3\"></textarea>"),
        "{out}"
    );
}

#[test]
fn upload_true_makes_a_file_input() {
    let out = page("### Q\n> {upload: true, placeholder: 'Your CV', rows: 9}\n");
    assert_eq!(
        out,
        "<div data-question=\"1\" data-kind=\"fileupload\">\n<h3>Q</h3>\n\
         <p class=\"help-block\">Your CV</p>\n<input type=\"file\" name=\"1\" />\n</div>\n"
    );
    let out = page("### Q\n> {upload: false, rows: 2}\n");
    assert!(out.contains("data-kind=\"textarea\""), "{out}");
}

#[test]
fn with_uploads_off_a_file_upload_shows_a_notice_instead() {
    let off = RenderOptions {
        uploads_enabled: false,
    };
    let out = render(
        "{}\n---\n### Q\n> {upload: true}\n\n> {}\n### R\n> {upload: true}\n",
        &off,
    )
    .unwrap();
    assert!(!out.contains("type=\"file\""), "{out}");
    assert_eq!(
        out.matches("<p class=\"upload-disabled\">File uploads are turned off for now.</p>\n")
            .count(),
        2
    );
    assert!(
        out.contains("<div data-question=\"2\" data-kind=\"fileupload\">"),
        "{out}"
    );
    // Only uploads change: the text input is still there.
    assert!(
        out.contains("<input type=\"text\" class=\"form-control\" name=\"1\" />"),
        "{out}"
    );
    assert!(RenderOptions::default().uploads_enabled);
}

#[test]
fn a_blockquote_not_starting_with_a_brace_stays_a_blockquote_anywhere() {
    assert_eq!(
        page("> Just a *note*\n"),
        "<blockquote>\n<p>Just a <em>note</em></p>\n</blockquote>\n"
    );
    // A quote in a quote holding an object is a quote too.
    let out = page("### Q\n> > {rows: 2}\n");
    assert!(out.contains("data-kind=\"none\""), "{out}");
    assert!(
        out.contains("<blockquote>\n<blockquote>\n<p>{rows: 2}</p>"),
        "{out}"
    );
    let out = page("### Q\n> Note: {not an input}\n");
    assert!(out.contains("data-kind=\"none\""), "{out}");
    assert!(
        out.contains("<blockquote>\n<p>Note: {not an input}</p>\n</blockquote>\n"),
        "{out}"
    );
}

// ---------------------------------------------------------------- code blocks, raw HTML

#[test]
fn a_code_block_in_language_none_is_not_highlighted() {
    assert_eq!(
        page("```none\nif a < b {}\n```\n"),
        "<pre><code class=\"nohighlight\">if a &lt; b {}\n</code></pre>\n"
    );
    assert_eq!(
        page("```js\nx\n```\n"),
        "<pre><code class=\"language-js\">x\n</code></pre>\n"
    );
    // Inside a blockquote too.
    assert!(
        page("> ```none\n> x\n> ```\n")
            .contains("<pre><code class=\"nohighlight\">x\n</code></pre>")
    );
}

#[test]
fn raw_html_is_shown_as_text() {
    assert_eq!(
        page("a <b>bold</b> <script>x</script>\n"),
        "<p>a &lt;b&gt;bold&lt;/b&gt; &lt;script&gt;x&lt;/script&gt;</p>\n"
    );
    assert_eq!(
        page("<div>\nx\n</div>\n"),
        "<p>&lt;div&gt;\nx\n&lt;/div&gt;\n</p>\n"
    );
    let out = page("### Q\n* <img src=x onerror=alert(1)>\n");
    assert!(
        out.contains("/> &lt;img src=x onerror=alert(1)&gt;\n</label>"),
        "{out}"
    );
}

// ---------------------------------------------------------------- errors

fn assert_error(markdown: &str, line: usize, message: &str) {
    let e = error(markdown);
    assert_eq!(e.line(), line, "{e}");
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("line {line}: ")), "{shown}");
    assert!(
        shown.contains(message),
        "{shown:?} should contain {message:?}"
    );
}

#[test]
fn no_header_is_an_error_on_line_1() {
    assert_error("### Q\n* a\n", 1, "no header");
    assert_error("", 1, "no header");
    assert_error(" ---\n", 1, "no header");
    assert_eq!(error("x").kind(), &ErrorKind::NoHeader);
}

#[test]
fn an_empty_header_is_an_error() {
    assert_error("---\n### Q\n", 1, "the header is empty");
    assert_error("\n  \n---\n", 1, "the header is empty");
}

#[test]
fn a_header_that_is_not_json5_names_its_line_and_column() {
    // The comma is missing at the end of line 2: the parser stops at the next key.
    assert_error(
        "{\n  NumberQuestions: true\n  title: 'x'\n}\n---\n",
        3,
        "the header is not JSON5: column 3, near `title: 'x'` (expected comma)",
    );
    assert_error(
        "NumberQuestions: true\n---\n",
        1,
        "the header is not a JSON5 object",
    );
    assert_error(
        "{a: 1\n---\n",
        1,
        "the header is not JSON5: column 1, near `{a: 1` (EOF parsing object)",
    );
}

#[test]
fn a_header_that_is_not_an_object_is_an_error() {
    assert_error("\n[1, 2]\n---\n", 2, "the header is not a JSON5 object");
}

#[test]
fn number_questions_must_be_a_boolean() {
    assert_error(
        "{NumberQuestions: 'yes'}\n---\n",
        1,
        "header option `NumberQuestions` must be true or false",
    );
}

#[test]
fn an_input_before_the_first_question_is_an_error_on_its_line() {
    assert_error(
        "{}\n---\nIntro\n\n* a\n",
        5,
        "a bullet list (a multiple choice) before the first question",
    );
    assert_error(
        "{}\n---\n1. a\n",
        3,
        "an ordered list (a single choice) before the first question",
    );
    assert_error(
        "{}\n---\n\n| a |\n|---|\n| b |\n",
        4,
        "a table with body rows (a rating table) before the first question",
    );
    assert_error(
        "{}\n---\n\n\n> {rows: 2}\n",
        5,
        "an input block (`> {...}`) before the first question",
    );
    // The page break does not open a question either.
    assert_error(
        "{}\n---\n### Q\n\n---\n\n* a\n",
        7,
        "before the first question",
    );
}

#[test]
fn an_input_block_that_is_not_json5_names_its_line() {
    assert_error(
        "{}\n---\n### Q\n> {rows: 3,\n>  name: }\n",
        5,
        "the input block is not JSON5: column 8, near `}`",
    );
    assert_error(
        "{}\n---\n### Q\n> {rows 3}\n",
        4,
        "the input block is not JSON5",
    );
}

#[test]
fn an_unknown_or_mistyped_input_option_is_an_error() {
    assert_error(
        "{}\n---\n### Q\n\n> {rwos: 3}\n",
        5,
        "input option `rwos` is not an input option; the options are upload, rows, name, placeholder",
    );
    assert_error(
        "{}\n---\n### Q\n> {rows: 'many'}\n",
        4,
        "input option `rows` must be a whole number of at least 1",
    );
    assert_error(
        "{}\n---\n### Q\n> {rows: 0}\n",
        4,
        "input option `rows` must be a whole number",
    );
    assert_error(
        "{}\n---\n### Q\n> {rows: 2.5}\n",
        4,
        "input option `rows` must be a whole number",
    );
    assert_error(
        "{}\n---\n### Q\n> {upload: 'yes'}\n",
        4,
        "input option `upload` must be true or false",
    );
    assert_error(
        "{}\n---\n### Q\n> {placeholder: [1]}\n",
        4,
        "input option `placeholder` must be a string",
    );
    assert_error(
        "{}\n---\n### Q\n> {name: {}}\n",
        4,
        "input option `name` must be a string",
    );
    assert_error(
        "{}\n---\n### Q\n> {rows: null, size: null}\n",
        4,
        "input option `size` is not an input option",
    );
    // `rows: 3.0` is three rows; a number is a name.
    assert!(page("### Q\n> {rows: 3.0, name: 7}\n").contains("name=\"7\" rows=\"3\""));
}

#[test]
fn a_choice_holding_block_content_is_an_error_on_that_block() {
    assert_error(
        "{}\n---\n### Q\n* a\n  * nested\n",
        5,
        "a choice holds only inline text, not a bullet list",
    );
    assert_error(
        "{}\n---\n### Q\n1. a\n\n   ```\n   code\n   ```\n",
        6,
        "not a code block",
    );
    assert_error("{}\n---\n### Q\n* > quote\n", 4, "not a blockquote");
}

#[test]
fn json5_nested_too_deep_is_an_error_not_a_crash() {
    let deep = format!("{{a: {}}}\n---\n", "[".repeat(10_000));
    assert_error(&deep, 1, "JSON5 nested deeper than 32 levels");
    let deep = format!("{{}}\n---\n### Q\n> {{a: {}\n", "{".repeat(10_000));
    assert_error(&deep, 4, "nested deeper");
}

#[test]
fn error_lines_count_crlf_lines_too() {
    assert_error(
        "{}\r\n---\r\nIntro\r\n\r\n* a\r\n",
        5,
        "before the first question",
    );
}

// ---------------------------------------------------------------- the documentation

/// Every ```survey block of docs/survey-markdown.md and the ```html or ```error block that
/// follows it: (info string, survey, expected answer).
fn documented_examples(doc: &str) -> Vec<(String, String, String, String)> {
    let mut examples = Vec::new();
    let mut block: Option<(String, String, String)> = None;
    let mut survey: Option<(String, String)> = None;
    for line in doc.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        match &mut block {
            None => {
                let ticks = bare.chars().take_while(|&c| c == '`').count();
                if ticks >= 3 {
                    let (fence, info) = bare.split_at(ticks);
                    block = Some((fence.to_string(), info.to_string(), String::new()));
                }
            }
            Some((fence, _, body)) if bare != fence => body.push_str(line),
            Some(_) => {
                let (_, info, body) = block.take().unwrap();
                if info.starts_with("survey") {
                    survey = Some((info, body));
                } else if info == "html" || info == "error" {
                    let (survey_info, markdown) = survey.take().expect("an answer after a survey");
                    examples.push((survey_info, markdown, info, body));
                }
            }
        }
    }
    examples
}

#[test]
fn the_documented_examples_render_as_documented() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../docs/survey-markdown.md"
    );
    let doc = std::fs::read_to_string(path).expect("docs/survey-markdown.md");
    let examples = documented_examples(&doc);
    assert!(
        examples.len() >= 25,
        "only {} examples found",
        examples.len()
    );
    for (info, markdown, kind, expected) in examples {
        let options = RenderOptions {
            uploads_enabled: !info.contains("uploads-off"),
        };
        let answer = match render(&markdown, &options) {
            Ok(html) if kind == "html" => html,
            Err(e) if kind == "error" => format!("{e}\n"),
            other => panic!("{markdown:?}: expected {kind}, got {other:?}"),
        };
        assert_eq!(answer, expected, "the documented answer for {markdown:?}");
    }
}
