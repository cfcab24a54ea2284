//! Lesson and note Markdown to HTML that is safe to put in a page: pulldown-cmark renders,
//! ammonia keeps only harmless tags and attributes (no scripts, styles or event handlers;
//! links get `rel="noopener noreferrer"`).

use pulldown_cmark::{Options, Parser, html};

pub fn to_safe_html(markdown: &str) -> String {
    let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::clean(&unsafe_html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_markdown_and_drops_scripts_and_handlers() {
        let html = to_safe_html(
            "# Cells\n\n**Mitochondria** <script>alert(1)</script> <img src=x onerror=alert(2)> [x](javascript:alert(3))",
        );
        assert!(html.contains("<h1>Cells</h1>"));
        assert!(html.contains("<strong>Mitochondria</strong>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("onerror"));
        assert!(!html.contains("javascript:"));
    }
}
