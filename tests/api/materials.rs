//! Materials: uploads into the object store, their processing into embedded chunks, download
//! and deletion. The files (PDF, DOCX, a zip bomb) are generated here; the S3 test runs a real
//! S3-compatible server (moto) on loopback.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::Value;
use studium::entity::{ai_usage_logs, jobs, material_chunks};
use uuid::Uuid;

use crate::db_test;
use crate::helpers::{Backend, Resp, TestApp, TestUser, read};

const BOUNDARY: &str = "studium-test-boundary-7d1c";

/// A `multipart/form-data` body: the file (when given) and text fields.
fn form(file: Option<(&str, &[u8])>, fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        write!(
            body,
            "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        )
        .unwrap();
    }
    if let Some((file_name, bytes)) = file {
        write!(
            body,
            "--{BOUNDARY}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{file_name}\"\r\ncontent-type: application/octet-stream\r\n\r\n"
        )
        .unwrap();
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    write!(body, "--{BOUNDARY}--\r\n").unwrap();
    body
}

async fn send_form(app: &TestApp, token: &str, body: Vec<u8>) -> Resp {
    let res = app
        .client
        .post(app.url("/materials"))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .expect("upload");
    read(res).await
}

pub(crate) async fn upload(app: &TestApp, user: &TestUser, file_name: &str, bytes: &[u8]) -> Resp {
    send_form(app, &user.access, form(Some((file_name, bytes)), &[])).await
}

/// Uploads a file that must be accepted; returns its id.
async fn upload_ok(app: &TestApp, user: &TestUser, file_name: &str, bytes: &[u8]) -> String {
    let res = upload(app, user, file_name, bytes).await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    assert_eq!(res.body["processing_status"], "pending");
    res.body["id"].as_str().unwrap().to_string()
}

/// Waits (polling every 20 ms, up to 30 s) for the job queue's worker to finish the material's
/// processing — `ready` or `failed` — and returns its view.
async fn process(app: &TestApp, user: &TestUser, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let res = app
            .get(&format!("/materials/{id}"), Some(&user.access))
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        let status = res.body["processing_status"].as_str().unwrap_or_default();
        if status == "ready" || status == "failed" {
            return res.body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "material {id} was never processed: {}",
            res.text
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The material's processing job.
async fn job_of(app: &TestApp, id: &str) -> jobs::Model {
    jobs::Entity::find()
        .filter(jobs::Column::UniqueKey.eq(format!("material.process:{id}")))
        .order_by_desc(jobs::Column::CreatedAt)
        .one(app.state.db.read())
        .await
        .unwrap()
        .expect("a processing job is queued with the material")
}

async fn chunks_of(app: &TestApp, id: &str) -> Vec<material_chunks::Model> {
    material_chunks::Entity::find()
        .filter(material_chunks::Column::MaterialId.eq(id.parse::<Uuid>().unwrap()))
        .order_by_asc(material_chunks::Column::ChunkIndex)
        .all(app.state.db.read())
        .await
        .unwrap()
}

/// Files in the local upload directory (finished or partial).
fn stored_files(app: &TestApp) -> usize {
    fn walk(dir: &Path) -> usize {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        entries
            .flatten()
            .map(|e| {
                let path = e.path();
                if path.is_dir() { walk(&path) } else { 1 }
            })
            .sum()
    }
    walk(Path::new(&app.state.config.storage_url))
}

/// A PDF with `pages` pages of text lines (Courier, one of the standard fonts).
fn text_pdf(pages: &[Vec<String>]) -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Courier",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    for lines in pages {
        let mut ops = vec![
            Operation::new("BT", vec![]),
            Operation::new("Tf", vec!["F1".into(), 10.into()]),
            Operation::new("TL", vec![12.into()]),
            Operation::new("Td", vec![40.into(), 800.into()]),
        ];
        for line in lines {
            ops.push(Operation::new(
                "Tj",
                vec![Object::string_literal(line.as_str())],
            ));
            ops.push(Operation::new("T*", vec![]));
        }
        ops.push(Operation::new("ET", vec![]));
        let content = Content { operations: ops };
        let content_id = doc.add_object(Stream::new(dictionary! {}, content.encode().unwrap()));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
        });
        kids.push(page_id.into());
    }
    let count = kids.len() as i64;
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => kids, "Count" => count,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A PDF whose one page only paints a rectangle: no text layer.
fn image_only_pdf() -> Vec<u8> {
    use lopdf::content::{Content, Operation};
    use lopdf::{Document, Object, Stream, dictionary};
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let ops = vec![
        Operation::new("re", vec![50.into(), 50.into(), 400.into(), 600.into()]),
        Operation::new("f", vec![]),
    ];
    let content_id = doc.add_object(Stream::new(
        dictionary! {},
        Content { operations: ops }.encode().unwrap(),
    ));
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page", "Parent" => pages_id, "Contents" => content_id,
    });
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! {
            "Type" => "Pages", "Kids" => vec![page_id.into()], "Count" => 1,
            "MediaBox" => vec![0.into(), 0.into(), 595.into(), 842.into()],
        }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    let mut out = Vec::new();
    doc.save_to(&mut out).unwrap();
    out
}

/// A DOCX whose `word/document.xml` is `document_xml`.
fn docx(document_xml: &[u8]) -> Vec<u8> {
    use zip::write::SimpleFileOptions;
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(
        br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
    )
    .unwrap();
    zip.start_file("_rels/.rels", options).unwrap();
    zip.write_all(br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>"#).unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(document_xml).unwrap();
    zip.finish().unwrap().into_inner()
}

fn docx_paragraphs(paragraphs: &[&str]) -> Vec<u8> {
    let body: String = paragraphs
        .iter()
        .map(|p| format!("<w:p><w:r><w:t>{p}</w:t></w:r></w:p>"))
        .collect();
    docx(format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>{body}</w:body></w:document>"#
    ).as_bytes())
}

