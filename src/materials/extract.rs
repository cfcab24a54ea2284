//! Text out of an uploaded file: PDF (pdf-extract), DOCX (the paragraphs of
//! `word/document.xml`, read with zip + quick-xml), plain text and Markdown (UTF-8).
//!
//! Every failure here is the file's fault and permanent: it comes back as [`Unreadable`] with a
//! sentence the student can act on, which becomes the material's `processing_error`. Parsers
//! of untrusted files are held on a short leash: PDF parsing runs on a blocking thread under a
//! time limit (a panic in the parser fails the file, not the worker), and a DOCX is refused
//! when it has too many entries or its text part is too large once uncompressed — declared or
//! actual — so a zip bomb fails cleanly instead of filling memory.

use std::io::{Cursor, Read};
use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::Event;

/// The kinds of file a material can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pdf,
    Docx,
    Text,
    Markdown,
}

pub const PDF: &str = "application/pdf";
pub const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
pub const TEXT: &str = "text/plain";
pub const MARKDOWN: &str = "text/markdown";

impl Kind {
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Pdf => PDF,
            Kind::Docx => DOCX,
            Kind::Text => TEXT,
            Kind::Markdown => MARKDOWN,
        }
    }

    pub fn from_content_type(content_type: &str) -> Option<Self> {
        [Kind::Pdf, Kind::Docx, Kind::Text, Kind::Markdown]
            .into_iter()
            .find(|k| k.content_type() == content_type)
    }
}

/// The most text kept from one file, in characters (about 500 pages); the rest is dropped.
pub const MAX_TEXT_CHARS: usize = 2_000_000;
/// The longest a PDF may take to parse.
pub const PDF_TIME_LIMIT: Duration = Duration::from_secs(60);
/// The most entries a DOCX archive may have.
pub const DOCX_MAX_ENTRIES: usize = 2_000;
/// The largest `word/document.xml` once uncompressed, in bytes.
pub const DOCX_MAX_XML_BYTES: u64 = 32 * 1024 * 1024;

/// Why a file's text could not be read, in words for the student.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Unreadable(pub String);

fn unreadable(message: impl Into<String>) -> Unreadable {
    Unreadable(message.into())
}

/// The text of a file of `kind`, at most [`MAX_TEXT_CHARS`] characters. An empty text is an
/// error: there is nothing to study from.
pub async fn extract(kind: Kind, bytes: Vec<u8>) -> Result<String, Unreadable> {
    let text = match kind {
        Kind::Pdf => pdf(bytes).await?,
        Kind::Docx => tokio::task::spawn_blocking(move || docx(&bytes))
            .await
            .map_err(|_| unreadable("the Word document could not be read"))??,
        Kind::Text | Kind::Markdown => {
            String::from_utf8(bytes).map_err(|_| unreadable("the file is not valid UTF-8 text"))?
        }
    };
    let text = cap_chars(text, MAX_TEXT_CHARS);
    if text.trim().is_empty() {
        return Err(match kind {
            Kind::Pdf => unreadable(
                "the PDF has no text layer (a scanned or image-only document); upload a PDF \
                 with selectable text",
            ),
            _ => unreadable("the file contains no text"),
        });
    }
    Ok(text)
}

/// `text` cut to at most `max` characters.
fn cap_chars(mut text: String, max: usize) -> String {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
    text
}

async fn pdf(bytes: Vec<u8>) -> Result<String, Unreadable> {
    let task = tokio::task::spawn_blocking(move || pdf_extract::extract_text_from_mem(&bytes));
    match tokio::time::timeout(PDF_TIME_LIMIT, task).await {
        Err(_) => Err(unreadable(format!(
            "the PDF took longer than {} seconds to read",
            PDF_TIME_LIMIT.as_secs()
        ))),
        Ok(Err(_panicked)) => Err(unreadable(
            "the PDF could not be read (it is damaged or uses features the reader does not \
             support)",
        )),
        Ok(Ok(Err(e))) => {
            tracing::info!(error = %e, "a PDF could not be parsed");
            Err(unreadable(
                "the PDF could not be read (it is damaged, encrypted or not a PDF)",
            ))
        }
        Ok(Ok(Ok(text))) => Ok(text),
    }
}

