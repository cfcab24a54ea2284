//! The web app in a browser: social pages.

use reqwest::StatusCode;
use serde_json::json;

use super::browser::Browser;
use crate::db_test;
use crate::helpers::{PASSWORD, user_from};

db_test!(
    befriend_a_student_and_meet_them_on_the_friends_board,
    config = |c| {
        c.rate_limit_user_search_per_user = 2;
    },
    |app| {
        let bruno_email = app.unique_email("bruno");
        let res = app
            .register_as(&bruno_email, PASSWORD, "Bruno Friend")
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        let bruno = user_from(&res, &bruno_email);

        let b = Browser::open(&app).await;
        let email = app.unique_email("alma");
        b.sign_up("Alma Web", &email, PASSWORD).await;
        b.goto("/friends").await;
        b.find("#no-friends").await;

        // A finds B and asks.
        b.fill("q", "Bruno").await;
        b.click(".search-form button[type=submit]").await;
        b.wait_for_text("#user-results", "Bruno Friend").await;
        b.click("#user-results .add-friend").await;
        b.wait_for_text("#notice", "Friend request sent").await;
        b.wait_for_text("#outgoing", "Bruno Friend").await;

        // B accepts through the API.
        let requests = app.get("/friends/requests", Some(&bruno.access)).await;
        assert_eq!(requests.status, StatusCode::OK, "{}", requests.text);
        let id = requests.body["items"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let accepted = app
            .post(
                &format!("/friends/requests/{id}/accept"),
                Some(&bruno.access),
                json!({}),
            )
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.text);

        b.goto("/friends").await;
        b.wait_for_text("#friends-list", "Bruno Friend").await;
        b.check("matsoc-friends").await;

        // The friends board: both at 0 XP share rank 1, and my line says "You".
        b.goto("/leaderboards?period=weekly&scope=friends").await;
        let board = b.wait_for_text("#leaderboard", "Bruno Friend").await;
        assert!(board.contains("Alma Web (You)"), "{board}");
        let ranks: Vec<&str> = board
            .lines()
            .filter(|l| l.contains("Bruno") || l.contains("Alma"))
            .collect();
        assert!(ranks.iter().all(|l| l.starts_with('1')), "{board}");
        b.find("#generated-at").await;
        b.check("matsoc-leaderboards").await;
        b.click("nav[aria-label=Period] a[href*=monthly]").await;
        b.wait_for_path("/leaderboards").await;
        b.wait_for_text("#board-heading", "This month").await;
        b.wait_for_text("#my-rank", "#").await;

        // The search is rate-limited: the page says so beside the field.
        b.goto("/friends?q=Bruno").await;
        b.wait_for_text("#user-results", "Already your friend")
            .await;
        b.goto("/friends?q=Bruno").await;
        b.wait_for_text("#q-error", "Try again in").await;
    }
);

db_test!(decline_and_cancel_requests_on_the_friends_page, |app| {
    let mut people = Vec::new();
    for name in ["Carla Asks", "Dmitri Asked"] {
        let email = app.unique_email("req");
        let res = app.register_as(&email, PASSWORD, name).await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
        people.push(user_from(&res, &email));
    }
    let (carla, dmitri) = (&people[0], &people[1]);
    let b = Browser::open(&app).await;
    let email = app.unique_email("ines");
    b.sign_up("Ines Web", &email, PASSWORD).await;
    let ines = user_from(&app.login(&email, PASSWORD).await, &email);

    // Carla asks Ines; Ines asks Dmitri.
    for (from, to) in [(carla, &ines), (&ines, dmitri)] {
        let res = app
            .post(
                "/friends/requests",
                Some(&from.access),
                json!({"addressee_id": to.id}),
            )
            .await;
        assert_eq!(res.status, StatusCode::CREATED, "{}", res.text);
    }
    b.goto("/friends").await;
    b.wait_for_text("#incoming", "Carla Asks").await;
    b.wait_for_text("#outgoing", "Dmitri Asked").await;

    b.click("#incoming form[action$='/decline'] button").await;
    b.wait_for_text("#notice", "Request declined").await;
    b.click("#outgoing form[action$='/cancel'] button").await;
    b.wait_for_text("#notice", "Request cancelled").await;

    // Neither request is left, for anyone.
    for user in [carla, dmitri, &ines] {
        for direction in ["incoming", "outgoing"] {
            let res = app
                .get(
                    &format!("/friends/requests?direction={direction}"),
                    Some(&user.access),
                )
                .await;
            assert_eq!(res.status, StatusCode::OK, "{}", res.text);
            assert_eq!(res.body["items"], json!([]), "{direction}: {}", res.text);
        }
    }
});