const NOTES: &str = "# Cell biology\n\nThe mitochondria is the powerhouse of the cell. It turns \
    glucose and oxygen into ATP through cellular respiration.\n\n## Photosynthesis\n\nChloroplasts \
    capture light energy and store it as glucose.\n";

db_test!(
    an_uploaded_markdown_file_is_processed_into_embedded_chunks,
    |app| {
        let ada = app.student().await;
        let long = format!(
            "{NOTES}\n{}",
            "Osmosis moves water across membranes. ".repeat(300)
        );
        let res = upload(&app, &ada, "cells.md", long.as_bytes()).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        assert_eq!(res.body["content_type"], "text/markdown");
        assert_eq!(res.body["file_name"], "cells.md");
        assert_eq!(res.body["title"], "cells.md");
        assert_eq!(res.body["file_size"], long.len());
        assert_eq!(res.body["chunk_count"], 0);
        assert!(
            res.body.get("s3_url").is_none(),
            "the storage key stays internal"
        );
        let id = res.body["id"].as_str().unwrap().to_string();
        assert_eq!(stored_files(&app), 1);

        let view = process(&app, &ada, &id).await;
        assert_eq!(view["processing_status"], "ready", "{view}");
        assert!(view["processing_error"].is_null());
        let chunks = chunks_of(&app, &id).await;
        assert!(chunks.len() >= 3, "{}", chunks.len());
        assert_eq!(view["chunk_count"], chunks.len());
        assert!(chunks[0].chunk_text.starts_with("# Cell biology"));
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.chunk_index, i as i32);
            assert!(
                c.token_count > 0 && c.token_count <= 400,
                "{}",
                c.token_count
            );
            let bytes = c.embedding_vector.as_ref().expect("embedded");
            let dim = c.embedding_dim.expect("dimension");
            assert_eq!(bytes.len(), dim as usize * 4);
            assert_eq!(
                c.embedding_model.as_deref(),
                Some(app.state.ai.embedding_model())
            );
            let v: Vec<f32> = bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            assert!(v.iter().all(|x| x.is_finite()) && v.iter().any(|x| *x != 0.0));
        }
        // The embedding calls are logged against the `material` allowance.
        let logged = ai_usage_logs::Entity::find()
            .filter(ai_usage_logs::Column::FeatureType.eq("material"))
            .filter(ai_usage_logs::Column::RequestStatus.eq("success"))
            .count(app.state.db.read())
            .await
            .unwrap();
        assert!(logged >= 1);

        let list = app.get("/materials", Some(&ada.access)).await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(list.body["items"][0]["id"], id.as_str());
        assert_eq!(list.body["items"][0]["chunk_count"], chunks.len());
    }
);

db_test!(
    a_pdf_is_read_and_an_image_only_pdf_fails_for_lack_of_a_text_layer,
    |app| {
        let ada = app.student().await;
        let pdf = text_pdf(&[vec![
            "Photosynthesis turns light into chemical energy.".into(),
            "Chlorophyll absorbs red and blue light.".into(),
        ]]);
        let id = upload_ok(&app, &ada, "leaves.pdf", &pdf).await;
        let view = process(&app, &ada, &id).await;
        assert_eq!(view["content_type"], "application/pdf");
        assert_eq!(view["processing_status"], "ready", "{view}");
        let chunks = chunks_of(&app, &id).await;
        assert!(
            chunks[0].chunk_text.contains("Chlorophyll absorbs red"),
            "{}",
            chunks[0].chunk_text
        );

        let id = upload_ok(&app, &ada, "scan.pdf", &image_only_pdf()).await;
        let view = process(&app, &ada, &id).await;
        assert_eq!(view["processing_status"], "failed", "{view}");
        assert!(
            view["processing_error"]
                .as_str()
                .unwrap()
                .contains("the PDF has no text layer"),
            "{view}"
        );
        assert_eq!(view["chunk_count"], 0);
    }
);

db_test!(a_huge_text_pdf_is_ingested_within_the_chunk_limits, |app| {
    let ada = app.student().await;
    let pages: Vec<Vec<String>> = (0..100)
        .map(|p| {
            (0..60)
                .map(|l| {
                    format!("Page {p} line {l}: enzymes lower the activation energy of reactions.")
                })
                .collect()
        })
        .collect();
    let pdf = text_pdf(&pages);
    let id = upload_ok(&app, &ada, "textbook.pdf", &pdf).await;
    let started = Instant::now();
    let view = process(&app, &ada, &id).await;
    let took = started.elapsed();
    eprintln!(
        "ingest of a 100-page PDF ({} KiB) on {:?}: {took:?}",
        pdf.len() / 1024,
        app.backend
    );
    assert_eq!(view["processing_status"], "ready", "{view}");
    let chunks = chunks_of(&app, &id).await;
    assert!(chunks.len() > 50, "{}", chunks.len());
    assert!(chunks.iter().all(|c| c.token_count <= 400));
    assert!(chunks.last().unwrap().chunk_text.contains("Page 99"));
});

