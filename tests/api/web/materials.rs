//! The web app in a browser: materials pages.

use super::browser::Browser;
use crate::db_test;
use crate::helpers::PASSWORD;

/// A ready material of another student, written straight to the database.
async fn someone_elses_note(app: &crate::helpers::TestApp) -> uuid::Uuid {
    let other = app.student().await;
    let txn = app.state.db.begin_write().await.unwrap();
    let id = studium::materials::search::insert_text_material(
        &txn,
        &app.state.ai,
        other.id.parse().unwrap(),
        None,
        "Private mitochondria notes",
        "Mitochondria notes that belong to somebody else.",
        app.clock.now(),
    )
    .await
    .expect("inserting a material");
    txn.commit().await.unwrap();
    id
}

db_test!(upload_a_note_see_it_get_ready_find_and_delete_it, |app| {
    let theirs = someone_elses_note(&app).await;
    let b = Browser::open(&app).await;
    let email = app.unique_email("notes");
    b.sign_up("Nora Notes", &email, PASSWORD).await;
    b.goto("/materials").await;
    b.find("#no-materials").await;

    // A file of the wrong type is refused beside the file field, and nothing is listed.
    let dir = tempfile::tempdir().unwrap();
    let picture = dir.path().join("photo.png");
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend_from_slice(&[0u8; 256]);
    std::fs::write(&picture, png).unwrap();
    b.find("#file")
        .await
        .send_keys(picture.to_str().unwrap())
        .await
        .expect("choosing a file");
    b.click("#upload-form button[type=submit]").await;
    b.wait_for_text("#file-error", "PDF").await;
    let invalid = b.find("#file").await.attr("aria-invalid").await.unwrap();
    assert_eq!(invalid.as_deref(), Some("true"));
    b.find("#no-materials").await;

    // A Markdown note is uploaded, and its row turns ready by itself.
    let note = dir.path().join("cell-biology.md");
    std::fs::write(
        &note,
        "# Cell biology\n\nThe mitochondria is the powerhouse of the cell: it makes ATP by \
         cellular respiration. Ribosomes build proteins from amino acids.\n",
    )
    .unwrap();
    b.find("#file")
        .await
        .send_keys(note.to_str().unwrap())
        .await
        .expect("choosing a file");
    b.click("#upload-form button[type=submit]").await;
    b.wait_for_text("#materials-area .alert-ok", "was uploaded")
        .await;
    assert!(
        b.js("return document.querySelector('#file-error') === null")
            .await
            .as_bool()
            .unwrap()
    );
    b.wait_for_text("#materials-list", "Ready").await;
    let row = b.find("#materials-list li").await;
    assert_eq!(
        row.attr("hx-trigger").await.unwrap(),
        None,
        "a ready row stops polling"
    );
    b.check("matsoc-materials").await;

    // The details: status, chunks, the download for the cookie user.
    b.click("#materials-list a.material-title").await;
    b.wait_for_text("#material-status", "Ready").await;
    let chunks: i64 = b.text("#chunk-count").await.trim().parse().unwrap();
    assert!(chunks >= 1);
    let href = b
        .find("#download")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let body = b
        .js(&format!(
            "return fetch('{href}').then(r => r.status + ' ' + r.headers.get('content-disposition')).then(s => s)"
        ))
        .await;
    let body = body.as_str().unwrap().to_string();
    assert!(
        body.starts_with("200 attachment") && body.contains("cell-biology.md"),
        "{body}"
    );
    let text = b
        .js(&format!("return fetch('{href}').then(r => r.text())"))
        .await;
    assert!(text.as_str().unwrap().contains("powerhouse"));
    b.check("matsoc-material-detail").await;
    let detail_path = b.path().await;

    // Search: the hit names the note and its section, and marks the word.
    b.goto("/materials").await;
    b.fill("q", "mitochondria").await;
    b.click(".search-form button[type=submit]").await;
    b.wait_for_path("/materials/search").await;
    let mark = b.text("#search-hits mark").await;
    assert!(mark.eq_ignore_ascii_case("mitochondria"), "{mark}");
    b.wait_for_text("#search-hits", "section 1").await;
    let hits = b.text("#search-hits").await;
    assert!(
        !hits.contains("Private"),
        "only my own notes are searched: {hits}"
    );
    b.check("matsoc-materials-search").await;

    // Someone else's note is not found on any of its pages.
    for path in ["", "/row", "/status", "/download"] {
        let status = b
            .js(&format!(
                "return fetch('/materials/{theirs}{path}').then(r => r.status)"
            ))
            .await;
        assert_eq!(status.as_i64(), Some(404), "/materials/{{id}}{path}");
    }

    // Deleting asks first, then the note is gone.
    b.goto(&detail_path).await;
    b.click("details.confirm summary").await;
    b.click("details.confirm button[type=submit]").await;
    b.wait_for_path("/materials").await;
    b.find("#no-materials").await;
    let gone = b
        .js(&format!(
            "return fetch('{detail_path}').then(r => r.status)"
        ))
        .await;
    assert_eq!(gone.as_i64(), Some(404));
});