/// The paragraphs of a DOCX, one per line.
fn docx(bytes: &[u8]) -> Result<String, Unreadable> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|_| unreadable("the Word document is not a valid ZIP archive"))?;
    if archive.len() > DOCX_MAX_ENTRIES {
        return Err(unreadable(format!(
            "the Word document has {} parts; at most {DOCX_MAX_ENTRIES} are accepted",
            archive.len()
        )));
    }
    let too_large = || {
        unreadable(format!(
            "the Word document's text is larger than {} MiB once uncompressed",
            DOCX_MAX_XML_BYTES / (1024 * 1024)
        ))
    };
    let mut entry = archive
        .by_name("word/document.xml")
        .map_err(|_| unreadable("not a Word document (it has no word/document.xml)"))?;
    if entry.size() > DOCX_MAX_XML_BYTES {
        return Err(too_large());
    }
    // The declared size may lie: read one byte past the limit to find out.
    let mut xml = Vec::new();
    (&mut entry)
        .take(DOCX_MAX_XML_BYTES + 1)
        .read_to_end(&mut xml)
        .map_err(|_| unreadable("the Word document is damaged"))?;
    if xml.len() as u64 > DOCX_MAX_XML_BYTES {
        return Err(too_large());
    }
    docx_paragraphs(&xml)
}

/// The text of WordprocessingML: `w:t` runs, paragraphs (`w:p`) as lines, `w:tab` and
/// `w:br` as a tab and a line break.
fn docx_paragraphs(xml: &[u8]) -> Result<String, Unreadable> {
    let damaged = |_| unreadable("the Word document's text is not well-formed XML");
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut out = String::new();
    let mut in_text = false;
    loop {
        match reader.read_event_into(&mut buf).map_err(damaged)? {
            Event::Start(e) if e.local_name().as_ref() == b"t" => in_text = true,
            Event::Empty(e) => match e.local_name().as_ref() {
                b"tab" => out.push('\t'),
                b"br" | b"cr" => out.push('\n'),
                b"p" => out.push('\n'),
                _ => {}
            },
            Event::End(e) => match e.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => out.push('\n'),
                _ => {}
            },
            Event::Text(t) if in_text => {
                out.push_str(&t.decode().map_err(|_| unreadable("bad text encoding"))?);
            }
            Event::GeneralRef(r) if in_text => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else if let Ok(name) = r.decode()
                    && let Some(s) = quick_xml::escape::resolve_predefined_entity(&name)
                {
                    out.push_str(s);
                }
            }
            Event::CData(t) if in_text => {
                out.push_str(&t.decode().map_err(|_| unreadable("bad text encoding"))?);
            }
            Event::Eof => break,
            _ => {}
        }
        if out.len() > MAX_TEXT_CHARS * 4 {
            break;
        }
        buf.clear();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_runs_tabs_and_entities_become_lines() {
        let xml = br#"<?xml version="1.0"?><w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Cells &amp; </w:t></w:r><w:r><w:t xml:space="preserve">tissues</w:t></w:r></w:p>
            <w:p><w:r><w:t>A</w:t><w:tab/><w:t>B&#233;</w:t></w:r></w:p>
            </w:body></w:document>"#;
        let text = docx_paragraphs(xml).unwrap();
        assert_eq!(text, "Cells & tissues\nA\tBé\n");
    }

    #[test]
    fn text_is_capped_on_a_character_boundary() {
        assert_eq!(cap_chars("héllo".into(), 2), "hé");
        assert_eq!(cap_chars("hi".into(), 5), "hi");
    }
}