db_test!(a_docx_is_read_and_a_zip_bomb_fails_cleanly, |app| {
    let ada = app.student().await;
    let doc = docx_paragraphs(&["Newton's first law: inertia.", "F = m &amp; a"]);
    let id = upload_ok(&app, &ada, "physics.docx", &doc).await;
    let view = process(&app, &ada, &id).await;
    assert_eq!(
        view["content_type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    assert_eq!(view["processing_status"], "ready", "{view}");
    let chunks = chunks_of(&app, &id).await;
    assert_eq!(
        chunks[0].chunk_text,
        "Newton's first law: inertia.\nF = m & a"
    );

    // 48 MiB of XML that compresses to a few dozen KiB.
    let mut bomb_xml = b"<w:document xmlns:w=\"x\"><w:body><w:p><w:r><w:t>".to_vec();
    bomb_xml.resize(48 * 1024 * 1024, b'a');
    let bomb = docx(&bomb_xml);
    assert!(bomb.len() < 1024 * 1024, "{}", bomb.len());
    let id = upload_ok(&app, &ada, "bomb.docx", &bomb).await;
    let view = process(&app, &ada, &id).await;
    assert_eq!(view["processing_status"], "failed", "{view}");
    let error = view["processing_error"].as_str().unwrap();
    assert!(
        error.contains("larger than 32 MiB once uncompressed"),
        "{error}"
    );

    let id = upload_ok(&app, &ada, "other.docx", &docx_paragraphs(&[])).await;
    let view = process(&app, &ada, &id).await;
    assert_eq!(view["processing_status"], "failed", "{view}");
});

db_test!(a_file_of_another_type_is_415_and_nothing_is_stored, |app| {
    let ada = app.student().await;
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    for (name, bytes) in [
        ("notes.pdf", png.to_vec()),
        ("notes.txt", vec![0u8, 1, 2, 3, 255, 254]),
        ("latin1.txt", b"caf\xe9 au lait".to_vec()),
        ("archive.docx", {
            // A zip, but no Word document.
            let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
            zip.start_file("a.bin", zip::write::SimpleFileOptions::default())
                .unwrap();
            zip.write_all(&[0u8; 64]).unwrap();
            zip.finish().unwrap().into_inner()
        }),
    ] {
        let res = upload(&app, &ada, name, &bytes).await;
        assert_eq!(
            res.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{name}: {}",
            res.text
        );
        assert!(res.is_problem());
        assert_eq!(res.problem_slug(), "unsupported-media-type");
    }
    assert_eq!(stored_files(&app), 0);
    let list = app.get("/materials", Some(&ada.access)).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
});

db_test!(
    an_oversized_file_is_413_and_nothing_is_stored,
    config = |c| {
        c.max_upload_bytes = 64 * 1024;
    },
    |app| {
        let ada = app.student().await;
        let big = "a".repeat(100 * 1024);
        let res = upload(&app, &ada, "big.txt", big.as_bytes()).await;
        assert_eq!(res.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", res.text);
        assert!(res.is_problem());
        assert_eq!(stored_files(&app), 0);
        // Exactly the limit is fine.
        let fits = "b".repeat(64 * 1024);
        upload_ok(&app, &ada, "fits.txt", fits.as_bytes()).await;
        assert_eq!(stored_files(&app), 1);
    }
);

db_test!(an_empty_file_or_a_form_without_one_is_422, |app| {
    let ada = app.student().await;
    let res = upload(&app, &ada, "empty.txt", b"").await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    assert!(res.is_problem());
    assert_eq!(res.body["errors"][0]["field"], "file");
    let res = send_form(&app, &ada.access, form(None, &[("title", "x")])).await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    let res = send_form(
        &app,
        &ada.access,
        form(
            Some(("a.txt", b"hello")),
            &[("topic_id", &Uuid::now_v7().to_string())],
        ),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", res.text);
    assert_eq!(res.body["errors"][0]["field"], "topic_id");
    let res = app
        .post("/materials", Some(&ada.access), serde_json::json!({}))
        .await;
    assert_eq!(res.status, StatusCode::BAD_REQUEST, "{}", res.text);
    assert!(res.is_problem());
    assert_eq!(stored_files(&app), 0);
});

db_test!(
    a_file_name_with_paths_and_control_characters_is_cleaned_and_downloaded_safely,
    |app| {
        let ada = app.student().await;
        let name = "../../etc/Zell\tbio (Teil 1) é.md";
        let res = upload(&app, &ada, name, NOTES.as_bytes()).await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        assert_eq!(res.body["file_name"], "Zellbio (Teil 1) é.md");
        let id = res.body["id"].as_str().unwrap();
        // The key in the store is generated: nothing of the name is in any path.
        let key = studium::entity::materials::Entity::find_by_id(id.parse::<Uuid>().unwrap())
            .one(app.state.db.read())
            .await
            .unwrap()
            .unwrap()
            .s3_url;
        assert!(key.starts_with(&format!("materials/{}/", ada.id)), "{key}");
        assert!(!key.contains("Zell") && !key.contains(".."));

        let res = app
            .client
            .get(app.url(&format!("/materials/{id}/content")))
            .bearer_auth(&ada.access)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let headers = res.headers().clone();
        assert_eq!(headers["content-type"], "text/markdown");
        assert_eq!(headers["content-length"], NOTES.len().to_string().as_str());
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"Zellbio (Teil 1) _.md\"; filename*=UTF-8''Zellbio%20%28Teil%201%29%20%C3%A9.md"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(res.bytes().await.unwrap().as_ref(), NOTES.as_bytes());
    }
);

db_test!(deleting_a_material_removes_its_object_and_chunks, |app| {
    let ada = app.student().await;
    let id = upload_ok(&app, &ada, "cells.md", NOTES.as_bytes()).await;
    let keep = upload_ok(&app, &ada, "keep.md", NOTES.as_bytes()).await;
    assert_eq!(process(&app, &ada, &id).await["processing_status"], "ready");
    assert!(!chunks_of(&app, &id).await.is_empty());
    assert_eq!(stored_files(&app), 2);

    let res = app
        .delete(&format!("/materials/{id}"), Some(&ada.access))
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    assert_eq!(stored_files(&app), 1);
    assert!(chunks_of(&app, &id).await.is_empty());
    let res = app
        .get(&format!("/materials/{id}"), Some(&ada.access))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .delete(&format!("/materials/{id}"), Some(&ada.access))
        .await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    let res = app
        .get(&format!("/materials/{keep}"), Some(&ada.access))
        .await;
    assert_eq!(res.status, StatusCode::OK);
});

db_test!(deleting_the_account_deletes_its_files, |app| {
    let ada = app.student().await;
    let bob = app.student().await;
    upload_ok(&app, &ada, "a.md", NOTES.as_bytes()).await;
    upload_ok(&app, &ada, "b.txt", b"plain notes").await;
    let bobs = upload_ok(&app, &bob, "c.txt", b"bob's notes").await;
    assert_eq!(stored_files(&app), 3);
    let res = app.delete("/me", Some(&ada.access)).await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    // Only the other student's file is left, intact.
    assert_eq!(stored_files(&app), 1);
    let res = app
        .get(&format!("/materials/{bobs}/content"), Some(&bob.access))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text);
    assert_eq!(res.text, "bob's notes");
});

db_test!(
    the_storage_quota_holds_under_parallel_uploads,
    config = |c| {
        c.plan_free_storage_bytes = 100 * 1024;
    },
    |app| {
        let ada = app.student().await;
        let file = vec![b'x'; 30 * 1024];
        let uploads = (0..4).map(|i| {
            let app = app.clone();
            let ada = ada.clone();
            let file = file.clone();
            tokio::spawn(async move { upload(&app, &ada, &format!("{i}.txt"), &file).await })
        });
        let mut accepted = 0;
        for res in futures::future::join_all(uploads).await {
            let res = res.unwrap();
            match res.status {
                StatusCode::ACCEPTED => accepted += 1,
                StatusCode::CONFLICT => {
                    assert!(res.is_problem());
                    assert_eq!(res.problem_slug(), "storage-quota-exceeded");
                }
                other => panic!("unexpected {other}: {}", res.text),
            }
        }
        assert_eq!(accepted, 3);
        assert_eq!(stored_files(&app), 3);
        let res = upload(&app, &ada, "more.txt", &file).await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
        assert_eq!(stored_files(&app), 3);
        // Another user has their own quota.
        let bob = app.student().await;
        upload_ok(&app, &bob, "bob.txt", &file).await;
    }
);

db_test!(
    another_users_material_is_not_found_on_every_endpoint,
    |app| {
        let ada = app.student().await;
        let eve = app.student().await;
        let id = upload_ok(&app, &ada, "cells.md", NOTES.as_bytes()).await;
        process(&app, &ada, &id).await;
        for (method, path) in [
            (reqwest::Method::GET, format!("/materials/{id}")),
            (reqwest::Method::GET, format!("/materials/{id}/content")),
            (reqwest::Method::POST, format!("/materials/{id}/reprocess")),
            (reqwest::Method::DELETE, format!("/materials/{id}")),
        ] {
            let res = app
                .request(method.clone(), &path, Some(&eve.access), None)
                .await;
            assert_eq!(
                res.status,
                StatusCode::NOT_FOUND,
                "{method} {path}: {}",
                res.text
            );
            assert!(res.is_problem());
        }
        let list = app.get("/materials", Some(&eve.access)).await;
        assert_eq!(list.body["items"].as_array().unwrap().len(), 0);
        // Still there for its owner.
        let res = app
            .get(&format!("/materials/{id}"), Some(&ada.access))
            .await;
        assert_eq!(res.status, StatusCode::OK);
        assert_eq!(stored_files(&app), 1);
    }
);

db_test!(
    reprocessing_replaces_the_chunks_and_never_duplicates_them,
    |app| {
        let ada = app.student().await;
        let text = "Enzymes speed up reactions. ".repeat(200);
        let id = upload_ok(&app, &ada, "enzymes.txt", text.as_bytes()).await;
        let first = process(&app, &ada, &id).await;
        let before = chunks_of(&app, &id).await;
        assert!(before.len() > 1);
        // A job that runs twice finds the material done and changes nothing.
        let again = process(&app, &ada, &id).await;
        assert_eq!(again["chunk_count"], first["chunk_count"]);

        for _ in 0..2 {
            let res = app
                .request(
                    reqwest::Method::POST,
                    &format!("/materials/{id}/reprocess"),
                    Some(&ada.access),
                    None,
                )
                .await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
            assert_eq!(res.body["processing_status"], "pending");
            let view = process(&app, &ada, &id).await;
            assert_eq!(view["processing_status"], "ready");
            let after = chunks_of(&app, &id).await;
            assert_eq!(after.len(), before.len());
            assert_eq!(
                after.iter().map(|c| &c.chunk_text).collect::<Vec<_>>(),
                before.iter().map(|c| &c.chunk_text).collect::<Vec<_>>()
            );
            assert!(after.iter().zip(&before).all(|(a, b)| a.id != b.id));
        }
    }
);

db_test!(materials_are_listed_by_page_and_by_topic, |app| {
    let ada = app.student().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(upload_ok(&app, &ada, &format!("{i}.txt"), b"notes").await);
    }
    let page = app.get("/materials?limit=2", Some(&ada.access)).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert_eq!(page.body["items"][0]["id"], ids[2].as_str());
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let next = app
        .get(
            &format!("/materials?limit=2&cursor={cursor}"),
            Some(&ada.access),
        )
        .await;
    assert_eq!(next.body["items"][0]["id"], ids[0].as_str());
    assert!(next.body["next_cursor"].is_null());
    let none = app
        .get(
            &format!("/materials?topic_id={}", Uuid::now_v7()),
            Some(&ada.access),
        )
        .await;
    assert_eq!(none.body["items"].as_array().unwrap().len(), 0);
    let bad = app.get("/materials?limit=0", Some(&ada.access)).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
});

// --- S3: a real S3-compatible server (moto) on loopback ---------------------------------------

/// Where `.ci/s3-server install` puts moto's server.
fn moto_server_bin() -> std::path::PathBuf {
    let venv = std::env::var("STUDIUM_TEST_MOTO_VENV")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            format!(
                "{}/.cache/studium-moto",
                std::env::var("HOME").unwrap_or_default()
            )
        });
    Path::new(&venv).join("bin").join("moto_server")
}

