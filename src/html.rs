//! Escaping text for HTML and SVG, where the server writes markup by hand rather than through
//! a template (search snippets, the dashboard chart, the tutor's streamed replies).

/// Appends `text` to `out` with `& < > " '` escaped, safe in an element or a quoted attribute.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// `text` escaped as [`escape_into`] does.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_characters_are_escaped() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
        let mut out = String::from("<mark>");
        escape_into("x & y", &mut out);
        assert_eq!(out, "<mark>x &amp; y");
    }
}