/// A moto server on a free loopback port with an empty bucket; stopped when dropped.
struct S3Server {
    endpoint: String,
    _child: tokio::process::Child,
}

const BUCKET: &str = "studium-test";

async fn start_s3() -> S3Server {
    let bin = moto_server_bin();
    assert!(
        bin.exists(),
        "the S3 test needs moto's server at {} — install it with `.ci/s3-server install` \
         (a Python venv from PyPI), or point STUDIUM_TEST_MOTO_VENV at a venv that has moto[server]",
        bin.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new(&bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting moto_server");
    let endpoint = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if client.get(format!("{endpoint}/")).send().await.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "moto_server did not start");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let res = client
        .put(format!("{endpoint}/{BUCKET}"))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "creating the bucket: {}",
        res.status()
    );
    S3Server {
        endpoint,
        _child: child,
    }
}

/// The keys in the bucket.
async fn s3_keys(endpoint: &str) -> Vec<String> {
    let xml = reqwest::get(format!("{endpoint}/{BUCKET}?list-type=2"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    xml.split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_string)
        .collect()
}

async fn uploads_go_to_s3_and_come_back(backend: Backend) {
    let s3 = start_s3().await;
    let endpoint = s3.endpoint.clone();
    crate::helpers::run(
        backend,
        move |c| {
            c.storage_url = format!("s3://{BUCKET}/uploads");
            c.s3_endpoint = Some(endpoint);
            c.s3_region = Some("us-east-1".into());
            c.s3_access_key_id = Some("studium".into());
            c.s3_secret_access_key = Some("studium-secret".into());
        },
        |app| async move {
            let endpoint = app.state.config.s3_endpoint.clone().unwrap();
            let ada = app.student().await;
            // Larger than one multipart part, so the upload really is multipart.
            let big = "Glycolysis splits glucose into pyruvate. ".repeat(200_000);
            let id = upload_ok(&app, &ada, "big.txt", big.as_bytes()).await;
            let small = upload_ok(&app, &ada, "cells.md", NOTES.as_bytes()).await;
            let keys = s3_keys(&endpoint).await;
            assert_eq!(keys.len(), 2, "{keys:?}");
            let prefix = format!("uploads/materials/{}/", ada.id);
            assert!(keys.iter().all(|k| k.starts_with(&prefix)), "{keys:?}");

            let res = app
                .client
                .get(app.url(&format!("/materials/{id}/content")))
                .bearer_auth(&ada.access)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.headers()["content-type"], "text/plain");
            assert_eq!(res.bytes().await.unwrap().as_ref(), big.as_bytes());

            let view = process(&app, &ada, &small).await;
            assert_eq!(view["processing_status"], "ready", "{view}");

            let res = app
                .delete(&format!("/materials/{id}"), Some(&ada.access))
                .await;
            assert_eq!(res.status, StatusCode::NO_CONTENT);
            assert_eq!(s3_keys(&endpoint).await.len(), 1);
            let res = app.delete("/me", Some(&ada.access)).await;
            assert_eq!(res.status, StatusCode::NO_CONTENT);
            assert!(s3_keys(&endpoint).await.is_empty());
        },
    )
    .await;
}

crate::backend_test!(
    uploads_go_to_s3_and_come_back_on_s3,
    uploads_go_to_s3_and_come_back
);

// --- Processing through a hosted provider (the fake OpenAI-compatible server) ------------------

async fn an_ai_outage_leaves_the_material_pending_and_a_retry_finishes_it(backend: Backend) {
    use crate::fake_openai::Reply;
    // Three failures: the first call and its two retries.
    let replies = vec![
        Reply::Error(503, None),
        Reply::Error(503, None),
        Reply::Error(503, None),
        Reply::Json(serde_json::json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25, 1.0]}],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 7, "total_tokens": 7}
        })),
    ];
    let (fake, base_url) = crate::fake_openai::start(replies).await;
    crate::helpers::run(
        backend,
        move |c| crate::fake_openai::configure_for(c, &base_url),
        move |app| async move {
            let ada = app.student().await;
            let id = upload_ok(&app, &ada, "short.txt", b"Ribosomes build proteins.").await;
            // The worker's first try meets the outage: the job waits for its retry, the
            // material is still pending and has no chunks.
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            let job = loop {
                let job = job_of(&app, &id).await;
                if job.status == "queued" && job.attempts == 1 {
                    break job;
                }
                assert!(tokio::time::Instant::now() < deadline, "{job:?}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            };
            assert!(job.last_error.is_some(), "{job:?}");
            let res = app
                .get(&format!("/materials/{id}"), Some(&ada.access))
                .await;
            assert_eq!(res.body["processing_status"], "pending", "{}", res.text);
            assert!(chunks_of(&app, &id).await.is_empty());
            // Still waiting for its retry: a second request for processing is refused.
            let res = app
                .request(
                    reqwest::Method::POST,
                    &format!("/materials/{id}/reprocess"),
                    Some(&ada.access),
                    None,
                )
                .await;
            assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);

            // Past the backoff, the retry finishes it.
            app.set_time(job.run_at);
            let view = process(&app, &ada, &id).await;
            assert_eq!(view["processing_status"], "ready", "{view}");
            let chunks = chunks_of(&app, &id).await;
            assert_eq!(chunks.len(), 1);
            let c = &chunks[0];
            assert_eq!(c.embedding_model.as_deref(), Some("text-embedding-3-small"));
            assert_eq!(c.embedding_dim, Some(3));
            let expected: Vec<u8> = [0.5f32, -0.25, 1.0]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            assert_eq!(c.embedding_vector.as_deref(), Some(expected.as_slice()));
            let embedded = fake
                .requests()
                .iter()
                .filter(|(path, _, _)| path.ends_with("/embeddings"))
                .count();
            assert_eq!(embedded, 4);
            // One failed call (given back) and one that counted, with its tokens.
            let logs = ai_usage_logs::Entity::find()
                .filter(ai_usage_logs::Column::FeatureType.eq("material"))
                .order_by_asc(ai_usage_logs::Column::CreatedAt)
                .all(app.state.db.read())
                .await
                .unwrap();
            let statuses: Vec<&str> = logs.iter().map(|l| l.request_status.as_str()).collect();
            assert_eq!(statuses, ["error", "success"]);
            assert_eq!(logs[1].prompt_tokens, 7);
        },
    )
    .await;
}

crate::backend_test!(
    an_ai_outage_leaves_the_material_pending_and_a_retry_finishes_it_on,
    an_ai_outage_leaves_the_material_pending_and_a_retry_finishes_it
);

db_test!(
    a_used_up_ai_allowance_fails_the_material_with_a_reason,
    config = |c| {
        c.plan_free_material_per_day = 1;
    },
    |app| {
        let ada = app.student().await;
        let first = upload_ok(&app, &ada, "a.txt", b"Ribosomes build proteins.").await;
        assert_eq!(
            process(&app, &ada, &first).await["processing_status"],
            "ready"
        );
        let second = upload_ok(&app, &ada, "b.txt", b"Lysosomes digest waste.").await;
        let view = process(&app, &ada, &second).await;
        assert_eq!(view["processing_status"], "failed", "{view}");
        let error = view["processing_error"].as_str().unwrap();
        assert!(
            error.contains("AI allowance of your plan is used up"),
            "{error}"
        );
    }
);

db_test!(
    a_pro_plan_has_the_larger_storage_quota,
    config = |c| {
        c.plan_free_storage_bytes = 40 * 1024;
        c.plan_pro_storage_bytes = 100 * 1024;
    },
    |app| {
        use sea_orm::ActiveModelTrait;
        use sea_orm::ActiveValue::Set;
        let ada = app.student().await;
        let file = vec![b'x'; 30 * 1024];
        upload_ok(&app, &ada, "1.txt", &file).await;
        let res = upload(&app, &ada, "2.txt", &file).await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
        assert!(res.is_problem());

        let now = app.clock.now();
        studium::entity::subscriptions::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(ada.id.parse().unwrap()),
            plan: Set("pro".into()),
            status: Set("active".into()),
            provider: Set("manual".into()),
            provider_customer_id: Set(None),
            provider_subscription_id: Set(None),
            current_period_start: Set(Some(now - chrono::Duration::days(1))),
            current_period_end: Set(Some(now + chrono::Duration::days(29))),
            provider_event_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(app.state.db.write())
        .await
        .unwrap();
        upload_ok(&app, &ada, "2.txt", &file).await;
        upload_ok(&app, &ada, "3.txt", &file).await;
        let res = upload(&app, &ada, "4.txt", &file).await;
        assert_eq!(res.status, StatusCode::CONFLICT, "{}", res.text);
        assert_eq!(res.problem_slug(), "storage-quota-exceeded");
        assert_eq!(stored_files(&app), 3);
    }
);

async fn a_material_whose_job_gives_up_is_failed_with_the_last_error(backend: Backend) {
    // No reply queued: every embedding call is a 500, on every try.
    let (_fake, base_url) = crate::fake_openai::start(Vec::new()).await;
    crate::helpers::run(
        backend,
        move |c| {
            crate::fake_openai::configure_for(c, &base_url);
            c.job_max_attempts = 2;
        },
        move |app| async move {
            let ada = app.student().await;
            let id = upload_ok(&app, &ada, "short.txt", b"Ribosomes build proteins.").await;
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let job = job_of(&app, &id).await;
                if job.status == "dead" {
                    break;
                }
                if job.status == "queued" && job.run_at > app.clock.now() {
                    app.set_time(job.run_at);
                }
                assert!(tokio::time::Instant::now() < deadline, "{job:?}");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            let view = process(&app, &ada, &id).await;
            assert_eq!(view["processing_status"], "failed", "{view}");
            let error = view["processing_error"].as_str().unwrap();
            assert!(error.contains("after several tries"), "{error}");
            assert!(chunks_of(&app, &id).await.is_empty());
            // A reprocess starts it again.
            let res = app
                .post(
                    &format!("/materials/{id}/reprocess"),
                    Some(&ada.access),
                    serde_json::json!({}),
                )
                .await;
            assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
            assert_eq!(res.body["processing_status"], "pending");
        },
    )
    .await;
}

crate::backend_test!(
    a_material_whose_job_gives_up_is_failed_with_the_last_error_on,
    a_material_whose_job_gives_up_is_failed_with_the_last_error
);

/// The chunk ids the vector side of search finds for `text` among `user`'s materials.
async fn vector_hits(app: &TestApp, user: &TestUser, text: &str) -> Vec<Uuid> {
    use studium::materials::search::{Mode, Query, search_with};
    let (vectors, _) = app.state.ai.embed(&[text.to_string()]).await.unwrap();
    let query = Query {
        text,
        embedding: &vectors[0],
        embedding_model: app.state.ai.embedding_model(),
    };
    let user_id: Uuid = user.id.parse().unwrap();
    search_with(app.state.db.read(), user_id, query, 10, None, Mode::Vector)
        .await
        .unwrap()
        .into_iter()
        .map(|hit| hit.chunk_id)
        .collect()
}

/// A new student with one processed plain-text notes file on enzymes: the student and its id.
async fn enzyme_notes(app: &TestApp) -> (TestUser, String) {
    let ada = app.student().await;
    let text = "Enzymes speed up reactions by lowering the activation energy. ".repeat(80);
    let id = upload_ok(app, &ada, "enzymes.txt", text.as_bytes()).await;
    process(app, &ada, &id).await;
    (ada, id)
}

db_test!(vector_search_follows_reprocessing_and_deletion, |app| {
    let (ada, id) = enzyme_notes(&app).await;
    let ids = |chunks: Vec<material_chunks::Model>| -> Vec<Uuid> {
        chunks.into_iter().map(|c| c.id).collect()
    };
    let first = ids(chunks_of(&app, &id).await);
    let hits = vector_hits(&app, &ada, "activation energy of enzymes").await;
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| first.contains(h)), "{hits:?}");

    // Reprocessing gives the chunks new ids: search finds the new ones, never the old.
    let res = app
        .request(
            reqwest::Method::POST,
            &format!("/materials/{id}/reprocess"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
    process(&app, &ada, &id).await;
    let second = ids(chunks_of(&app, &id).await);
    assert!(second.iter().all(|c| !first.contains(c)));
    let hits = vector_hits(&app, &ada, "activation energy of enzymes").await;
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| second.contains(h)), "{hits:?}");

    // Another student with the same notes finds only theirs.
    let (eve, _) = enzyme_notes(&app).await;
    let hits = vector_hits(&app, &eve, "activation energy of enzymes").await;
    assert!(!hits.is_empty());
    assert!(hits.iter().all(|h| !second.contains(h)), "{hits:?}");

    // Deleted: nothing is found.
    let res = app
        .request(
            reqwest::Method::DELETE,
            &format!("/materials/{id}"),
            Some(&ada.access),
            None,
        )
        .await;
    assert_eq!(res.status, StatusCode::NO_CONTENT, "{}", res.text);
    assert!(
        vector_hits(&app, &ada, "activation energy of enzymes")
            .await
            .is_empty()
    );
});

db_test!(
    vectors_of_an_earlier_embedding_are_left_out_until_reprocessed,
    |app| {
        let (ada, id) = enzyme_notes(&app).await;
        // As processed before the offline embedding gained subwords: its vectors are not
        // comparable with today's queries, so the vector side leaves them out.
        embed_with_old_model(&app, &id).await;
        assert!(
            vector_hits(&app, &ada, "activation energy of enzymes")
                .await
                .is_empty()
        );
        // Full-text still finds the notes.
        let res = app
            .post(
                "/materials/search",
                Some(&ada.access),
                serde_json::json!({"query": "activation energy of enzymes"}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(
            res.body["items"][0]["material_id"],
            id.as_str(),
            "{}",
            res.text
        );

        // Reprocessing embeds them again with the current model.
        let res = app
            .request(
                reqwest::Method::POST,
                &format!("/materials/{id}/reprocess"),
                Some(&ada.access),
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        process(&app, &ada, &id).await;
        let chunks = chunks_of(&app, &id).await;
        assert!(
            chunks
                .iter()
                .all(|c| c.embedding_model.as_deref() == Some(app.state.ai.embedding_model()))
        );
        let hits = vector_hits(&app, &ada, "activation energy of enzymes").await;
        assert!(!hits.is_empty());
        assert!(
            hits.iter().all(|h| chunks.iter().any(|c| c.id == *h)),
            "{hits:?}"
        );
    }
);

/// Gives the chunks of material `id` the model name of an earlier embedding.
async fn embed_with_old_model(app: &TestApp, id: &str) {
    use sea_orm::sea_query::Expr;
    material_chunks::Entity::update_many()
        .col_expr(
            material_chunks::Column::EmbeddingModel,
            Expr::value("offline-lexical-256"),
        )
        .filter(material_chunks::Column::MaterialId.eq(id.parse::<Uuid>().unwrap()))
        .exec(app.state.db.write())
        .await
        .unwrap();
}

/// Waits (polling every 20 ms, up to 30 s) until every chunk of material `id` carries the
/// current embedding model, checking at each look that the material is still `ready` and
/// that full-text search for `query` still finds it. Returns its chunks.
async fn reembedded(
    app: &TestApp,
    user: &TestUser,
    id: &str,
    query: &str,
) -> Vec<material_chunks::Model> {
    let model = app.state.ai.embedding_model();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let chunks = chunks_of(app, id).await;
        if !chunks.is_empty()
            && chunks
                .iter()
                .all(|c| c.embedding_model.as_deref() == Some(model))
        {
            return chunks;
        }
        let res = app
            .get(&format!("/materials/{id}"), Some(&user.access))
            .await;
        assert_eq!(res.body["processing_status"], "ready", "{}", res.text);
        let res = app
            .post(
                "/materials/search",
                Some(&user.access),
                serde_json::json!({"query": query}),
            )
            .await;
        assert_eq!(res.status, StatusCode::OK, "{}", res.text);
        assert_eq!(res.body["items"][0]["material_id"], id, "{}", res.text);
        assert!(
            tokio::time::Instant::now() < deadline,
            "material {id} was never re-embedded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

db_test!(
    the_periodic_sweep_re_embeds_vectors_of_an_earlier_model_and_leaves_current_ones,
    |app| {
        use studium::materials::reembed;
        let (ada, stale) = enzyme_notes(&app).await;
        let volcanoes = "Volcanoes erupt when magma rises through the crust. ".repeat(40);
        let current = upload_ok(&app, &ada, "volcanoes.txt", volcanoes.as_bytes()).await;
        process(&app, &ada, &current).await;
        embed_with_old_model(&app, &stale).await;
        let old: Vec<Uuid> = chunks_of(&app, &stale).await.iter().map(|c| c.id).collect();
        let untouched: Vec<Uuid> = chunks_of(&app, &current)
            .await
            .iter()
            .map(|c| c.id)
            .collect();
        assert!(
            vector_hits(&app, &ada, "activation energy of enzymes")
                .await
                .iter()
                .all(|h| !old.contains(h))
        );

        // The sweep is a periodic job: queued once per interval, run by the worker, which
        // then runs the re-embedding it schedules.
        let every = std::time::Duration::from_secs(300);
        assert!(matches!(
            reembed::queue_sweep(&app.state, every).await.unwrap(),
            studium::jobs::Enqueued::Queued(_)
        ));
        assert_eq!(
            reembed::queue_sweep(&app.state, every).await.unwrap(),
            studium::jobs::Enqueued::Duplicate
        );
        let chunks = reembedded(&app, &ada, &stale, "activation energy of enzymes").await;
        // New chunks with new ids, found by vector search.
        assert!(chunks.iter().all(|c| !old.contains(&c.id)));
        let hits = vector_hits(&app, &ada, "activation energy of enzymes").await;
        assert!(
            chunks.iter().any(|c| Some(&c.id) == hits.first()),
            "{hits:?}"
        );
        assert!(hits.iter().all(|h| !old.contains(h)), "{hits:?}");
        let res = app
            .get(&format!("/materials/{stale}"), Some(&ada.access))
            .await;
        assert_eq!(res.body["processing_status"], "ready", "{}", res.text);
        assert!(res.body["processing_error"].is_null(), "{}", res.text);
        // The re-embedding was queued under the material's processing key, once.
        let reembeds = jobs::Entity::find()
            .filter(jobs::Column::UniqueKey.eq(format!("material.process:{stale}")))
            .all(app.state.db.read())
            .await
            .unwrap()
            .into_iter()
            .filter(|j| j.payload["reembed"] == true)
            .count();
        assert_eq!(reembeds, 1);

        // The material with current vectors was left alone, and nothing is left to do.
        let now: Vec<Uuid> = chunks_of(&app, &current)
            .await
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(now, untouched);
        assert_eq!(reembed::run_once(&app.state).await.unwrap(), 0);
        let processing_jobs = jobs::Entity::find()
            .filter(jobs::Column::UniqueKey.eq(format!("material.process:{current}")))
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(processing_jobs, 1, "only the upload's own processing");
    }
);

db_test!(
    a_reprocess_asked_while_a_re_embedding_waits_is_run_by_that_job,
    |app| {
        use studium::jobs::{NewJob, enqueue};
        let (ada, id) = enzyme_notes(&app).await;
        embed_with_old_model(&app, &id).await;
        // A re-embedding as the sweep queues it, but due only later.
        let later = app.clock.now() + chrono::Duration::minutes(1);
        let job = NewJob::new(
            "material.process",
            serde_json::json!({"material_id": id, "reembed": true}),
        )
        .unique(format!("material.process:{id}"))
        .at(later);
        enqueue(app.state.db.write(), job, app.clock.now(), 3)
            .await
            .unwrap();
        // The owner's reprocess shares its key: no second job, and the waiting one runs it.
        let res = app
            .request(
                reqwest::Method::POST,
                &format!("/materials/{id}/reprocess"),
                Some(&ada.access),
                None,
            )
            .await;
        assert_eq!(res.status, StatusCode::ACCEPTED, "{}", res.text);
        let live = jobs::Entity::find()
            .filter(jobs::Column::UniqueKey.eq(format!("material.process:{id}")))
            .filter(jobs::Column::Status.is_in(["queued", "running"]))
            .count(app.state.db.read())
            .await
            .unwrap();
        assert_eq!(live, 1);
        app.set_time(later);
        let view = process(&app, &ada, &id).await;
        assert_eq!(view["processing_status"], "ready");
        let chunks = chunks_of(&app, &id).await;
        assert!(!chunks.is_empty());
        assert!(
            chunks
                .iter()
                .all(|c| c.embedding_model.as_deref() == Some(app.state.ai.embedding_model()))
        );
    }
);

db_test!(
    a_material_that_cannot_be_re_embedded_stays_ready_with_its_old_chunks,
    |app| {
        use studium::materials::reembed;
        let (ada, id) = enzyme_notes(&app).await;
        embed_with_old_model(&app, &id).await;
        let old: Vec<Uuid> = chunks_of(&app, &id).await.iter().map(|c| c.id).collect();
        // The file has gone from the store: the chunks cannot be made again.
        let key = studium::entity::materials::Entity::find_by_id(id.parse::<Uuid>().unwrap())
            .one(app.state.db.read())
            .await
            .unwrap()
            .unwrap()
            .s3_url;
        app.state.storage.delete(&key).await.unwrap();
        assert_eq!(reembed::run_once(&app.state).await.unwrap(), 1);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let job = jobs::Entity::find()
                .filter(jobs::Column::UniqueKey.eq(format!("material.process:{id}")))
                .filter(jobs::Column::Status.is_in(["queued", "running"]))
                .count(app.state.db.read())
                .await
                .unwrap();
            if job == 0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "the job never ran");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let res = app
            .get(&format!("/materials/{id}"), Some(&ada.access))
            .await;
        assert_eq!(res.body["processing_status"], "ready", "{}", res.text);
        let error = res.body["processing_error"].as_str().unwrap_or_default();
        assert!(error.contains("missing from storage"), "{}", res.text);
        let kept: Vec<Uuid> = chunks_of(&app, &id).await.iter().map(|c| c.id).collect();
        assert_eq!(kept, old);
        let res = app
            .post(
                "/materials/search",
                Some(&ada.access),
                serde_json::json!({"query": "activation energy of enzymes"}),
            )
            .await;
        assert_eq!(
            res.body["items"][0]["material_id"],
            id.as_str(),
            "{}",
            res.text
        );
    }
);
